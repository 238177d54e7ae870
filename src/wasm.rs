//! The wasm-bindgen binding: a thin `Pool` class over the core for the JS layer.
//!
//! Hot-path calls (acquire, succeed, fail) take and return numbers only; the status
//! crosses once per call as one `Float64Array`. Absent optional numbers are NaN. Every
//! Rust error becomes a JS error here, in [`to_js`]; no input can trap the module.

use wasm_bindgen::prelude::*;

use crate::backoff::{Ladder, MAX_STEPS};
use crate::classify::{classify as classify_facts, ErrorFacts, Rules};
use crate::config::{cooldowns_from, ConfigError, Kind, Mode, ProfileSpec, Settings, Strategy};
use crate::pool::{Error, Failure, Pool};
use crate::reason::{Policy, Reason, ReasonPolicy, Schedule};
use crate::retry;
use crate::snapshot::Record;

type JsResult<T> = Result<T, JsValue>;

#[wasm_bindgen(typescript_custom_section)]
const TS_DOC: &'static str = r#"
/**
 * Layout of `Pool.status(now)`: for each profile (primaries in order, then fallbacks) a
 * header — bits 0–1 state (0 available, 1 cooldown, 2 disabled), 2–5 reason code + 1
 * (0 none), 6–10 which values follow, 11–26 inFlight — then at most
 * `STATUS_MAX_COLUMNS - 1` values: those present of cooldownUntil, errorCount, lastUsed,
 * lastFailure, lastSuccess (see `header` in src/status.rs and pkg-template/src/columns.js);
 * then five totals: available, inCooldown, disabled, unavailableReason (-1 none),
 * nextAvailableAt (NaN none).
 */
export const STATUS_MAX_COLUMNS: 6;

/**
 * After the totals, `Pool.status(now)` has the number of model-scoped rests, then
 * `PAIR_COLUMNS` numbers for each: profile index, model index (`Pool.modelName`), state
 * (1 cooldown, 2 disabled), cooldownUntil, errorCount, reason code.
 */
export const PAIR_COLUMNS: 6;

/**
 * Layout of a record in `Pool.importSnapshot` / `Pool.exportSnapshot`: errorCount,
 * lastUsed, lastFailure, lastSuccess, cooldownUntil, reason code (-1 none), updatedAt,
 * cooldownLong (0/1), cooldownStartedAt. Absent values are NaN.
 */
export const RECORD_COLUMNS: 9;
"#;

/// Maps a core error to the JS error users see: bad times and indices are `RangeError`s,
/// configuration problems are `Error`s named `ConfigError` with a `field` property.
enum Problem {
    Op(Error),
    Config(ConfigError),
    Range(String),
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem::Op(e)
    }
}

impl From<ConfigError> for Problem {
    fn from(e: ConfigError) -> Self {
        Problem::Config(e)
    }
}

fn to_js(p: Problem) -> JsValue {
    match p {
        Problem::Op(e) => js_sys::RangeError::new(&e.to_string()).into(),
        Problem::Range(msg) => js_sys::RangeError::new(&msg).into(),
        Problem::Config(e) => {
            let err = js_sys::Error::new(&e.to_string());
            err.set_name("ConfigError");
            let _ = js_sys::Reflect::set(&err, &"field".into(), &e.field.into());
            err.into()
        }
    }
}

fn lift<T>(r: Result<T, impl Into<Problem>>) -> JsResult<T> {
    r.map_err(|e| to_js(e.into()))
}

