//! Property test: random operation sequences against a small reference model written
//! for clarity (linear scans, no index), comparing every pick, every failure outcome and
//! the full status after every step, in both v1 and v2 modes. Imports of stored records
//! (snapshots, `src/snapshot.rs`) are among the operations: the model merges them with a
//! plain implementation of the rule and re-ranks by `lastUsed`, and the pool's export is
//! compared with the model's records after every step.

use std::collections::BTreeMap;

use key_carousel::{
    Cooldowns, Kind, Mode, Policy, Pool, ProfileSpec, Reason, ReasonPolicy, Record, Schedule, Settings,
    State, STATUS_COLUMNS,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct MProfile {
    provider: usize,
    fallback: bool,
    rank: f64,
    until: Option<f64>,
    error_count: u32,
    last_used: Option<f64>,
    last_failure: Option<f64>,
    last_success: Option<f64>,
    reason: Option<Reason>,
    started: Option<f64>,
    long: bool,
    updated: Option<f64>,
    in_flight: u32,
}

impl MProfile {
    fn record(&self) -> Record {
        Record {
            error_count: self.error_count,
            last_used: self.last_used,
            last_failure: self.last_failure,
            last_success: self.last_success,
            cooldown_until: self.until,
            reason: self.reason,
            // Never changed here: 0, so plain uses never win a merge (see Pool::record).
            updated_at: Some(self.updated.unwrap_or(0.0)),
            cooldown_long: self.long,
            cooldown_started_at: self.started,
        }
    }
}

/// The merge rule, written out plainly: timestamps take the maximum; the cooldown group
/// comes whole from the record with the greater key, and carries that key's time.
fn model_merge(a: &Record, b: &Record) -> Record {
    let max = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(f64::MIN).max(y.unwrap_or(f64::MIN))),
    };
    let event = |r: &Record| r.updated_at.or(max(r.last_failure, r.last_success));
    let key = |r: &Record| {
        (
            event(r).unwrap_or(-1.0),
            r.cooldown_until.unwrap_or(-1.0),
            r.error_count as f64,
            r.reason.map_or(String::new(), |x| x.as_str().to_string()),
            r.cooldown_long as u8 as f64,
            r.cooldown_started_at.unwrap_or(-1.0),
        )
    };
    let w = if key(a) >= key(b) { a } else { b };
    Record {
        error_count: w.error_count,
        last_used: max(a.last_used, b.last_used),
        last_failure: max(a.last_failure, b.last_failure),
        last_success: max(a.last_success, b.last_success),
        cooldown_until: w.cooldown_until,
        reason: w.reason,
        updated_at: event(w),
        cooldown_long: w.cooldown_long,
        cooldown_started_at: w.cooldown_started_at,
    }
}

#[derive(Clone, Debug)]
struct Model {
    s: Settings,
    p: Vec<MProfile>,
    picks: f64,
    ids: Vec<String>,
    extras: BTreeMap<String, Record>,
}

impl Model {
    fn cooling(&self, i: usize, now: f64) -> bool {
        self.p[i].until.is_some_and(|u| u > now)
    }

    fn pick(&self, now: f64, pref: Option<usize>) -> Option<usize> {
        let group = |p: &MProfile| {
            if p.fallback {
                2
            } else if pref.is_none() || pref == Some(p.provider) {
                0
            } else {
                1
            }
        };
        (0..self.p.len()).filter(|&i| !self.cooling(i, now)).min_by(|&a, &b| {
            let (pa, pb) = (&self.p[a], &self.p[b]);
            (group(pa), pa.rank).partial_cmp(&(group(pb), pb.rank)).unwrap().then(a.cmp(&b))
        })
    }

    fn acquire(&mut self, now: f64, pref: Option<usize>) -> Option<usize> {
        let i = self.pick(now, pref)?;
        if self.s.mode == Mode::V2 {
            self.picks += 1.0;
            let p = &mut self.p[i];
            p.rank = self.picks;
            p.last_used = Some(now);
            p.in_flight += 1;
        }
        Some(i)
    }

    fn late(&self, i: usize, now: f64, lease: Option<f64>) -> bool {
        self.s.mode == Mode::V2
            && lease.is_some_and(|t| self.cooling(i, now) && self.p[i].started.is_some_and(|s| t <= s))
    }

