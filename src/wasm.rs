//! The wasm-bindgen binding: a thin `Pool` class over the core for the JS layer.
//!
//! Every export takes and returns numbers only (strings and arrays go in as arguments;
//! what comes out is written into a buffer of the pool that the JS layer reads as a view
//! of the module's memory). No export returns a `Result`, a `String` or a `Vec`: those
//! would return several values, and an engine compiles a dedicated JS-to-wasm wrapper for
//! each such signature when the module is compiled (measured in Node 20: 3 of the 4 ms
//! the module took to compile). A failed call returns a sentinel (stated on each method)
//! and keeps its [`Problem`]; the JS layer reads it with `problem()` and throws the error
//! users see (`RangeError` or `ConfigError`), in one place (`pkg-template/src/core.js`).
//! Absent optional numbers are NaN. No input can trap the module.

use alloc::collections::btree_map::{self, BTreeMap};
use core::cell::{Cell, UnsafeCell};
use core::ops::{Bound, Deref, DerefMut, Range};

use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::backoff::{Ladder, MAX_STEPS};
use crate::classify::{classify as classify_facts, ErrorFacts, Rules};
use crate::config::{cooldowns_from, ConfigError, Kind, Mode, Settings, Strategy};
use crate::pool::{Error, Failure, Pool};
use crate::reason::{Policy, Reason, ReasonPolicy, Schedule};
use crate::retry;
use crate::snapshot::Record;
use crate::text::{cat, num};

// The crate is no_std here (see lib.rs): the allocator std would use, and a panic that
// traps. A panic is a bug (no input may cause one); JS sees it as a RuntimeError, and
// the JS layer builds the pool again (core.js, #recover).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

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
 * (1 cooldown, 2 disabled), cooldownUntil, errorCount, reason code. Last comes the
 * soonest end of a rest in progress (Infinity: none): until then, if the pool is not
 * called, the status stays the same but for the time remaining, so a host may reuse it.
 */
export const PAIR_COLUMNS: 6;

/**
 * Layout of a record in `Pool.importSnapshot` / `Pool.exportSnapshot`: errorCount,
 * lastUsed, lastFailure, lastSuccess, cooldownUntil, reason code (-1 none), updatedAt,
 * cooldownLong (0/1), cooldownStartedAt. Absent values are NaN.
 */
export const RECORD_COLUMNS: 9;

/**
 * What `Pool.problem()` returns after a call failed: 1 a `RangeError` (a bad time or
 * index), 2 a `ConfigError`; the text buffer then holds the message, or for a
 * `ConfigError` the field's path, a NUL and what is wrong with it.
 *
 * ```ts
 * if (pool.acquire(now, -1, undefined, undefined) === -2) {
 *   const kind = pool.problem(); // 1 or 2
 *   const text = new TextDecoder().decode(new Uint8Array(memory.buffer, pool.textPtr(), pool.textLen()));
 * }
 * ```
 */
export type ProblemKind = 0 | 1 | 2;
"#;

/// Why a call failed, kept until the JS layer asks: bad times and indices become
/// `RangeError`s, configuration problems `ConfigError`s naming the field.
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

/// Where the last part of an export left the pool's kept records (`Pool::extras`): the
/// position and the key of the next one. A snapshot is exported in parts, in order, each
/// right after the one before; a part starts there in O(log n) rather than walking the map
/// from its first record (10^6 kept ids in 245 parts walked it 245 times: a save took 9.8 s
/// instead of 5.5).
#[derive(Default)]
struct ExtrasCursor(Option<(usize, String)>);

