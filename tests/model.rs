//! Property test: random operation sequences against a small reference model written
//! for clarity (linear scans, no index), comparing every pick, every failure outcome and
//! the full status after every step, in both v1 and v2 modes. Imports of stored records
//! (snapshots, `src/snapshot.rs`) are among the operations: the model merges them with a
//! plain implementation of the rule and re-ranks by `lastUsed`, and the pool's export is
//! compared with the model's records after every step.
//!
//! v2's additions are in the model and the random sequences too: weights (a profile of
//! weight w ranks by the oldest of its last w picks), the priority strategy (ranks never
//! move), custom ladders, calls that name a model (model-scoped rests of a pair
//! (profile, model), widened to the profile when a second model fails on it within the
//! failure window), sticky picks (a session's profile, when available and in the group
//! the call would get) and the recoveries the pool reports (a rest that ended, by time
//! or early).

use std::collections::BTreeMap;

use key_carousel::{
    pair_id, Cooldowns, Kind, Ladder, Mode, Policy, Pool, ProfileSpec, Reason, ReasonPolicy, Record,
    Schedule, Settings, State, Status, Strategy as Order, MAX_TIME_MS, PAIR_COLUMNS, STATUS_MAX_COLUMNS,
    STATUS_TOTALS, STATUS_TRAILER,
};
use proptest::prelude::*;

/// Models named by calls; the pool interns them first, so model k has index k.
const MODELS: usize = 3;

#[derive(Clone, Debug)]
struct MProfile {
    provider: usize,
    fallback: bool,
    weight: usize,
    /// The last `weight` pick numbers, oldest first (0: never picked); the rank is the
    /// oldest (v2 round-robin), or the last success time (v1).
    picks: Vec<f64>,
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
    fn rank(&self) -> f64 {
        self.picks[0]
    }