fn opt(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

fn reason(code: u8) -> JsResult<Reason> {
    Reason::from_code(code)
        .ok_or_else(|| to_js(Problem::Range(format!("reason code {code} is out of range"))))
}

/// The core pool, driven by the JS layer.
#[wasm_bindgen(js_name = Pool)]
pub struct WasmPool {
    inner: Pool,
    status: Vec<f64>,
    last: Failure,
}

#[wasm_bindgen(js_class = Pool)]
impl WasmPool {
    /// `mode`: 0 = v2, 1 = v1. Cooldowns: undefined means the default. `policy`: one
    /// byte per reason code (bit 0 rotate, bits 1–2 schedule).
    #[wasm_bindgen(constructor)]
    pub fn new(
        mode: u8,
        max_rate_limit_cooldown_ms: Option<f64>,
        billing_backoff_ms: Option<f64>,
        billing_max_ms: Option<f64>,
        failure_window_ms: Option<f64>,
        policy: &[u8],
    ) -> JsResult<WasmPool> {
        let mut settings = match mode {
            0 => Settings::v2(),
            1 => Settings::v1(),
            _ => return Err(to_js(Problem::Range(format!("mode {mode} is out of range")))),
        };
        settings.cooldowns = lift(cooldowns_from([
            max_rate_limit_cooldown_ms,
            billing_backoff_ms,
            billing_max_ms,
            failure_window_ms,
        ]))?;
        if !policy.is_empty() {
            if policy.len() != Reason::ALL.len() {
                return Err(to_js(Problem::Range("policy must have one byte per reason".into())));
            }
            let mut p = Policy::v2();
            for (r, &b) in Reason::ALL.iter().zip(policy) {
                let rp = ReasonPolicy::from_byte(b).ok_or_else(|| {
                    to_js(Problem::Config(ConfigError::new(format!("policy.{r}"), "invalid policy")))
                })?;
                p.set(*r, rp);
            }
            settings.policy = p;
        }
        debug_assert!(matches!(settings.mode, Mode::V1 | Mode::V2));
        Ok(WasmPool { inner: Pool::new(settings), status: Vec::new(), last: Failure::default() })
    }

    /// Adds a profile and returns its index. `position` is its index in the user's
    /// `profiles` (or `fallbackModels`) array, for error messages.
    #[wasm_bindgen(js_name = addProfile)]
    pub fn add_profile(
        &mut self,
        id: String,
        provider: String,
        fallback: bool,
        position: u32,
    ) -> JsResult<u32> {
        let kind = if fallback { Kind::Fallback } else { Kind::Primary };
        lift(self.inner.add_profile(&ProfileSpec { id, provider, kind }, position as usize))
    }

    /// Adds many profiles in one call: `ids` are the ids concatenated, cut by their
    /// UTF-16 lengths; `providers` the distinct provider names likewise, and `provider`
    /// each profile's index into them; `fallback` is 1 for a fallback model; `positions`
    /// are the indices in the user's arrays. Returns the index of the first one added.
    #[wasm_bindgen(js_name = addProfiles)]
    #[allow(clippy::too_many_arguments)] // one crossing for the whole configuration
    pub fn add_profiles(
        &mut self,
        ids: &str,
        id_lens: &[u16],
        providers: &str,
        provider_lens: &[u16],
        provider: &[u32],
        fallback: &[u8],
        positions: &[u32],
    ) -> JsResult<u32> {
        let n = id_lens.len();
        if provider.len() != n || fallback.len() != n || positions.len() != n {
            return Err(to_js(Problem::Range("addProfiles: arrays of different lengths".into())));
        }
        let bad = || to_js(Problem::Range("addProfiles: lengths do not match the strings".into()));
        let mut names = Utf16Cutter(providers);
        let names: Vec<&str> =
            provider_lens.iter().map(|&len| names.cut(len as u32)).collect::<Option<_>>().ok_or_else(bad)?;
        let first = self.inner.len() as u32;
        self.inner.reserve(n);
        let mut ids = Utf16Cutter(ids);
        for i in 0..n {
            let id = ids.cut(id_lens[i] as u32).ok_or_else(bad)?;
            let name = names.get(provider[i] as usize).ok_or_else(bad)?;
            let kind = if fallback[i] == 1 { Kind::Fallback } else { Kind::Primary };
            lift(self.inner.add(id, name, kind, positions[i] as usize))?;
        }
        Ok(first)
    }

    /// Configures what v1 does not have, after the profiles are added: `strategy` 0
    /// round-robin, 1 priority; `weights` one per profile in index order (empty: all 1);
    /// the ladders of the transient and long schedules: empty for v1's, `[1, step, ...]`
    /// for steps, `[2, baseMs, factor, capMs]` for base × factor with a cap (checked by the
    /// JS layer first, which names the field; a bad one here is a `RangeError`). Weight
    /// errors name the field (`profiles[2].weight`).
    pub fn configure(
        &mut self,
        strategy: u8,
        weights: &[u32],
        transient: &[f64],
        long: &[f64],
    ) -> JsResult<()> {
        let s = match strategy {
            0 => Strategy::RoundRobin,
            1 => Strategy::Priority,
            _ => return Err(to_js(Problem::Range(format!("strategy {strategy} is out of range")))),
        };
        self.inner.set_strategy(s);
        if !weights.is_empty() {
            lift(self.inner.set_weights(weights))?;
        }
        self.inner.set_ladder(Schedule::Transient, ladder(transient)?);
        self.inner.set_ladder(Schedule::Long, ladder(long)?);
        Ok(())
    }

    /// The index of a model name, interned (a `ConfigError` for an unusable name).
    #[wasm_bindgen(js_name = modelIndex)]
    pub fn model_index(&mut self, name: &str) -> JsResult<u32> {
        lift(self.inner.model_index(name))
    }

    /// Number of profiles.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Index of a provider name, -1 if no profile has it.
    #[wasm_bindgen(js_name = providerIndex)]
    pub fn provider_index(&self, provider: &str) -> i32 {
        self.inner.provider_index(provider).map_or(-1, |p| p as i32)
    }

    /// Picks a profile (its index) for a call at `now`, preferring provider index
    /// `preferred` (-1: none), for the model index `model` and with the sticky profile
    /// `sticky` (a session's) when given (see `Pool::acquire_for`); -1 when every
    /// profile is cooling down.
    pub fn acquire(
        &mut self,
        now: f64,
        preferred: i32,
        model: Option<u32>,
        sticky: Option<u32>,
    ) -> JsResult<i32> {
        let pref = u32::try_from(preferred).ok();
        let got = match (model, sticky) {
            (None, None) => self.inner.acquire(now, pref),
            _ => self.inner.acquire_for(now, pref, model, sticky),
        };
        Ok(lift(got)?.map_or(-1, |i| i as i32))
    }

    /// The rests that ended since the last call: profile, model index (2^32 − 1: the
    /// profile's own rest), profile, model, ... `track`: keep recording them (when
    /// false, nothing is recorded from now on).
    #[wasm_bindgen(js_name = takeRecovered)]
    pub fn take_recovered(&mut self, now: f64, track: bool) -> JsResult<Vec<u32>> {
        let got = lift(self.inner.take_recovered(now))?;
        self.inner.track_recoveries(track);
        Ok(got)
    }

    /// Reports a success; `lease` is the `now` of the acquire, NaN for `markSuccess`;
    /// `model` the model index the call named.
    pub fn succeed(&mut self, idx: u32, now: f64, lease: f64, model: Option<u32>) -> JsResult<()> {
        match model {
            None => lift(self.inner.succeed(idx, now, opt(lease))),
            Some(_) => lift(self.inner.succeed_for(idx, now, opt(lease), model)),
        }
    }

    /// Reports a failure of a call (that named the model index `model`). Returns the
    /// cooldown started in ms, -1 when none started, -2 when the failure was a late
    /// report of the current cooldown's incident; `lastFailure()` tells more.
    pub fn fail(
        &mut self,
        idx: u32,
        now: f64,
        reason_code: u8,
        retry_after_ms: f64,
        lease: f64,
        model: Option<u32>,
    ) -> JsResult<f64> {
        let f = lift(self.inner.fail_for(
            idx,
            now,
            reason(reason_code)?,
            opt(retry_after_ms),
            opt(lease),
            model,
        ))?;
        self.last = f;
        Ok(if f.late { -2.0 } else { f.cooldown_ms.unwrap_or(-1.0) })
    }

    /// About the last `fail`: its error count × 4, + 2 when it was widened to the
    /// profile, + 1 when it was model-scoped (the count is the pair's).
    #[wasm_bindgen(js_name = lastFailure)]
    pub fn last_failure(&self) -> f64 {
        let f = &self.last;
        f.error_count as f64 * 4.0 + (f.widened as u8 * 2 + f.model_scoped as u8) as f64
    }

    /// Ends a lease without a verdict.
    pub fn release(&mut self, idx: u32) -> JsResult<()> {
        lift(self.inner.release(idx))
    }

    #[wasm_bindgen(js_name = clearCooldown)]
    pub fn clear_cooldown(&mut self, idx: u32, now: f64) -> JsResult<()> {
        lift(self.inner.clear_cooldown(idx, now))
    }

    #[wasm_bindgen(js_name = isCooling)]
    pub fn is_cooling(&self, idx: u32, now: f64) -> JsResult<bool> {
        lift(self.inner.is_cooling(idx, now))
    }

    /// Ms until a profile is available to a call (naming the model index `model`): 0
    /// when one is; -1 when there is none (an empty pool).
    #[wasm_bindgen(js_name = waitMs)]
    pub fn wait_ms(&mut self, now: f64, model: Option<u32>) -> JsResult<f64> {
        Ok(lift(self.inner.wait_ms_for(now, model))?.unwrap_or(-1.0))
    }

    /// The error count of a profile.
    #[wasm_bindgen(js_name = errorCount)]
    pub fn error_count(&self, idx: u32) -> JsResult<u32> {
        self.inner.state(idx).map(|s| s.error_count).ok_or_else(|| to_js(Error::UnknownProfile(idx).into()))
    }

    /// Merges stored records into the pool (see `src/snapshot.rs`). `ids` are the
    /// records' ids joined with `"\0"` (empty: none); `cols` has `RECORD_COLUMNS` numbers
    /// per id, in the same order. Out-of-range values are dropped field by field.
    /// Returns the number of ids the pool does not have (kept for re-export).
    #[wasm_bindgen(js_name = importSnapshot)]
    pub fn import_snapshot(&mut self, ids: &str, cols: &[f64], now: f64) -> JsResult<u32> {
        let n = if ids.is_empty() { 0 } else { ids.split('\0').count() };
        if cols.len() != n * Record::COLUMNS {
            return Err(to_js(Problem::Range(format!(
                "importSnapshot: {} numbers for {n} ids, expected {}",
                cols.len(),
                n * Record::COLUMNS
            ))));
        }
        if n >= 4096 {
            let unknown = ids.split('\0').filter(|id| self.inner.index_of(id).is_none()).count();
            warm_up(unknown.saturating_mul(EXTRA_BYTES));
        }
        let records = ids.split('\0').zip(cols.chunks_exact(Record::COLUMNS)).map(|(id, c)| {
            let c: &[f64; Record::COLUMNS] = c.try_into().unwrap_or(&[f64::NAN; Record::COLUMNS]);
            (id, Record::from_columns(c))
        });
        Ok(lift(self.inner.import(records, now))? as u32)
    }

    /// Every record in column form: the profiles in index order, then the records of
    /// unknown ids and of the pairs in `extraIds()` order.
    #[wasm_bindgen(js_name = exportSnapshot)]
    pub fn export_snapshot(&self) -> Vec<f64> {
        let p = &self.inner;
        let n = p.len();
        let mut out = Vec::with_capacity((n + p.extras().len() + p.pairs().len()) * Record::COLUMNS);
        for idx in 0..n as u32 {
            if let Some(r) = p.record(idx) {
                r.write_columns(&mut out);
            }
        }
        for r in p.extras().values() {
            r.write_columns(&mut out);
        }
        for pair in 0..p.pairs().len() as u32 {
            if let Some(r) = p.pair_record(pair) {
                r.write_columns(&mut out);
            }
        }
        out
    }

    /// The ids of the kept records of unknown ids, then the pairs' record ids
    /// (`<profile id>\u0001<model>`), joined with `"\0"`.
    #[wasm_bindgen(js_name = extraIds)]
    pub fn extra_ids(&self) -> String {
        let p = &self.inner;
        let mut out = String::new();
        for id in p.extras().keys() {
            out.push_str(id);
            out.push('\0');
        }
        for st in p.pairs() {
            out.push_str(p.id(st.profile).unwrap_or(""));
            out.push(crate::snapshot::PAIR_SEPARATOR);
            out.push_str(p.model_name(st.model).unwrap_or(""));
            out.push('\0');
        }
        out.pop();
        out
    }

    /// Writes the status into the pool's status buffer and returns its length, 0 when
    /// `now` is not a valid time (the JS layer checks it first; no `Result` on this path).
    /// Read the buffer with `statusPtr` as a `Float64Array` view of the module's memory
    /// (see `STATUS_MAX_COLUMNS`), before the next call into the module.
    pub fn status(&mut self, now: f64) -> u32 {
        match self.inner.write_columns(now, &mut self.status) {
            Ok(()) => self.status.len() as u32,
            Err(_) => 0,
        }
    }

    /// Address of the status buffer in the module's memory.
    #[wasm_bindgen(js_name = statusPtr)]
    pub fn status_ptr(&self) -> u32 {
        self.status.as_ptr() as u32
    }
}

/// Classifies extracted error facts; returns a reason code. `status` NaN: none.
#[wasm_bindgen]
pub fn classify(status: f64, message: &str, name: &str, code: &str, v1: bool) -> u8 {
    let facts = ErrorFacts { status: opt(status), message, name, code };
    classify_facts(&facts, if v1 { Rules::V1 } else { Rules::V2 }).code()
}

/// Whether a message is about a timeout (v1's `/timeout|timed?.out/i`).
#[wasm_bindgen(js_name = isTimeoutMessage)]
pub fn is_timeout_message(message: &str) -> bool {
    crate::classify::is_timeout_message(message)
}

/// Parses a "come back later" header into ms from `now`; NaN when unparseable.
/// `kind`: 0 `retry-after`, 1 `retry-after-ms`, 2 an `x-ratelimit-reset-*` value.
#[wasm_bindgen(js_name = parseRetryHeader)]
pub fn parse_retry_header(kind: u8, value: &str, now: f64) -> f64 {
    let parsed = match kind {
        0 => retry::parse_retry_after(value, now),
        1 => retry::parse_retry_after_ms(value),
        2 => retry::parse_reset(value, now),
        _ => None,
    };
    parsed.unwrap_or(f64::NAN)
}

/// A ladder from its encoding (see `Pool.configure`). The JS layer checks ladders first and
/// names the field in its errors (as `Ladder::steps` and `Ladder::geometric` do); this only
/// refuses what it should never get.
fn ladder(values: &[f64]) -> JsResult<Option<Ladder>> {
    let ladder = match values {
        [] => return Ok(None),
        [kind, steps @ ..] if *kind == 1.0 && steps.len() <= MAX_STEPS => {
            let mut out = [0.0; MAX_STEPS];
            out[..steps.len()].copy_from_slice(steps);
            Ladder::Steps { len: steps.len() as u8, steps: out }
        }
        [kind, base_ms, factor, cap_ms] if *kind == 2.0 => {
            Ladder::Geometric { base_ms: *base_ms, factor: *factor, cap_ms: *cap_ms }
        }
        _ => Ladder::Steps { len: 0, steps: [0.0; MAX_STEPS] },
    };
    if !ladder.is_valid() {
        return Err(to_js(Problem::Range("configure: invalid ladder".into())));
    }
    Ok(Some(ladder))
}

/// Heap bytes an imported record of an unknown id takes (its map entry and id; 218 measured).
const EXTRA_BYTES: usize = 256;

/// Grows the module's memory once by about `bytes` (allocating and freeing that much), so
/// that the many small allocations that follow do not grow it 64 KB at a time: V8 counts
/// each growth as external memory and, past its limit, runs a full garbage collection per
/// growth (loading a state of 10^6 unknown ids took 55 s instead of 3 s). Best effort: when
/// that much cannot be had, nothing happens.
fn warm_up(bytes: usize) {
    let mut v = Vec::<u8>::new();
    if bytes >= 1 << 20 && v.try_reserve_exact(bytes).is_ok() {
        // A write the optimiser must keep, or it drops the allocation.
        // SAFETY: the capacity is at least 1 MB, so the first byte is allocated.
        unsafe { core::ptr::write_volatile(v.as_mut_ptr(), 0) };
    }
}

/// Cuts consecutive pieces off a string by their length in UTF-16 code units.
struct Utf16Cutter<'a>(&'a str);

impl<'a> Utf16Cutter<'a> {
    fn cut(&mut self, units: u32) -> Option<&'a str> {
        let mut left = units as usize;
        let mut end = 0;
        for c in self.0.chars() {
            if left == 0 {
                break;
            }
            left = left.checked_sub(c.len_utf16())?;
            end += c.len_utf8();
        }
        if left != 0 {
            return None;
        }
        let (piece, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(piece)
    }
}