impl ExtrasCursor {
    /// The kept records from position `start` on. An export's first part over them starts
    /// at position 0, from the first key, so a cursor an earlier export left is never used.
    fn from<'a>(
        &self,
        extras: &'a BTreeMap<String, Record>,
        start: usize,
    ) -> btree_map::Range<'a, String, Record> {
        let key = match &self.0 {
            Some((at, key)) if *at == start && start != 0 => Some(key.as_str()),
            _ => extras.keys().nth(start).map(String::as_str),
        };
        match key {
            Some(k) => extras.range::<str, _>((Bound::Included(k), Bound::Unbounded)),
            // Past the end: no key is before "".
            None => extras.range::<str, _>((Bound::Unbounded, Bound::Excluded(""))),
        }
    }

    /// Calls `f` with the kept records at the positions `range`, in key order, and
    /// remembers where the next part starts.
    fn visit<'a>(
        &mut self,
        extras: &'a BTreeMap<String, Record>,
        range: Range<usize>,
        mut f: impl FnMut(&'a String, &'a Record),
    ) {
        if range.is_empty() {
            return;
        }
        let mut records = self.from(extras, range.start);
        for (id, r) in records.by_ref().take(range.len()) {
            f(id, r);
        }
        self.0 = records.next().map(|(id, _)| (range.end, id.clone()));
    }
}

/// The positions `start..start + max` of a sequence of `total` records, cut to it.
fn part(start: u32, max: u32, total: usize) -> Range<usize> {
    let start = (start as usize).min(total);
    start..start.saturating_add(max as usize).min(total)
}

/// The positions of `part` in `lo..hi`, counted from `lo`.
fn within(part: &Range<usize>, lo: usize, hi: usize) -> Range<usize> {
    part.start.clamp(lo, hi) - lo..part.end.clamp(lo, hi) - lo
}

fn opt(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

fn reason(code: u8) -> Result<Reason, Problem> {
    Reason::from_code(code).ok_or_else(|| out_of_range("reason code", code))
}

// Errors are built out of line: V8 compiles each wasm function whole at its first call,
// so error formatting inlined into `setup` or `addProfiles` would slow every cold start.

#[cold]
#[inline(never)]
fn out_of_range(what: &str, value: u8) -> Problem {
    Problem::Range(cat(&[what, " ", &num(u64::from(value)), " is out of range"]))
}

#[cold]
#[inline(never)]
fn invalid_policy(r: Reason) -> ConfigError {
    ConfigError::new(cat(&["policy.", r.as_str()]), "invalid policy")
}

/// The core pool, driven by the JS layer: its state behind a flag that tells whether a
/// call was cut short inside the core.
///
/// A call is cut short when the JS stack runs out inside the module (a stack overflow, a
/// `RangeError` in JS, unwinds the wasm frames without running their Rust code): the
/// state may then be half-changed. Every call takes the state by `&self` (a shared borrow,
/// which the cut-short call's binding leaves taken but which does not stop the next
/// calls), sets `busy` for its duration, and clears it when it returns; `interrupted`
/// tells the JS layer that one did not return, and it rebuilds the pool from what it reads
/// out (`pkg-template/src/core.js`). With `&mut self` methods, one cut-short call left the
/// pool's mutable borrow taken, and every later call threw "recursive use of an object".
#[wasm_bindgen(js_name = Pool)]
pub struct WasmPool {
    state: UnsafeCell<State>,
    busy: Cell<bool>,
}

/// The state of one call into a [`WasmPool`]: clears its `busy` flag when the call returns.
struct Entered<'a>(&'a WasmPool);

impl Deref for Entered<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        // SAFETY: see `deref_mut`.
        unsafe { &*self.0.state.get() }
    }
}

impl DerefMut for Entered<'_> {
    fn deref_mut(&mut self) -> &mut State {
        // SAFETY: one call at a time holds the state. The module runs on one thread, and
        // the core calls no JS, so no call can start while another runs; a call that was
        // cut short is gone, with its reference. Each export takes one `Entered` and
        // calls no other export.
        unsafe { &mut *self.0.state.get() }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
    }
}

impl WasmPool {
    #[inline]
    fn enter(&self) -> Entered<'_> {
        self.busy.set(true);
        Entered(self)
    }
}