    fn succeed(&mut self, i: usize, now: f64, lease: Option<f64>) {
        let late = self.late(i, now, lease);
        let mode = self.s.mode;
        let p = &mut self.p[i];
        if lease.is_some() {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        p.last_used = Some(now);
        p.last_success = Some(now);
        if !late {
            if p.until.is_some() {
                p.updated = Some(now);
            }
            p.until = None;
        }
        match (mode, lease) {
            (Mode::V1, _) => p.rank = now,
            (Mode::V2, None) => {
                self.picks += 1.0;
                p.rank = self.picks;
            }
            _ => {}
        }
    }

    /// Returns (cooldown started, late, error count).
    fn fail(
        &mut self,
        i: usize,
        now: f64,
        r: Reason,
        retry: Option<f64>,
        lease: Option<f64>,
    ) -> (Option<f64>, bool, u32) {
        let late = self.late(i, now, lease);
        let cooling = self.cooling(i, now);
        let pol = self.s.policy.get(r);
        let cd = self.s.cooldowns;
        let mode = self.s.mode;
        let p = &mut self.p[i];
        if lease.is_some() {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        if late || pol.schedule == Schedule::None {
            return (None, late, p.error_count);
        }
        if cooling {
            p.error_count += 1;
            p.last_failure = Some(now);
            p.updated = Some(now);
            if mode == Mode::V1 {
                p.reason = Some(r);
            }
            return (None, false, p.error_count);
        }
        if let Some(last) = p.last_failure {
            let counts = mode == Mode::V2 || last != 0.0;
            if counts && now - last > cd.failure_window_ms {
                p.error_count = 0;
            }
        }
        p.error_count += 1;
        p.last_failure = Some(now);
        p.reason = Some(r);
        p.started = Some(now);
        p.long = pol.schedule == Schedule::Long;
        p.updated = Some(now);
        let (cap, step) = match pol.schedule {
            Schedule::Transient => {
                let exp = (p.error_count - 1).min(3);
                (cd.max_rate_limit_cooldown_ms, 60_000.0 * 5f64.powi(exp as i32))
            }
            _ => {
                let exp = (p.error_count - 1).min(10);
                (cd.billing_max_ms, cd.billing_backoff_ms * 2f64.powi(exp as i32))
            }
        };
        let ms = match retry {
            Some(ms) => ms.min(cap),
            None => step.min(cap),
        };
        p.until = Some(now + ms);
        (Some(ms), false, p.error_count)
    }

    fn state(&self, i: usize, now: f64) -> State {
        let p = &self.p[i];
        if !self.cooling(i, now) {
            State::Available
        } else if match self.s.mode {
            Mode::V1 => matches!(p.reason, Some(Reason::Billing | Reason::AuthPermanent)),
            Mode::V2 => p.long,
        } {
            State::Disabled
        } else {
            State::Cooldown
        }
    }

    fn clear(&mut self, i: usize, now: f64) {
        let p = &mut self.p[i];
        if p.error_count != 0 || p.until.is_some() {
            p.updated = Some(now);
        }
        p.until = None;
        p.error_count = 0;
    }

    /// Merges stored records; re-ranks by lastUsed when one changed.
    fn import(&mut self, records: &[(String, Record)]) {
        let mut reorder = false;
        for (id, r) in records {
            let Some(i) = self.ids.iter().position(|x| x == id) else {
                let m = match self.extras.get(id) {
                    Some(mine) => model_merge(mine, r),
                    None => model_merge(r, r),
                };
                self.extras.insert(id.clone(), m);
                continue;
            };
            let p = &mut self.p[i];
            let m = model_merge(&p.record(), r);
            reorder |= m.last_used != p.last_used;
            p.error_count = m.error_count;
            p.last_used = m.last_used;
            p.last_failure = m.last_failure;
            p.last_success = m.last_success;
            p.until = m.cooldown_until;
            p.reason = m.reason;
            p.updated = m.updated_at;
            p.long = m.cooldown_long;
            p.started = m.cooldown_started_at;
        }
        if !reorder {
            return;
        }
        match self.s.mode {
            Mode::V1 => {
                for p in &mut self.p {
                    p.rank = p.last_used.unwrap_or(-1.0);
                }
            }
            Mode::V2 => {
                let mut used: Vec<usize> =
                    (0..self.p.len()).filter(|&i| self.p[i].last_used.is_some()).collect();
                used.sort_by(|&a, &b| {
                    let (pa, pb) = (&self.p[a], &self.p[b]);
                    (pa.last_used, pa.rank, a).partial_cmp(&(pb.last_used, pb.rank, b)).unwrap()
                });
                for (k, &i) in used.iter().enumerate() {
                    self.p[i].rank = (k + 1) as f64;
                }
                self.picks = used.len() as f64;
            }
        }
    }

    fn export(&self) -> BTreeMap<String, Record> {
        let mut out = self.extras.clone();
        for (i, p) in self.p.iter().enumerate() {
            out.insert(self.ids[i].clone(), p.record());
        }
        out
    }

    fn wait(&self, now: f64) -> Option<f64> {
        (0..self.p.len())
            .filter(|&i| self.cooling(i, now))
            .map(|i| self.p[i].until.unwrap() - now)
            .min_by(|a, b| a.partial_cmp(b).unwrap())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Acquire(Option<usize>),
    Succeed(usize),
    Fail(usize, Reason, Option<f64>),
    Release(usize),
    MarkSuccess(usize),
    MarkFailure(usize, Reason, Option<f64>),
    Clear(usize),
    Advance(f64),
    /// Stored records: (id selector, record); selectors past the profiles name unknown ids.
    Import(Vec<(usize, Record)>),
}

fn reason() -> impl Strategy<Value = Reason> {
    (0u8..9).prop_map(|c| Reason::from_code(c).unwrap())
}

/// A stored record near `now` (offsets from the start of the run), to make merges go
/// either way.
fn stored_record() -> impl Strategy<Value = Record> {
    let t = || {
        prop_oneof![
            2 => Just(None),
            3 => (0u32..2_000_000).prop_map(|d| Some(1.7e12 + d as f64)),
            1 => prop::sample::select(vec![0.0, 1.0, 1.7e12]).prop_map(Some),
        ]
    };
    ((0u32..4, t(), t(), t()), (t(), proptest::option::of(reason()), t(), any::<bool>(), t())).prop_map(
        |(
            (error_count, last_used, last_failure, last_success),
            (cooldown_until, reason, updated_at, cooldown_long, cooldown_started_at),
        )| Record {
            error_count,
            last_used,
            last_failure,
            last_success,
            cooldown_until,
            reason,
            updated_at,
            cooldown_long,
            cooldown_started_at,
        },
    )
}

fn retry() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![3 => Just(None), 1 => (0u32..400_000).prop_map(|ms| Some(ms as f64))]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::option::of(0usize..4).prop_map(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Succeed),
        4 => (any::<usize>(), reason(), retry()).prop_map(|(k, r, t)| Op::Fail(k, r, t)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::MarkSuccess),
        2 => (any::<usize>(), reason(), retry()).prop_map(|(k, r, t)| Op::MarkFailure(k, r, t)),
        1 => any::<usize>().prop_map(Op::Clear),
        1 => proptest::collection::vec((0usize..12, stored_record()), 0..5).prop_map(Op::Import),
        4 => prop_oneof![
            4 => (0u32..400_000).prop_map(|d| d as f64),
            1 => (0u32..100_000_000).prop_map(|d| d as f64),
            1 => (1u32..4_000_000).prop_map(|d| -(d as f64)),
        ]
        .prop_map(Op::Advance),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        2 => Just(Policy::v2()),
        1 => proptest::collection::vec((any::<bool>(), 0u8..3), 9).prop_map(|v| {
            let mut p = Policy::v2();
            for (r, (rotate, s)) in Reason::ALL.iter().zip(v) {
                p.set(*r, ReasonPolicy { rotate, schedule: Schedule::from_code(s).unwrap() });
            }
            p
        }),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (any::<bool>(), policy(), 0u32..8_000_000, 0u32..40_000_000, 0u32..90_000_000, 0u32..100_000_000)
        .prop_map(|(v1, policy, a, b, c, d)| Settings {
            mode: if v1 { Mode::V1 } else { Mode::V2 },
            policy: if v1 { Policy::v1() } else { policy },
            cooldowns: Cooldowns {
                max_rate_limit_cooldown_ms: a as f64,
                billing_backoff_ms: b as f64,
                billing_max_ms: c as f64,
                failure_window_ms: d as f64,
            },
        })
}

/// Profiles: (provider 0..3, is fallback).
fn profiles() -> impl Strategy<Value = Vec<(usize, bool)>> {
    let one = (0usize..3, prop::bool::weighted(0.2));
    // Small pools hit every corner; large ones make the heaps several levels deep.
    prop_oneof![3 => proptest::collection::vec(one.clone(), 1..9), 1 => proptest::collection::vec(one, 20..150)]
}

fn run(settings: Settings, defs: Vec<(usize, bool)>, ops: Vec<Op>, start: f64) -> Result<(), TestCaseError> {
    let specs: Vec<ProfileSpec> = defs
        .iter()
        .enumerate()
        .map(|(i, &(prov, fb))| ProfileSpec {
            id: format!("p{i}"),
            provider: format!("prov{prov}"),
            kind: if fb { Kind::Fallback } else { Kind::Primary },
        })
        .collect();
    // The pool orders primaries before fallbacks; the model uses the same order.
    let mut ordered: Vec<(usize, bool)> = defs.iter().copied().filter(|d| !d.1).collect();
    ordered.extend(defs.iter().copied().filter(|d| d.1));
    let mut sorted_specs: Vec<ProfileSpec> =
        specs.iter().filter(|s| s.kind == Kind::Primary).cloned().collect();
    sorted_specs.extend(specs.iter().filter(|s| s.kind == Kind::Fallback).cloned());
    let mut pool = Pool::with_profiles(settings, &sorted_specs).unwrap();
    let rank0 = if settings.mode == Mode::V1 { -1.0 } else { 0.0 };
    let mut model = Model {
        s: settings,
        p: ordered
            .iter()
            .map(|&(provider, fallback)| MProfile {
                provider,
                fallback,
                rank: rank0,
                until: None,
                error_count: 0,
                last_used: None,
                last_failure: None,
                last_success: None,
                reason: None,
                started: None,
                long: false,
                updated: None,
                in_flight: 0,
            })
            .collect(),
        picks: 0.0,
        ids: sorted_specs.iter().map(|s| s.id.clone()).collect(),
        extras: BTreeMap::new(),
    };
    let n = model.p.len();
    let mut now = start;
    let mut leases: Vec<(usize, f64)> = Vec::new();
    for op in ops {
        match op {
            Op::Acquire(pref) => {
                // Provider indices in the pool are interned in order of first appearance.
                let pool_pref = pref.and_then(|p| pool.provider_index(&format!("prov{p}")));
                // A provider no profile has prefers nothing, in the pool and the model alike.
                let got = pool.acquire(now, pool_pref).unwrap().map(|i| i as usize);
                let want = model.acquire(now, pref);
                prop_assert_eq!(got, want, "acquire({:?}) at {}", pref, now);
                if let Some(i) = got {
                    leases.push((i, now));
                }
            }
            Op::Succeed(k) | Op::Fail(k, ..) | Op::Release(k) if leases.is_empty() => {
                let _ = k;
            }
            Op::Succeed(k) => {
                let (i, t) = leases.remove(k % leases.len());
                pool.succeed(i as u32, now, Some(t)).unwrap();
                model.succeed(i, now, Some(t));
            }
            Op::Fail(k, r, retry) => {
                let (i, t) = leases.remove(k % leases.len());
                let f = pool.fail(i as u32, now, r, retry, Some(t)).unwrap();
                let want = model.fail(i, now, r, retry, Some(t));
                prop_assert_eq!((f.cooldown_ms, f.late, f.error_count), want);
            }
            Op::Release(k) => {
                let (i, _) = leases.remove(k % leases.len());
                pool.release(i as u32).unwrap();
                model.p[i].in_flight = model.p[i].in_flight.saturating_sub(1);
            }
            Op::MarkSuccess(k) => {
                pool.succeed((k % n) as u32, now, None).unwrap();
                model.succeed(k % n, now, None);
            }
            Op::MarkFailure(k, r, retry) => {
                let f = pool.fail((k % n) as u32, now, r, retry, None).unwrap();
                let want = model.fail(k % n, now, r, retry, None);
                prop_assert_eq!((f.cooldown_ms, f.late, f.error_count), want);
            }
            Op::Clear(k) => {
                pool.clear_cooldown((k % n) as u32, now).unwrap();
                model.clear(k % n, now);
            }
            Op::Import(recs) => {
                let named: Vec<(String, Record)> = recs
                    .into_iter()
                    .map(|(k, r)| (if k < n { model.ids[k].clone() } else { format!("x{}", k - n) }, r))
                    .collect();
                let unknown = pool.import(named.iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
                prop_assert_eq!(unknown, named.iter().filter(|(id, _)| !model.ids.contains(id)).count());
                model.import(&named);
            }
            Op::Advance(d) => now = (now + d).max(0.0),
        }
        // Compare the whole status and the wait after every step.
        let status = pool.status(now).unwrap();
        for (i, ps) in status.profiles.iter().enumerate() {
            let m = &model.p[i];
            prop_assert_eq!(ps.state, model.state(i, now), "state of {}", i);
            prop_assert_eq!(ps.cooldown_until, m.until);
            prop_assert_eq!(ps.error_count, m.error_count);
            prop_assert_eq!(ps.last_used, m.last_used);
            prop_assert_eq!(ps.last_failure, m.last_failure);
            prop_assert_eq!(ps.last_success, m.last_success);
            prop_assert_eq!(ps.reason, m.reason);
            prop_assert_eq!(ps.in_flight, m.in_flight);
            prop_assert_eq!(pool.is_cooling(i as u32, now).unwrap(), model.cooling(i, now));
        }
        // The numeric columns the wasm binding hands to JS say the same.
        let mut cols = Vec::new();
        pool.write_columns(now, &mut cols).unwrap();
        prop_assert_eq!(cols.len(), n * STATUS_COLUMNS + 5);
        for (i, ps) in status.profiles.iter().enumerate() {
            let row = &cols[i * STATUS_COLUMNS..(i + 1) * STATUS_COLUMNS];
            let num = |v: Option<f64>| v.unwrap_or(f64::NAN);
            let want = [
                ps.state as u8 as f64,
                num(ps.cooldown_until),
                ps.error_count as f64,
                num(ps.last_used),
                num(ps.last_failure),
                num(ps.last_success),
                ps.reason.map_or(-1.0, |r| r.code() as f64),
                ps.in_flight as f64,
            ];
            for (got, want) in row.iter().zip(want) {
                prop_assert!(
                    got == &want || (got.is_nan() && want.is_nan()),
                    "column of {}: {} != {}",
                    i,
                    got,
                    want
                );
            }
        }
        let t = &cols[n * STATUS_COLUMNS..];
        prop_assert_eq!(t[0], status.totals.available as f64);
        prop_assert_eq!(t[1], status.totals.in_cooldown as f64);
        prop_assert_eq!(t[2], status.totals.disabled as f64);
        prop_assert_eq!(t[3], status.totals.unavailable_reason.map_or(-1.0, |r| r.code() as f64));
        prop_assert!(
            t[4] == status.totals.next_available_at.unwrap_or(f64::NAN)
                || t[4].is_nan() && status.totals.next_available_at.is_none()
        );
        let available = (0..n).filter(|&i| !model.cooling(i, now)).count() as u32;
        prop_assert_eq!(status.totals.available, available);
        prop_assert_eq!(pool.wait_ms(now).unwrap(), model.wait(now));
        prop_assert_eq!(pool.export().profiles, model.export());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn pool_agrees_with_the_model(
        settings in settings(),
        defs in profiles(),
        ops in proptest::collection::vec(op(), 1..160),
        start in prop_oneof![Just(0.0), Just(1.7e12), (0u64..(1u64 << 53)).prop_map(|t| t as f64)],
    ) {
        run(settings, defs, ops, start)?;
    }
}

#[test]
fn model_and_pool_agree_on_a_simple_rotation() {
    let defs = vec![(0, false), (0, false), (1, false), (2, true)];
    let ops = vec![
        Op::Acquire(Some(0)),
        Op::Acquire(Some(0)),
        Op::Acquire(Some(0)),
        Op::Fail(0, Reason::RateLimit, None),
        Op::Acquire(None),
        Op::Advance(61_000.0),
        Op::Acquire(Some(1)),
    ];
    run(Settings::v2(), defs, ops, 1.7e12).unwrap();
}