    /// A use numbered `seq`: it replaces the oldest pick.
    fn use_pick(&mut self, seq: f64) {
        self.picks.remove(0);
        self.picks.push(seq);
    }

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

/// A model-scoped rest of a pair (profile, model).
#[derive(Clone, Debug, Default)]
struct MPair {
    until: Option<f64>,
    error_count: u32,
    last_failure: Option<f64>,
    reason: Option<Reason>,
    started: Option<f64>,
    long: bool,
    updated: Option<f64>,
}

impl MPair {
    fn record(&self) -> Record {
        Record {
            error_count: self.error_count,
            last_failure: self.last_failure,
            cooldown_until: self.until,
            reason: self.reason,
            updated_at: Some(self.updated.unwrap_or(0.0)),
            cooldown_long: self.long,
            cooldown_started_at: self.started,
            ..Record::default()
        }
    }
}

/// A rest of `ms` from `now` ends at `now + ms`, or at 2^53 when that is later (no time past
/// 2^53 is recorded): its end, and its length.
fn end_of_rest(now: f64, ms: f64) -> (f64, f64) {
    let max = key_carousel::MAX_TIME_MS;
    if now + ms > max {
        (max, max - now)
    } else {
        (now + ms, ms)
    }
}

/// The merge rule, written out plainly: timestamps take the maximum; the cooldown group
/// comes whole from the record with the greater key, and carries that key's time.
/// An event's `updatedAt`: `now`, or when the record's last change is not earlier, the
/// smallest f64 above it (kept at 2^53, the latest time).
fn later(prev: Option<f64>, now: f64) -> f64 {
    // Never changed: the record says 0.
    match prev.or(Some(0.0)) {
        Some(p) if p >= now => {
            let next = (1..)
                .map(|k| p.abs() + (k as f64) * f64::EPSILON * p.abs().max(f64::MIN_POSITIVE))
                .find(|&t| t > p)
                .unwrap();
            let next = (0..64).fold(next, |t, _| {
                let mid = p + (t - p) / 2.0;
                if mid > p && mid < t {
                    mid
                } else {
                    t
                }
            });
            if next <= 9_007_199_254_740_992.0 {
                next
            } else {
                p
            }
        }
        _ => now,
    }
}

/// A stored record as a pool takes it in at `now`: a rest that began later than `now` has
/// no start.
fn taken_in(r: &Record, now: f64) -> Record {
    let started = match r.cooldown_started_at {
        Some(s) if s > now => None,
        s => s,
    };
    Record { cooldown_started_at: started, ..*r }
}

/// A kept record of an unknown id is forgotten once every time in it is over 30 days old
/// (one without times counts as of time 0).
fn fresh(r: &Record, now: f64) -> bool {
    let month = 30.0 * 86_400_000.0;
    [r.last_used, r.last_failure, r.last_success, r.cooldown_until, r.updated_at, r.cooldown_started_at]
        .iter()
        .any(|t| t.is_some_and(|t| t >= now - month))
        || now - month <= 0.0
}

/// Whether a pair's record is forgotten at `now`: every time it holds (none: 0) is more
/// than 30 days, and more than the failure window `window`, before `now`.
fn forgotten_pair(r: &Record, now: f64, window: f64) -> bool {
    let month: f64 = 30.0 * 86_400_000.0;
    let latest =
        [r.last_used, r.last_failure, r.last_success, r.cooldown_until, r.updated_at, r.cooldown_started_at]
            .iter()
            .fold(0.0, |m: f64, t| t.map_or(m, |t| m.max(t)));
    latest < now - month.max(window)
}

fn model_merge(a: &Record, b: &Record) -> Record {
    let max = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(f64::MIN).max(y.unwrap_or(f64::MIN))),
    };
    let event = |r: &Record| r.updated_at.or(max(r.last_failure, r.last_success));
    let key = |r: &Record| {
        (
            event(r).unwrap_or(-1.0),
            r.cooldown_until.unwrap_or(f64::INFINITY), // at one event time, no rest wins
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

/// A ladder's step and cap, plainly.
fn ladder_step(l: &Ladder, n: u32) -> f64 {
    match *l {
        Ladder::Steps { len, steps } => steps[(n as usize).min(len as usize) - 1],
        Ladder::Geometric { base_ms, factor, cap_ms } => (base_ms * factor.powi(n as i32 - 1)).min(cap_ms),
    }
}

fn ladder_cap(l: &Ladder) -> f64 {
    match *l {
        Ladder::Steps { len, steps } => steps[len as usize - 1],
        Ladder::Geometric { cap_ms, .. } => cap_ms,
    }
}

/// What a failure did: (cooldown started, late, error count, model-scoped, widened).
type Outcome = (Option<f64>, bool, u32, bool, bool);

#[derive(Clone, Debug)]
struct Model {
    s: Settings,
    p: Vec<MProfile>,
    picks: f64,
    ids: Vec<String>,
    extras: BTreeMap<String, Record>,
    pairs: BTreeMap<(usize, usize), MPair>,
    /// Pairs in the order the pool created them (its status lists them so).
    pair_order: Vec<(usize, usize)>,
    /// The time of each profile's last clearCooldown: an imported model rest whose event
    /// came before it is over.
    cleared: BTreeMap<usize, f64>,
    /// The time of the last markSuccess of a model a profile had no pair for: an imported
    /// rest of that pair whose event came before it is over (its count kept).
    marked: BTreeMap<(usize, usize), f64>,
    /// Rests an import ended (profile, model or u32::MAX), with the reason they were for:
    /// what the pool reports for them, not the reason the import recorded.
    ended_by_import: BTreeMap<(u32, u32), Option<Reason>>,
}

impl Model {
    fn v2(&self) -> bool {
        self.s.mode == Mode::V2
    }

    fn cooling(&self, i: usize, now: f64) -> bool {
        self.p[i].until.is_some_and(|u| u > now)
    }

    /// Creates the pair's history when it has none (in the pool's creation order).
    fn touch_pair(&mut self, key: (usize, usize)) {
        if let std::collections::btree_map::Entry::Vacant(e) = self.pairs.entry(key) {
            e.insert(MPair::default());
            self.pair_order.push(key);
        }
    }

    fn pair_resting(&self, i: usize, m: usize, now: f64) -> bool {
        self.pairs.get(&(i, m)).is_some_and(|p| p.until.is_some_and(|u| u > now))
    }

    fn available(&self, i: usize, model: Option<usize>, now: f64) -> bool {
        !self.cooling(i, now) && !model.is_some_and(|m| self.pair_resting(i, m, now))
    }

    fn group(&self, i: usize, pref: Option<usize>) -> u8 {
        let p = &self.p[i];
        if p.fallback {
            2
        } else if pref.is_none() || pref == Some(p.provider) {
            0
        } else {
            1
        }
    }

    fn pick(&self, now: f64, pref: Option<usize>, model: Option<usize>, excluded: &[usize]) -> Option<usize> {
        (0..self.p.len()).filter(|&i| self.available(i, model, now) && !excluded.contains(&i)).min_by(
            |&a, &b| {
                let (ra, rb) = (self.p[a].rank(), self.p[b].rank());
                (self.group(a, pref), ra).partial_cmp(&(self.group(b, pref), rb)).unwrap().then(a.cmp(&b))
            },
        )
    }

    /// A use of the profile for the v2 round-robin.
    fn use_rank(&mut self, i: usize) {
        if self.s.strategy == Order::RoundRobin {
            self.picks += 1.0;
            let seq = self.picks;
            self.p[i].use_pick(seq);
        }
    }

    fn acquire(
        &mut self,
        now: f64,
        pref: Option<usize>,
        model: Option<usize>,
        sticky: Option<usize>,
        excluded: &[usize],
    ) -> Option<usize> {
        let (model, sticky) = if self.v2() { (model, sticky) } else { (None, None) };
        let best = self.pick(now, pref, model, excluded)?;
        let i = match sticky {
            Some(s)
                if self.available(s, model, now)
                    && !excluded.contains(&s)
                    && self.group(s, pref) == self.group(best, pref) =>
            {
                s
            }
            _ => best,
        };
        if self.v2() {
            self.use_rank(i);
            let p = &mut self.p[i];
            p.last_used = Some(now);
            p.in_flight += 1;
        }
        Some(i)
    }

    fn late(&self, i: usize, now: f64, lease: Option<f64>) -> bool {
        self.v2() && lease.is_some_and(|t| self.cooling(i, now) && self.p[i].started.is_some_and(|s| t <= s))
    }

    fn succeed(&mut self, i: usize, now: f64, lease: Option<f64>, model: Option<usize>) {
        let late = self.late(i, now, lease);
        let mode = self.s.mode;
        let p = &mut self.p[i];
        if lease.is_some() {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        p.last_used = Some(now);
        p.last_success = Some(now);
        // A reported success (no lease) is an event even with no rest to end here; a call's
        // success (v1's mode too) is one when it ends a rest that is running (not one that ended).
        if (!late && p.until.is_some_and(|u| u > now)) || lease.is_none() {
            p.updated = Some(later(p.updated, now));
        }
        if !late {
            p.until = None;
        }
        if lease.is_none() || mode == Mode::V1 {
            p.started = None; // markSuccess ends the incident, as a clear does (v1: any success)
        }
        match (mode, lease) {
            (Mode::V1, _) => p.picks = vec![now],
            (Mode::V2, None) => self.use_rank(i),
            _ => {}
        }
        if let (Some(m), None) = (model, lease) {
            // markSuccess for a model: an event for the pair even with no rest here (it
            // ends another process's rest of it when states merge); with no pair, a mark.
            match self.pairs.get_mut(&(i, m)) {
                Some(pair) => {
                    pair.until = None;
                    pair.started = None;
                    pair.updated = Some(later(pair.updated, now));
                }
                None => {
                    self.marked.insert((i, m), now);
                }
            }
        } else if let Some(m) = model {
            if self.pair_resting(i, m, now) {
                let pair = self.pairs.get_mut(&(i, m)).unwrap();
                let late = lease.is_some_and(|t| pair.started.is_some_and(|s| t <= s));
                if !late {
                    pair.until = None;
                    pair.updated = Some(later(pair.updated, now));
                }
            }
        }
    }

    fn rest_ms(&self, schedule: Schedule, count: u32, retry: Option<f64>) -> f64 {
        let cd = self.s.cooldowns;
        let (ladder, cap, step) = match schedule {
            Schedule::Transient => {
                let exp = (count - 1).min(3);
                (cd.transient, cd.max_rate_limit_cooldown_ms, 60_000.0 * 5f64.powi(exp as i32))
            }
            _ => {
                let exp = (count - 1).min(10);
                (cd.long, cd.billing_max_ms, cd.billing_backoff_ms * 2f64.powi(exp as i32))
            }
        };
        let (cap, step) = match ladder {
            Some(l) => (ladder_cap(&l), ladder_step(&l, count)),
            None => (cap, step.min(cap)),
        };
        match retry {
            Some(ms) => ms.min(cap),
            None => step,
        }
    }

    fn fail(
        &mut self,
        i: usize,
        now: f64,
        r: Reason,
        retry: Option<f64>,
        lease: Option<f64>,
        model: Option<usize>,
    ) -> Outcome {
        // A call that began before the profile's last rest (on or over): that incident, late.
        let late = self.v2() && lease.is_some_and(|t| self.p[i].started.is_some_and(|s| t <= s));
        let cooling = self.cooling(i, now);
        let pol = self.s.policy.get(r);
        let window = self.s.cooldowns.failure_window_ms;
        let mode = self.s.mode;
        let p = &mut self.p[i];
        if lease.is_some() {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        if late || pol.schedule == Schedule::None {
            return (None, late, p.error_count, false, false);
        }
        // The rest begins no earlier than the failing call did (the clock may have stepped back).
        let started = lease.map_or(now, |t| t.max(now));
        if let Some(m) = model.filter(|_| mode == Mode::V2 && pol.per_model && !cooling) {
            // A call that began before the pair's last rest: that incident, late.
            if let Some(q) = self.pairs.get(&(i, m)) {
                if lease.is_some_and(|t| q.started.is_some_and(|s| t <= s)) {
                    return (None, true, q.error_count, true, false);
                }
            }
            // A second model failing on the profile within the window rests the profile; a
            // model that does not exist is no evidence either way.
            let nf = Some(Reason::ModelNotFound);
            let widen = r != Reason::ModelNotFound
                && self.pairs.iter().any(|(&(pi, pm), q)| {
                    pi == i
                        && pm != m
                        && q.error_count > 0
                        && q.last_failure.is_some_and(|t| now - t <= window)
                        && q.reason != nf
                });
            if widen {
                let (cd, late, count, _, _) = self.fail_key(i, now, started, r, retry, false);
                return (cd, late, count, false, true);
            }
            self.touch_pair((i, m));
            let resting = self.pair_resting(i, m, now);
            let ms = self.rest_ms(pol.schedule, self.pairs[&(i, m)].error_count.saturating_add(1), retry);
            let ms_reset = self.rest_ms(pol.schedule, 1, retry);
            let q = self.pairs.get_mut(&(i, m)).unwrap();
            if resting {
                q.error_count += 1;
                q.last_failure = Some(now);
                q.updated = Some(later(q.updated, now));
                return (None, false, q.error_count, true, false);
            }
            let reset = q.last_failure.is_some_and(|t| now - t > window);
            q.error_count = if reset { 1 } else { q.error_count + 1 };
            let ms = if reset { ms_reset } else { ms };
            q.last_failure = Some(now);
            q.reason = Some(r);
            q.started = Some(started);
            q.long = pol.schedule == Schedule::Long;
            q.updated = Some(later(q.updated, now));
            if ms == 0.0 {
                q.started = None; // a rest of 0 ms is none: no incident
            }
            let (until, ms) = end_of_rest(now, ms);
            q.until = Some(until);
            return (Some(ms), false, q.error_count, true, false);
        }
        self.fail_key(i, now, started, r, retry, cooling)
    }

    fn fail_key(
        &mut self,
        i: usize,
        now: f64,
        started: f64,
        r: Reason,
        retry: Option<f64>,
        cooling: bool,
    ) -> Outcome {
        let pol = self.s.policy.get(r);
        let window = self.s.cooldowns.failure_window_ms;
        let mode = self.s.mode;
        let p = &mut self.p[i];
        if cooling {
            p.error_count += 1;
            p.last_failure = Some(now);
            p.updated = Some(later(p.updated, now));
            if mode == Mode::V1 {
                p.reason = Some(r);
            }
            return (None, false, p.error_count, false, false);
        }
        if let Some(last) = p.last_failure {
            let counts = mode == Mode::V2 || last != 0.0;
            if counts && now - last > window {
                p.error_count = 0;
            }
        }
        p.error_count += 1;
        p.last_failure = Some(now);
        p.reason = Some(r);
        p.started = Some(started);
        p.long = pol.schedule == Schedule::Long;
        p.updated = Some(later(p.updated, now));
        let count = p.error_count;
        let ms = self.rest_ms(pol.schedule, count, retry);
        if ms == 0.0 {
            self.p[i].started = None; // a rest of 0 ms is none: no incident
        }
        let (until, ms) = end_of_rest(now, ms);
        self.p[i].until = Some(until);
        (Some(ms), false, count, false, false)
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
        // Always an event: it ends rests this pool has not seen when states merge.
        let p = &mut self.p[i];
        p.updated = Some(later(p.updated, now));
        p.until = None;
        p.error_count = 0;
        p.started = None; // the incident is over: later failures count
        self.cleared.insert(i, now);
        for (_, q) in self.pairs.iter_mut().filter(|((pi, _), _)| *pi == i) {
            q.updated = Some(later(q.updated, now));
            q.until = None;
            q.error_count = 0;
            q.started = None;
        }
    }

    /// Merges stored records; re-ranks by lastUsed when one changed.
    fn import(&mut self, records: &[(String, Record)], now: f64) {
        let mut reorder = false;
        // First, pairs whose history is past the horizon lose it (as if they had none).
        let window = self.s.cooldowns.failure_window_ms;
        for q in self.pairs.values_mut() {
            if forgotten_pair(&q.record(), now, window) {
                *q = MPair::default();
            }
        }
        for (id, r) in records {
            let known_pair = id.split_once('\u{1}').and_then(|(pid, model)| {
                let i = self.ids.iter().position(|x| x == pid)?;
                let m = (0..MODELS).find(|&m| format!("m{m}") == model)?;
                Some((i, m))
            });
            let r =
                if id.contains('\u{1}') { Record { last_used: None, last_success: None, ..*r } } else { *r };
            if let Some(key) = known_pair {
                // A stored pair record past the horizon is not taken in.
                if forgotten_pair(&r, now, window) {
                    continue;
                }
                self.touch_pair(key);
                let cleared = self.cleared.get(&key.0).copied();
                let q = self.pairs.get_mut(&key).unwrap();
                let mut m = model_merge(&q.record(), &taken_in(&r, now));
                let t = m.updated_at.or(match (m.last_failure, m.last_success) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                });
                let marked = self.marked.get(&key).copied();
                if let Some(t) = t {
                    let rest = m.cooldown_until.is_some();
                    if let Some(c) = cleared.filter(|&c| t <= c && (rest || m.error_count != 0)) {
                        // The clear came after that rest's event: it is over.
                        m = Record {
                            cooldown_until: None,
                            error_count: 0,
                            cooldown_started_at: None,
                            updated_at: Some(later(Some(t), c)),
                            ..m
                        };
                    } else if let Some(c) = marked.filter(|&c| t <= c && rest) {
                        // So did the markSuccess: over, the count kept.
                        m = Record {
                            cooldown_until: None,
                            cooldown_started_at: None,
                            updated_at: Some(later(Some(t), c)),
                            ..m
                        };
                    }
                }
                if q.until.is_some_and(|u| u > now) && !m.cooldown_until.is_some_and(|u| u > now) {
                    self.ended_by_import.insert((key.0 as u32, key.1 as u32), q.reason);
                }
                q.error_count = m.error_count;
                q.last_failure = m.last_failure;
                q.until = m.cooldown_until;
                q.reason = m.reason;
                q.updated = m.updated_at;
                q.long = m.cooldown_long;
                q.started = m.cooldown_started_at;
                continue;
            }
            let Some(i) = self.ids.iter().position(|x| x == id) else {
                // A record of an id the pool does not have is not taken in once stale, and a
                // kept one that went stale is replaced.
                if fresh(&r, now) {
                    let m = match self.extras.get(id) {
                        Some(mine) if fresh(mine, now) => model_merge(mine, &r),
                        _ => model_merge(&r, &r),
                    };
                    self.extras.insert(id.clone(), m);
                }
                continue;
            };
            let p = &mut self.p[i];
            let m = model_merge(&p.record(), &taken_in(&r, now));
            reorder |= m.last_used != p.last_used;
            if p.until.is_some_and(|u| u > now) && !m.cooldown_until.is_some_and(|u| u > now) {
                self.ended_by_import.insert((i as u32, u32::MAX), p.reason);
            }
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
        self.extras.retain(|_, r| fresh(r, now));
        if !reorder {
            return;
        }
        match (self.s.mode, self.s.strategy) {
            (Mode::V1, _) => {
                for p in &mut self.p {
                    p.picks = vec![p.last_used.unwrap_or(-1.0)];
                }
            }
            (Mode::V2, Order::Priority) => {}
            (Mode::V2, Order::RoundRobin) => {
                let mut used: Vec<usize> =
                    (0..self.p.len()).filter(|&i| self.p[i].last_used.is_some()).collect();
                used.sort_by(|&a, &b| {
                    let (pa, pb) = (&self.p[a], &self.p[b]);
                    (pa.last_used, pa.rank(), a).partial_cmp(&(pb.last_used, pb.rank(), b)).unwrap()
                });
                for (k, &i) in used.iter().enumerate() {
                    let w = self.p[i].weight;
                    self.p[i].picks = vec![(k + 1) as f64; w];
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
        for (&(i, m), q) in &self.pairs {
            out.insert(pair_id(&self.ids[i], &format!("m{m}")), q.record());
        }
        out
    }

    /// How long until a profile is available to a call naming `model`: 0 when one is;
    /// else the soonest time some profile is free of its own rest and of the pair's.
    fn wait_for(&self, now: f64, model: Option<usize>, excluded: &[usize]) -> Option<f64> {
        let free = |t: Option<f64>| t.filter(|&t| t > now).unwrap_or(now);
        let pair = |i: usize| model.and_then(|m| self.pairs.get(&(i, m))).and_then(|q| q.until);
        let best = (0..self.p.len())
            .filter(|i| !excluded.contains(i))
            .map(|i| free(self.p[i].until).max(free(pair(i))))
            .fold(f64::INFINITY, f64::min);
        (best < f64::INFINITY).then_some(best - now)
    }

    /// How long until the soonest resting profile recovers; `None` when none rests.
    fn wait(&self, now: f64) -> Option<f64> {
        (0..self.p.len())
            .filter(|&i| self.cooling(i, now))
            .map(|i| self.p[i].until.unwrap() - now)
            .min_by(|a, b| a.partial_cmp(b).unwrap())
    }

    /// The rests in progress at `now`: profiles, and pairs (profile, model).
    fn resting(&self, now: f64) -> (Vec<usize>, Vec<(usize, usize)>) {
        let profiles = (0..self.p.len()).filter(|&i| self.cooling(i, now)).collect();
        let pairs = self.pair_order.iter().copied().filter(|&(i, m)| self.pair_resting(i, m, now)).collect();
        (profiles, pairs)
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// (preferred provider, model, sticky profile selector)
    Acquire(Option<usize>, Option<usize>, Option<usize>),
    /// Acquire for a run that must not get the profiles selected (a run's keys that
    /// failed it with no rest; selectors modulo the profiles, repeats allowed).
    AcquireExcluding(Option<usize>, Option<usize>, Option<usize>, Vec<usize>),
    Succeed(usize),
    Fail(usize, Reason, Option<f64>),
    Release(usize),
    MarkSuccess(usize, Option<usize>),
    MarkFailure(usize, Reason, Option<f64>, Option<usize>),
    Clear(usize),
    Advance(f64),
    /// Stored records: (id selector, model selector, record); selectors past the profiles
    /// name unknown ids; with a model selector, the record is the pair's.
    Import(Vec<(usize, Option<usize>, Record)>),
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
    prop_oneof![6 => Just(None), 2 => (0u32..400_000).prop_map(|ms| Some(ms as f64)), 1 => Just(Some(0.0))]
}

fn model_sel() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 2 => (0..MODELS).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::option::of(0usize..4), model_sel(), prop_oneof![3 => Just(None), 1 => any::<usize>().prop_map(Some)])
            .prop_map(|(p, m, s)| Op::Acquire(p, m, s)),
        2 => (proptest::option::of(0usize..4), model_sel(), proptest::option::of(any::<usize>()), prop::collection::vec(any::<usize>(), 0..4))
            .prop_map(|(p, m, s, x)| Op::AcquireExcluding(p, m, s, x)),
        3 => any::<usize>().prop_map(Op::Succeed),
        4 => (any::<usize>(), reason(), retry()).prop_map(|(k, r, t)| Op::Fail(k, r, t)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => (any::<usize>(), model_sel()).prop_map(|(k, m)| Op::MarkSuccess(k, m)),
        2 => (any::<usize>(), reason(), retry(), model_sel()).prop_map(|(k, r, t, m)| Op::MarkFailure(k, r, t, m)),
        1 => any::<usize>().prop_map(Op::Clear),
        1 => proptest::collection::vec((0usize..12, proptest::option::of(0usize..MODELS + 1), stored_record()), 0..5)
            .prop_map(Op::Import),
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
        1 => proptest::collection::vec((any::<bool>(), 0u8..3, any::<bool>()), 9).prop_map(|v| {
            let mut p = Policy::v2();
            for (r, (rotate, s, per_model)) in Reason::ALL.iter().zip(v) {
                p.set(*r, ReasonPolicy { rotate, schedule: Schedule::from_code(s).unwrap(), per_model });
            }
            p
        }),
    ]
}

fn ladder() -> impl Strategy<Value = Option<Ladder>> {
    prop_oneof![
        3 => Just(None),
        1 => proptest::collection::vec(0u32..3_000_000, 1..5).prop_map(|mut v| {
            v.sort();
            let steps: Vec<f64> = v.into_iter().map(f64::from).collect();
            Some(Ladder::steps("schedules.transient", &steps).unwrap())
        }),
        1 => (0u32..100_000, 1u32..5, 0u32..10_000_000).prop_map(|(base, factor, extra)| {
            let base = base as f64;
            Some(Ladder::geometric("schedules.long", base, factor as f64, base + extra as f64).unwrap())
        }),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        (any::<bool>(), policy(), prop::bool::weighted(0.25)),
        (0u32..8_000_000, 0u32..40_000_000, 0u32..90_000_000, 0u32..100_000_000),
        (ladder(), ladder()),
    )
        .prop_map(|((v1, policy, priority), (a, b, c, d), (transient, long))| Settings {
            mode: if v1 { Mode::V1 } else { Mode::V2 },
            policy: if v1 { Policy::v1() } else { policy },
            strategy: if priority && !v1 { Order::Priority } else { Order::RoundRobin },
            cooldowns: Cooldowns {
                max_rate_limit_cooldown_ms: a as f64,
                billing_backoff_ms: b as f64,
                billing_max_ms: c as f64,
                failure_window_ms: d as f64,
                transient: if v1 { None } else { transient },
                long: if v1 { None } else { long },
            },
        })
}

/// Profiles: (provider 0..3, is fallback, weight).
fn profiles() -> impl Strategy<Value = Vec<(usize, bool, usize)>> {
    let one = (0usize..3, prop::bool::weighted(0.2), prop_oneof![3 => Just(1usize), 1 => 1usize..4]);
    // Small pools hit every corner; large ones make the heaps several levels deep.
    prop_oneof![3 => proptest::collection::vec(one.clone(), 1..9), 1 => proptest::collection::vec(one, 20..150)]
}

fn run(
    settings: Settings,
    defs: Vec<(usize, bool, usize)>,
    ops: Vec<Op>,
    start: f64,
) -> Result<(), TestCaseError> {
    // The pool orders primaries before fallbacks; the model uses the same order.
    let mut ordered: Vec<(usize, bool, usize)> = defs.iter().copied().filter(|d| !d.1).collect();
    ordered.extend(defs.iter().copied().filter(|d| d.1));
    let specs: Vec<ProfileSpec> = ordered
        .iter()
        .enumerate()
        .map(|(i, &(prov, fb, _))| ProfileSpec {
            id: format!("p{i}"),
            provider: format!("prov{prov}"),
            kind: if fb { Kind::Fallback } else { Kind::Primary },
        })
        .collect();
    let mut pool = Pool::with_profiles(settings, &specs).unwrap();
    // Weights only mean something to the v2 round-robin; set them anyway.
    let weights: Vec<u32> = ordered.iter().map(|d| d.2 as u32).collect();
    pool.set_weights(&weights).unwrap();
    for m in 0..MODELS {
        prop_assert_eq!(pool.model_index(&format!("m{m}")).unwrap(), m as u32);
    }
    pool.track_recoveries(true);
    let v2rr = settings.mode == Mode::V2 && settings.strategy == Order::RoundRobin;
    let rank0 = if settings.mode == Mode::V1 { -1.0 } else { 0.0 };
    let mut model = Model {
        s: settings,
        p: ordered
            .iter()
            .map(|&(provider, fallback, weight)| MProfile {
                provider,
                fallback,
                weight: if v2rr { weight } else { 1 },
                picks: vec![rank0; if v2rr { weight } else { 1 }],
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
        ids: specs.iter().map(|s| s.id.clone()).collect(),
        extras: BTreeMap::new(),
        pairs: BTreeMap::new(),
        cleared: BTreeMap::new(),
        marked: BTreeMap::new(),
        ended_by_import: BTreeMap::new(),
        pair_order: Vec::new(),
    };
    let n = model.p.len();
    let mut now = start;
    let mut leases: Vec<(usize, f64, Option<usize>)> = Vec::new();
    let mut resting_before = model.resting(now);
    // Rests resting again after the clock stepped back, with the end they had then.
    let mut again: BTreeMap<(u32, u32), Option<f64>> = BTreeMap::new();
    let as_u32 = |m: Option<usize>| m.map(|m| m as u32);
    for op in ops {
        match op {
            Op::Acquire(pref, m, sticky) => {
                // Provider indices in the pool are interned in order of first appearance.
                let pool_pref = pref.and_then(|p| pool.provider_index(&format!("prov{p}")));
                // A provider no profile has prefers nothing, in the pool and the model alike.
                let sticky = sticky.map(|k| k % n);
                let got =
                    pool.acquire_for(now, pool_pref, as_u32(m), as_u32(sticky)).unwrap().map(|i| i as usize);
                let want = model.acquire(now, pref, m, sticky, &[]);
                prop_assert_eq!(got, want, "acquire({:?}, {:?}, {:?}) at {}", pref, m, sticky, now);
                if let Some(i) = got {
                    leases.push((i, now, m));
                }
            }
            Op::AcquireExcluding(pref, m, sticky, excluded) => {
                let pool_pref = pref.and_then(|p| pool.provider_index(&format!("prov{p}")));
                let sticky = sticky.map(|k| k % n);
                let excluded: Vec<usize> = excluded.iter().map(|k| k % n).collect();
                let ex32: Vec<u32> = excluded.iter().map(|&i| i as u32).collect();
                let got = pool
                    .acquire_excluding(now, pool_pref, as_u32(m), as_u32(sticky), &ex32)
                    .unwrap()
                    .map(|i| i as usize);
                let want = model.acquire(now, pref, m, sticky, &excluded);
                prop_assert_eq!(
                    got,
                    want,
                    "acquire({:?}, {:?}, {:?}) excluding {:?} at {}",
                    pref,
                    m,
                    sticky,
                    excluded,
                    now
                );
                if let Some(i) = got {
                    leases.push((i, now, m));
                }
            }
            Op::Succeed(k) | Op::Fail(k, ..) | Op::Release(k) if leases.is_empty() => {
                let _ = k;
            }
            Op::Succeed(k) => {
                let (i, t, m) = leases.remove(k % leases.len());
                pool.succeed_for(i as u32, now, Some(t), as_u32(m)).unwrap();
                model.succeed(i, now, Some(t), m);
            }
            Op::Fail(k, r, retry) => {
                let (i, t, m) = leases.remove(k % leases.len());
                let f = pool.fail_for(i as u32, now, r, retry, Some(t), as_u32(m)).unwrap();
                let want = model.fail(i, now, r, retry, Some(t), m);
                prop_assert_eq!((f.cooldown_ms, f.late, f.error_count, f.model_scoped, f.widened), want);
            }
            Op::Release(k) => {
                let (i, _, _) = leases.remove(k % leases.len());
                pool.release(i as u32).unwrap();
                model.p[i].in_flight = model.p[i].in_flight.saturating_sub(1);
            }
            Op::MarkSuccess(k, m) => {
                pool.succeed_for((k % n) as u32, now, None, as_u32(m)).unwrap();
                model.succeed(k % n, now, None, m);
            }
            Op::MarkFailure(k, r, retry, m) => {
                let f = pool.fail_for((k % n) as u32, now, r, retry, None, as_u32(m)).unwrap();
                let want = model.fail(k % n, now, r, retry, None, m);
                prop_assert_eq!((f.cooldown_ms, f.late, f.error_count, f.model_scoped, f.widened), want);
            }
            Op::Clear(k) => {
                pool.clear_cooldown((k % n) as u32, now).unwrap();
                model.clear(k % n, now);
            }
            Op::Import(recs) => {
                let named: Vec<(String, Record)> = recs
                    .into_iter()
                    .map(|(k, m, r)| {
                        let id = if k < n { model.ids[k].clone() } else { format!("x{}", k - n) };
                        // Model selector MODELS names a model no call named (the pool interns it).
                        (m.map_or(id.clone(), |m| pair_id(&id, &format!("m{m}"))), r)
                    })
                    .collect();
                // Records of a model the harness does not know go to the extras in the model;
                // the pool interns the name and keeps the pair: compare only known ones.
                // A stored snapshot names each id once.
                let mut named: Vec<(String, Record)> =
                    named.into_iter().filter(|(id, _)| !id.ends_with(&format!("m{MODELS}"))).collect();
                let mut seen = std::collections::BTreeSet::new();
                named.retain(|(id, _)| seen.insert(id.clone()));
                let unknown = pool.import(named.iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
                let want_unknown = named
                    .iter()
                    .filter(|(id, _)| !model.ids.contains(&id.split('\u{1}').next().unwrap().to_string()))
                    .count();
                prop_assert_eq!(unknown, want_unknown);
                model.import(&named, now);
            }
            Op::Advance(d) => {
                let before = now;
                now = (now + d).max(0.0);
                if now < before {
                    // Rests the clock stepped back into: they ended once already, and each
                    // rest recovers once (the same rest: until its end changes).
                    let resting = model.resting(now);
                    for &i in resting.0.iter().filter(|i| !resting_before.0.contains(i)) {
                        again.entry((i as u32, u32::MAX)).or_insert(model.p[i].until);
                    }
                    for &(i, m) in resting.1.iter().filter(|p| !resting_before.1.contains(p)) {
                        again.entry((i as u32, m as u32)).or_insert(model.pairs[&(i, m)].until);
                    }
                }
            }
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
        let pairs: Vec<(usize, usize, u32, Option<Reason>, f64, State)> = status
            .models
            .iter()
            .map(|c| {
                (c.profile as usize, c.model as usize, c.error_count, c.reason, c.cooldown_until, c.state)
            })
            .collect();
        let want_pairs: Vec<(usize, usize, u32, Option<Reason>, f64, State)> = model
            .resting(now)
            .1
            .into_iter()
            .map(|(i, m)| {
                let q = &model.pairs[&(i, m)];
                let state = if q.long { State::Disabled } else { State::Cooldown };
                (i, m, q.error_count, q.reason, q.until.unwrap(), state)
            })
            .collect();
        prop_assert_eq!(&pairs, &want_pairs);
        // The soonest end of a rest in progress, and the status is the same until then.
        let (resting_now, pairs_now) = model.resting(now);
        let want_changes = resting_now
            .iter()
            .map(|&i| model.p[i].until.unwrap())
            .chain(pairs_now.iter().map(|p| model.pairs[p].until.unwrap()))
            .reduce(f64::min);
        prop_assert_eq!(status.changes_at, want_changes);
        let still = |t: f64| -> Result<(), TestCaseError> {
            let mut later = pool.status(t).unwrap();
            for (p, q) in later.profiles.iter_mut().zip(&status.profiles) {
                p.remaining_ms = q.remaining_ms;
            }
            for (p, q) in later.models.iter_mut().zip(&status.models) {
                p.remaining_ms = q.remaining_ms;
            }
            prop_assert_eq!(&later, &status, "status at {} from {}", t, now);
            Ok(())
        };
        // The pool takes times up to MAX_TIME_MS only; a rest may end beyond it (a long
        // cooldown asked for near the end of time), and is then never seen to end.
        match status.changes_at {
            Some(at) => {
                prop_assert!(at > now);
                // Halfway (rounded: it may round up to `at` itself, where ms are ulps), and
                // the last time before `at`.
                let half = now + (at - now) / 2.0;
                if half < at {
                    still(half.min(MAX_TIME_MS))?;
                }
                still(f64::from_bits(at.to_bits() - 1).max(now).min(MAX_TIME_MS))?;
                if at <= MAX_TIME_MS {
                    let after = pool.status(at).unwrap();
                    prop_assert!(
                        after.profiles.iter().zip(&status.profiles).any(|(a, b)| a.state != b.state)
                            || after.models.len() < status.models.len(),
                        "a rest ends at {}",
                        at
                    );
                }
            }
            None => still((now + 1e12).min(MAX_TIME_MS))?,
        }
        // The numeric columns the wasm binding hands to JS say the same.
        let mut cols = Vec::new();
        pool.write_columns(now, &mut cols).unwrap();
        prop_assert!(
            cols.len()
                <= n * STATUS_MAX_COLUMNS + STATUS_TOTALS + 1 + pairs.len() * PAIR_COLUMNS + STATUS_TRAILER
        );
        prop_assert_eq!(Status::from_columns(&cols, n, now), Some(status.clone()));
        let available = (0..n).filter(|&i| !model.cooling(i, now)).count() as u32;
        prop_assert_eq!(status.totals.available, available);
        prop_assert_eq!(pool.wait_ms(now).unwrap(), model.wait(now));
        prop_assert_eq!(pool.wait_ms_for(now, None).unwrap(), model.wait_for(now, None, &[]));
        for m in 0..MODELS {
            let (got, want) =
                (pool.wait_ms_for(now, Some(m as u32)).unwrap(), model.wait_for(now, Some(m), &[]));
            prop_assert_eq!(got, want, "wait for m{}", m);
        }
        // A run's excluded profiles (sorted): the first, the first half, all.
        for k in [1, n.div_ceil(2), n] {
            let excluded: Vec<usize> = (0..k).collect();
            let ex32: Vec<u32> = (0..k as u32).collect();
            for m in [None, Some(0)] {
                let got = pool.wait_ms_excluding(now, m.map(|m: usize| m as u32), &ex32).unwrap();
                prop_assert_eq!(
                    got,
                    model.wait_for(now, m, &excluded),
                    "wait for {:?} excluding {:?}",
                    m,
                    excluded
                );
            }
        }
        prop_assert_eq!(pool.export().profiles, model.export());
        // The rests that ended since the last step: by time, or cleared early; a rest the
        // clock stepped back into does not end twice.
        let resting = model.resting(now);
        let mut want: Vec<(u32, u32)> = resting_before
            .0
            .iter()
            .filter(|i| !resting.0.contains(i))
            .map(|&i| (i as u32, u32::MAX))
            .chain(
                resting_before
                    .1
                    .iter()
                    .filter(|p| !resting.1.contains(p))
                    .map(|&(i, m)| (i as u32, m as u32)),
            )
            .filter(|k| again.remove(k).is_none())
            .collect();
        // Resting on with another end: another rest, whose end will be new.
        again.retain(|&(i, m), until| {
            let now_until = if m == u32::MAX {
                model.p[i as usize].until
            } else {
                model.pairs[&(i as usize, m as usize)].until
            };
            now_until == *until
        });
        let taken = pool.take_recovered(now).unwrap();
        let mut got: Vec<(u32, u32)> = taken.iter().map(|&(i, m, _)| (i, m)).collect();
        want.sort();
        got.sort();
        prop_assert_eq!(&got, &want, "recoveries at {}", now);
        // What each was for: the profile's reason, or the pair's (as it was before the import
        // that ended it).
        let ended_by_import = core::mem::take(&mut model.ended_by_import);
        for &(i, m, reason) in &taken {
            let want = match ended_by_import.get(&(i, m)) {
                Some(&r) => r,
                None if m == u32::MAX => model.p[i as usize].reason,
                None => model.pairs[&(i as usize, m as usize)].reason,
            };
            prop_assert_eq!(reason, want, "reason of {:?}", (i, m));
        }
        resting_before = resting;
    }
    Ok(())
}

/// Cases per property: 2,000, or `KC_MODEL_CASES` (`npm run fuzz` raises it).
fn config() -> ProptestConfig {
    let cases = std::env::var("KC_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

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
    let defs = vec![(0, false, 1), (0, false, 1), (1, false, 1), (2, true, 1)];
    let ops = vec![
        Op::Acquire(Some(0), None, None),
        Op::Acquire(Some(0), None, None),
        Op::Acquire(Some(0), None, None),
        Op::Fail(0, Reason::RateLimit, None),
        Op::Acquire(None, None, None),
        Op::Advance(61_000.0),
        Op::Acquire(Some(1), None, None),
    ];
    run(Settings::v2(), defs, ops, 1.7e12).unwrap();
}

#[test]
fn model_and_pool_agree_on_model_scoped_rests() {
    let defs = vec![(0, false, 1), (0, false, 1)];
    let ops = vec![
        Op::Acquire(None, Some(0), None),
        Op::Fail(0, Reason::RateLimit, None), // p0 rests for m0 only
        Op::Acquire(None, Some(0), None),     // p1
        Op::Acquire(None, Some(1), None),     // p0, for m1
        Op::Fail(1, Reason::Timeout, None),   // a second model on p0: the whole profile
        Op::Acquire(None, None, Some(0)),     // p1 (p0 rests)
        Op::Advance(61_000.0),
        Op::Acquire(None, Some(0), Some(1)), // sticky p1
    ];
    run(Settings::v2(), defs, ops, 1.7e12).unwrap();
}