/// What a [`WasmPool`] holds.
struct State {
    inner: Pool,
    /// The status columns (see `STATUS_MAX_COLUMNS` and `status::header`), rewritten by `status`.
    status: Vec<f64>,
    /// Numbers a call returns (`exportSnapshot`, `takeRecovered`), read with `outPtr`.
    out: Vec<f64>,
    /// Text a call returns (`extraIds`, `problem`), UTF-8, read with `textPtr`/`textLen`.
    text: String,
    problem: Option<Problem>,
    last: Failure,
    /// An `importSnapshot` changed a `lastUsed`: `finishImport` rebuilds the order.
    rerank_pending: bool,
    /// Where `exportSnapshot` and `extraIds` left the kept records.
    export_at: ExtrasCursor,
    ids_at: ExtrasCursor,
}

impl State {
    /// Keeps the problem of a failed call; `bad` is what the export returns then.
    fn check<T>(&mut self, r: Result<T, impl Into<Problem>>, bad: T) -> T {
        r.unwrap_or_else(|e| {
            self.problem = Some(e.into());
            bad
        })
    }

    fn apply_settings(
        &mut self,
        mode: u8,
        cooldowns: [Option<f64>; 4],
        policy: &[u8],
    ) -> Result<(), Problem> {
        let mut settings = match mode {
            0 => Settings::v2(),
            1 => Settings::v1(),
            _ => return Err(out_of_range("mode", mode)),
        };
        settings.cooldowns = cooldowns_from(cooldowns)?;
        if !policy.is_empty() {
            if policy.len() != Reason::ALL.len() {
                return Err(Problem::Range("policy must have one byte per reason".into()));
            }
            let mut p = Policy::v2();
            for (r, &b) in Reason::ALL.iter().zip(policy) {
                let rp = ReasonPolicy::from_byte(b).ok_or_else(|| invalid_policy(*r))?;
                p.set(*r, rp);
            }
            settings.policy = p;
        }
        debug_assert!(matches!(settings.mode, Mode::V1 | Mode::V2));
        // Set in place: replacing the pool would drop one, which a cold start pays for
        // (V8 compiles each wasm function at its first call).
        if self.inner.set_settings(settings) {
            Ok(())
        } else {
            Err(Problem::Range("setup: not a new pool".into()))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_all(
        &mut self,
        ids: &str,
        id_lens: &[u16],
        providers: &str,
        provider_lens: &[u16],
        provider: &[u32],
        fallback: &[u8],
        positions: &[u32],
    ) -> Result<u32, Problem> {
        let n = id_lens.len();
        // One message for any array that does not fit the others: only a caller other than
        // the JS layer sends one.
        let bad = || Problem::Range("addProfiles: arrays that do not fit".into());
        if provider.len() != n || fallback.len() != n || positions.len() != n {
            return Err(bad());
        }
        let mut names = Utf16Cutter(providers);
        let names: Vec<&str> =
            provider_lens.iter().map(|&len| names.cut(len as u32)).collect::<Option<_>>().ok_or_else(bad)?;
        let first = self.inner.len() as u32;
        self.inner.reserve(n);
        self.inner.reserve_id_bytes(ids.len());
        // Primaries per provider name, to reserve each provider's room once it is known.
        let mut primaries = vec![0usize; names.len()];
        for (&p, &f) in provider.iter().zip(fallback) {
            if f != 1 {
                *primaries.get_mut(p as usize).ok_or_else(bad)? += 1;
            }
        }
        // Each provider name's index in the pool, once a profile has added it (checked then).
        let mut known: Vec<Option<u32>> = vec![None; names.len()];
        let mut ids = Utf16Cutter(ids);
        for i in 0..n {
            let id = ids.cut(id_lens[i] as u32).ok_or_else(bad)?;
            let p = provider[i] as usize;
            let name = names.get(p).ok_or_else(bad)?;
            let kind = if fallback[i] == 1 { Kind::Fallback } else { Kind::Primary };
            let at = positions[i] as usize;
            match known[p] {
                Some(index) => self.inner.add_to(id, Ok(index), kind, at)?,
                None => {
                    let idx = self.inner.add(id, name, kind, at)?;
                    known[p] = self.inner.provider_index(name);
                    idx
                }
            };
            if kind == Kind::Primary && primaries[p] != 0 {
                // Once per provider name: the provider is known from its first profile on.
                self.inner.reserve_provider(name, core::mem::take(&mut primaries[p]));
            }
        }
        Ok(first)
    }

    fn configure_all(
        &mut self,
        strategy: u8,
        weights: &[u32],
        transient: &[f64],
        long: &[f64],
    ) -> Result<(), Problem> {
        let s = match strategy {
            0 => Strategy::RoundRobin,
            1 => Strategy::Priority,
            _ => return Err(out_of_range("strategy", strategy)),
        };
        self.inner.set_strategy(s);
        if !weights.is_empty() {
            self.inner.set_weights(weights)?;
        }
        // `ladder` built them through Ladder::steps/geometric: valid, so both are set.
        let set = self.inner.set_ladder(Schedule::Transient, ladder(transient)?)
            && self.inner.set_ladder(Schedule::Long, ladder(long)?);
        debug_assert!(set);
        Ok(())
    }

    fn import_part(&mut self, ids: &str, cols: &[f64], now: f64, remaining: u32) -> Result<u32, Problem> {
        let n = if ids.is_empty() { 0 } else { ids.split('\0').count() };
        if cols.len() != n * Record::COLUMNS {
            // Only a caller other than the JS layer sends numbers that do not fit the ids.
            return Err(Problem::Range("importSnapshot: numbers that do not fit the ids".into()));
        }
        // `remaining`: the records of this part and of the parts still to come. Their
        // unknown ids are reserved for at the first part, in this part's proportion: one
        // growth of the memory for the whole snapshot, not one per part (a later part's
        // reservation fits in what the first left).
        let remaining = (remaining as usize).max(n);
        if remaining >= 4096 && n > 0 {
            let unknown = ids.split('\0').filter(|id| self.inner.index_of(id).is_none()).count();
            warm_up((unknown.saturating_mul(remaining) / n).saturating_mul(EXTRA_BYTES));
        }
        let records = ids.split('\0').zip(cols.chunks_exact(Record::COLUMNS)).map(|(id, c)| {
            let c: &[f64; Record::COLUMNS] = c.try_into().unwrap_or(&[f64::NAN; Record::COLUMNS]);
            (id, Record::from_columns(c))
        });
        let part = self.inner.import_part(records, now)?;
        self.rerank_pending |= part.rerank;
        Ok(part.unknown as u32)
    }
}

#[wasm_bindgen(js_class = Pool)]
impl WasmPool {
    /// An empty v2 pool with the default settings; `setup` sets them.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> WasmPool {
        let state = State {
            inner: Pool::new(Settings::v2()),
            status: Vec::new(),
            out: Vec::new(),
            text: String::new(),
            problem: None,
            last: Failure::default(),
            rerank_pending: false,
            export_at: ExtrasCursor::default(),
            ids_at: ExtrasCursor::default(),
        };
        WasmPool { state: UnsafeCell::new(state), busy: Cell::new(false) }
    }

    /// Whether a call into this pool was cut short inside the core (see [`WasmPool`]): its
    /// state may be half-changed, and the JS layer reads it out and builds the pool again.
    pub fn interrupted(&self) -> bool {
        self.busy.get()
    }

    /// Writes the interned model names, in index order, joined with `"\0"`, to the text
    /// buffer; returns its length in bytes. A pool built again interns them in this order,
    /// so the indices the JS layer holds stay right.
    #[wasm_bindgen(js_name = modelNames)]
    pub fn model_names(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.text.clear();
        let mut m = 0;
        while let Some(name) = s.inner.model_name(m) {
            if m > 0 {
                s.text.push('\0');
            }
            s.text.push_str(name);
            m += 1;
        }
        s.text.len() as u32
    }

    /// Sets the settings of a new pool (nothing added or imported yet: a range problem
    /// otherwise). `mode`: 0 = v2, 1 = v1.
    /// Cooldowns: undefined means the default. `policy`: empty for the mode's, else one byte per
    /// reason code (bit 0 rotate, bits 1–2 schedule). Returns false on a problem.
    pub fn setup(
        &self,
        mode: u8,
        max_rate_limit_cooldown_ms: Option<f64>,
        billing_backoff_ms: Option<f64>,
        billing_max_ms: Option<f64>,
        failure_window_ms: Option<f64>,
        policy: &[u8],
    ) -> bool {
        let mut guard = self.enter();
        let s = &mut *guard;
        let cooldowns = [max_rate_limit_cooldown_ms, billing_backoff_ms, billing_max_ms, failure_window_ms];
        let r = s.apply_settings(mode, cooldowns, policy);
        s.check(r.map(|()| true), false)
    }

    /// Adds many profiles in one call: `ids` are the ids concatenated, in UTF-8 (a copy
    /// into the module's memory; a string would be encoded a character at a time), cut by
    /// their UTF-16 lengths; `providers` the distinct provider names likewise, and `provider`
    /// each profile's index into them; `fallback` is 1 for a fallback model; `positions`
    /// are the indices in the user's arrays. Returns the index of the first one added,
    /// -1 on a problem (ids that are not UTF-8 are one).
    #[wasm_bindgen(js_name = addProfiles)]
    #[allow(clippy::too_many_arguments)] // one crossing for the whole configuration
    pub fn add_profiles(
        &self,
        ids: &[u8],
        id_lens: &[u16],
        providers: &str,
        provider_lens: &[u16],
        provider: &[u32],
        fallback: &[u8],
        positions: &[u32],
    ) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = match core::str::from_utf8(ids) {
            Ok(ids) => s.add_all(ids, id_lens, providers, provider_lens, provider, fallback, positions),
            Err(_) => Err(Problem::Range("addProfiles: ids that are not UTF-8".into())),
        };
        s.check(r.map(|i| i as i32), -1)
    }

    /// Configures what v1 does not have, after the profiles are added: `strategy` 0
    /// round-robin, 1 priority; `weights` one per profile in index order (empty: all 1);
    /// the ladders of the transient and long schedules: empty for v1's, `[1, step, ...]`
    /// for steps, `[2, baseMs, factor, capMs]` for base × factor with a cap (checked by the
    /// JS layer first, which names the field; a bad one here is a `RangeError`). Weight
    /// errors name the field (`profiles[2].weight`). Returns false on a problem.
    pub fn configure(&self, strategy: u8, weights: &[u32], transient: &[f64], long: &[f64]) -> bool {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.configure_all(strategy, weights, transient, long);
        s.check(r.map(|()| true), false)
    }

    /// The index of a model name, interned; -1 for an unusable name (a `ConfigError`).
    #[wasm_bindgen(js_name = modelIndex)]
    pub fn model_index(&self, name: &str) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.model_index(name);
        s.check(r.map(|m| m as i32), -1)
    }

    /// The index of a model name already interned, without interning it; -1 when it is not.
    #[wasm_bindgen(js_name = findModel)]
    pub fn find_model(&self, name: &str) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.inner.find_model(name).map_or(-1, |m| m as i32)
    }

    /// Number of profiles.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.inner.len() as u32
    }

    /// Index of a provider name, -1 if no profile has it.
    #[wasm_bindgen(js_name = providerIndex)]
    pub fn provider_index(&self, provider: &str) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.inner.provider_index(provider).map_or(-1, |p| p as i32)
    }

    /// Picks a profile (its index) for a call at `now`, preferring provider index
    /// `preferred` (-1: none), for the model index `model` and with the sticky profile
    /// `sticky` (a session's) when given (see `Pool::acquire_for`); -1 when every
    /// profile is cooling down, -2 on a problem. `excluded`: profiles the call must not
    /// get (see `Pool::acquire_excluding`).
    pub fn acquire(
        &self,
        now: f64,
        preferred: i32,
        model: Option<u32>,
        sticky: Option<u32>,
        excluded: Option<Vec<u32>>,
    ) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let pref = u32::try_from(preferred).ok();
        let got = match (model, sticky, excluded) {
            (None, None, None) => s.inner.acquire(now, pref),
            (_, _, ex) => s.inner.acquire_excluding(now, pref, model, sticky, ex.as_deref().unwrap_or(&[])),
        };
        s.check(got.map(|g| g.map_or(-1, |i| i as i32)), -2)
    }

    /// The rests that ended since the last call, written to the out buffer (`outPtr`),
    /// three numbers each: profile, model index (2^32 − 1: the profile's own rest), reason
    /// code of the rest (-1: none recorded). Returns how many numbers, -1 on a problem.
    /// `track`: keep recording them (when false, nothing is recorded from now on).
    #[wasm_bindgen(js_name = takeRecovered)]
    pub fn take_recovered(&self, now: f64, track: bool) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.take_recovered(now);
        s.inner.track_recoveries(track);
        match r {
            Ok(got) => {
                s.out.clear();
                for (idx, m, reason) in got {
                    s.out.extend([idx as f64, m as f64, reason.map_or(-1.0, |r| r.code() as f64)]);
                }
                s.out.len() as i32
            }
            Err(e) => s.check(Err(e), -1),
        }
    }

    /// Reports a success; `lease` is the `now` of the acquire, NaN for `markSuccess`;
    /// `model` the model index the call named. Returns false on a problem.
    pub fn succeed(&self, idx: u32, now: f64, lease: f64, model: Option<u32>) -> bool {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = match model {
            None => s.inner.succeed(idx, now, opt(lease)),
            Some(_) => s.inner.succeed_for(idx, now, opt(lease), model),
        };
        s.check(r.map(|()| true), false)
    }

    /// Reports a failure of a call (that named the model index `model`). Returns the
    /// cooldown started in ms, -1 when none started, -2 when the failure was a late
    /// report of the current cooldown's incident, NaN on a problem; `lastFailure()` tells
    /// more.
    pub fn fail(
        &self,
        idx: u32,
        now: f64,
        reason_code: u8,
        retry_after_ms: f64,
        lease: f64,
        model: Option<u32>,
    ) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = reason(reason_code)
            .and_then(|why| Ok(s.inner.fail_for(idx, now, why, opt(retry_after_ms), opt(lease), model)?));
        match r {
            Ok(f) => {
                s.last = f;
                if f.late {
                    -2.0
                } else {
                    f.cooldown_ms.unwrap_or(-1.0)
                }
            }
            Err(e) => s.check(Err(e), f64::NAN),
        }
    }

    /// About the last `fail`: its error count × 4, + 2 when it was widened to the
    /// profile, + 1 when it was model-scoped (the count is the pair's).
    #[wasm_bindgen(js_name = lastFailure)]
    pub fn last_failure(&self) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let f = &s.last;
        f.error_count as f64 * 4.0 + (f.widened as u8 * 2 + f.model_scoped as u8) as f64
    }

    /// Ends a lease without a verdict. Returns false on a problem.
    pub fn release(&self, idx: u32) -> bool {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.release(idx);
        s.check(r.map(|()| true), false)
    }

    /// Ends a profile's rest. Returns false on a problem.
    #[wasm_bindgen(js_name = clearCooldown)]
    pub fn clear_cooldown(&self, idx: u32, now: f64) -> bool {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.clear_cooldown(idx, now);
        s.check(r.map(|()| true), false)
    }

    /// How many running rests have ended early or been shortened ([`Pool::rests_cut`]), as
    /// a number (exact below 2^53).
    #[wasm_bindgen(js_name = restsCut)]
    pub fn rests_cut(&self) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.inner.rests_cut() as f64
    }

    /// 1 when the profile rests at `now`, 0 when not, -1 on a problem.
    #[wasm_bindgen(js_name = isCooling)]
    pub fn is_cooling(&self, idx: u32, now: f64) -> i32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.is_cooling(idx, now);
        s.check(r.map(i32::from), -1)
    }

    /// Ms until a profile is available to a call (naming the model index `model`): 0
    /// when one is; -1 when there is none (an empty pool, or every profile `excluded`,
    /// sorted: see `acquire`); NaN on a problem.
    #[wasm_bindgen(js_name = waitMs)]
    pub fn wait_ms(&self, now: f64, model: Option<u32>, excluded: Option<Vec<u32>>) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.wait_ms_excluding(now, model, excluded.as_deref().unwrap_or(&[]));
        s.check(r.map(|w| w.unwrap_or(-1.0)), f64::NAN)
    }

    /// The error count of a profile, -1 on a problem.
    #[wasm_bindgen(js_name = errorCount)]
    pub fn error_count(&self, idx: u32) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.inner.state(idx).map(|s| s.error_count as f64).ok_or(Error::UnknownProfile(idx));
        s.check(r, -1.0)
    }

    /// Merges stored records, a part of a snapshot, into the pool (see `src/snapshot.rs`);
    /// `finishImport` follows the last part. `ids` are the records' ids joined with `"\0"`
    /// (empty: none); `cols` has `RECORD_COLUMNS` numbers per id, in the same order.
    /// Out-of-range values are dropped field by field. `remaining` is the number of
    /// records in this part and the parts after it. Returns the number of ids the pool
    /// does not have (kept for re-export), -1 on a problem.
    #[wasm_bindgen(js_name = importSnapshot)]
    pub fn import_snapshot(&self, ids: &str, cols: &[f64], now: f64, remaining: u32) -> f64 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let r = s.import_part(ids, cols, now, remaining);
        s.check(r.map(f64::from), -1.0)
    }

    /// Rebuilds the round-robin order after the `importSnapshot` calls of one snapshot,
    /// when one of them changed a `lastUsed` (see `Pool::import_part`). The JS layer
    /// imports a snapshot in parts of at most `SNAPSHOT_PART` records, so that the copy of
    /// a part in the module's memory (which never shrinks) stays small.
    #[wasm_bindgen(js_name = finishImport)]
    pub fn finish_import(&self) {
        let mut guard = self.enter();
        let s = &mut *guard;
        if core::mem::take(&mut s.rerank_pending) {
            s.inner.rerank();
        }
    }

    /// How many records a snapshot of the pool has: the profiles, the records of unknown
    /// ids, the pairs.
    #[wasm_bindgen(js_name = recordCount)]
    pub fn record_count(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let p = &s.inner;
        (p.len() + p.extras().len() + p.pairs().len()) as u32
    }

    /// Writes the records `start..start + max` of the snapshot in column form to the out
    /// buffer (`outPtr`): of the profiles in index order, then the records of unknown ids
    /// and of the pairs in `extraIds()` order. Returns how many numbers (0 past the end).
    /// The JS layer exports in parts of `SNAPSHOT_PART` records: the buffer, which the pool
    /// keeps, holds one part, not the whole snapshot.
    #[wasm_bindgen(js_name = exportSnapshot)]
    pub fn export_snapshot(&self, start: u32, max: u32) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let p = &s.inner;
        let (profiles, extras) = (p.len(), p.extras().len());
        let total = profiles + extras + p.pairs().len();
        let part = part(start, max, total);
        let out = &mut s.out;
        out.clear();
        out.reserve(part.len() * Record::COLUMNS);
        for idx in within(&part, 0, profiles) {
            if let Some(r) = p.record(idx as u32) {
                r.write_columns(out);
            }
        }
        let kept = within(&part, profiles, profiles + extras);
        s.export_at.visit(p.extras(), kept, |_, r| r.write_columns(out));
        for pair in within(&part, profiles + extras, total) {
            if let Some(r) = p.pair_record(pair as u32) {
                r.write_columns(out);
            }
        }
        out.len() as u32
    }

    /// Writes to the text buffer the ids of the records `start..start + max` of the kept
    /// records of unknown ids, then of the pairs (`<profile id>\u0001<model>`): the
    /// snapshot's records after the profiles', in `exportSnapshot` order, joined with
    /// `"\0"`. Returns its length in bytes. The JS layer reads them in parts of
    /// `SNAPSHOT_PART`, like the records.
    #[wasm_bindgen(js_name = extraIds)]
    pub fn extra_ids(&self, start: u32, max: u32) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        let p = &s.inner;
        let extras = p.extras().len();
        let total = extras + p.pairs().len();
        let part = part(start, max, total);
        let out = &mut s.text;
        out.clear();
        s.ids_at.visit(p.extras(), within(&part, 0, extras), |id, _| {
            out.push_str(id);
            out.push('\0');
        });
        let pairs = within(&part, extras, total);
        for st in p.pairs().iter().skip(pairs.start).take(pairs.len()) {
            out.push_str(p.id(st.profile).unwrap_or(""));
            out.push(crate::snapshot::PAIR_SEPARATOR);
            out.push_str(p.model_name(st.model).unwrap_or(""));
            out.push('\0');
        }
        out.pop();
        out.len() as u32
    }

    /// The problem of the last call that failed, once: 0 none, 1 a `RangeError`, 2 a
    /// `ConfigError`. Writes its message to the text buffer (for a `ConfigError`, the
    /// field's path, a NUL and what is wrong with it).
    pub fn problem(&self) -> u8 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.text.clear();
        match s.problem.take() {
            None => 0,
            Some(Problem::Op(e)) => {
                s.text = e.message();
                1
            }
            Some(Problem::Range(msg)) => {
                s.text = msg;
                1
            }
            Some(Problem::Config(e)) => {
                s.text = cat(&[&e.field, "\0", &e.problem]);
                2
            }
        }
    }

    /// Writes the status into the pool's status buffer and returns its length, 0 when
    /// `now` is not a valid time (the JS layer checks it first).
    /// Read the buffer with `statusPtr` as a `Float64Array` view of the module's memory
    /// (see `STATUS_MAX_COLUMNS`), before the next call into the module.
    pub fn status(&self, now: f64) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        match s.inner.write_columns(now, &mut s.status) {
            Ok(()) => s.status.len() as u32,
            Err(_) => 0,
        }
    }

    /// Address of the status buffer in the module's memory.
    #[wasm_bindgen(js_name = statusPtr)]
    pub fn status_ptr(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.status.as_ptr() as u32
    }

    /// Address of the out buffer (numbers, `Float64Array`) in the module's memory.
    #[wasm_bindgen(js_name = outPtr)]
    pub fn out_ptr(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.out.as_ptr() as u32
    }

    /// Address of the text buffer (UTF-8) in the module's memory.
    #[wasm_bindgen(js_name = textPtr)]
    pub fn text_ptr(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.text.as_ptr() as u32
    }

    /// Length of the text buffer in bytes.
    #[wasm_bindgen(js_name = textLen)]
    pub fn text_len(&self) -> u32 {
        let mut guard = self.enter();
        let s = &mut *guard;
        s.text.len() as u32
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
fn ladder(values: &[f64]) -> Result<Option<Ladder>, Problem> {
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
        return Err(Problem::Range("configure: invalid ladder".into()));
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
        // Most names are ASCII: a byte each, and a unit each.
        let ascii = self.0.as_bytes().get(..units as usize).is_some_and(<[u8]>::is_ascii);
        if ascii {
            // `get`, not `split_at`: no panic path.
            let (piece, rest) = (self.0.get(..units as usize)?, self.0.get(units as usize..)?);
            self.0 = rest;
            return Some(piece);
        }
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
        let (piece, rest) = (self.0.get(..end)?, self.0.get(end..)?);
        self.0 = rest;
        Some(piece)
    }
}
