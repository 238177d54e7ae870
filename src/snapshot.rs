//! Snapshots: the persisted form of a pool's state, and the one merge rule every store
//! uses.
//!
//! This module owns
//! - [`Record`], the per-profile record that is stored (v1's fields `errorCount`,
//!   `lastUsed`, `lastFailure`, `lastSuccess`, `cooldownUntil`, `lastFailureReason`, plus
//!   v2's `updatedAt`, `cooldownLong`, `cooldownStartedAt`), and its numeric column form
//!   (how records cross the wasm boundary: the JS layer parses and validates the stored
//!   JSON and hands over numbers; [`Record::from_columns`] checks them again, so no input
//!   can make the core misbehave);
//! - [`merge`], the merge of two records, and [`Snapshot::merge`], of two snapshots;
//! - the pool's [`Pool::export`] and [`Pool::import`] (import merges, re-indexes the
//!   selection and keeps records of ids the pool does not have, for re-export, until they
//!   are [`FORGET_AFTER_MS`] past their last time: [`Record::stale`]);
//! - the records of model-scoped rests: one [`Record`] per pair (profile, model), whose
//!   `lastUsed` and `lastSuccess` are always absent, under the id
//!   `<profile id>\u{1}<model>` ([`pair_id`]; real ids hold no control characters), so
//!   they are merged, kept and exported like any record, until [`Pool::pair_forgotten`]
//!   (30 days, or the failure window, past their last time). On disk they sit in the
//!   profile's record, under `models: { <model>: {...} }`, which key-carousel 1 ignores.
//!
//! # The merge rule
//! Per id: `lastUsed`, `lastFailure` and `lastSuccess` take the maximum (absent < any
//! number). The *cooldown group* — `cooldownUntil`, `lastFailureReason`, `errorCount`,
//! `cooldownLong`, `cooldownStartedAt`, `updatedAt` — is taken whole from the record whose
//! key is greater, compared lexicographically:
//!
//! ```text
//! ( updatedAt ?? max(lastFailure, lastSuccess) ?? -1,   // the time of its last event
//!   cooldownUntil ?? +inf, errorCount, lastFailureReason ?? "",
//!   cooldownLong (false < true), cooldownStartedAt ?? -1 )
//! ```
//!
//! At the same event time a record without a rest wins: key-carousel 1 records no time
//! for `clearCooldown`, so its cleared record ties with the rest it cleared, and must win
//! for v1 and v2 processes to share a file (SPEC §7).
//!
//! and the merged record's `updatedAt` is the winner's first key component (absent when
//! that is -1). The last two components make the key a total order over cooldown groups
//! (without them two records that tie on the first four would merge differently in each
//! order), and writing the first component back into `updatedAt` keeps the merged
//! record's key equal to the winner's (without it, a record with no `updatedAt` — as v1
//! writes them — would get a later key from the other record's timestamps, and the merge
//! would not be associative). With both, merging is commutative, associative and
//! idempotent (`merge(a, a)` is `a` with `updatedAt` filled in, and every record the
//! pool exports after an import is in that form); `tests/snapshot.rs` checks it. Other
//! stores (a Redis Lua script, a KV read-merge-write) implement exactly this rule.

use alloc::collections::BTreeMap;
use core::cmp::Ordering;

use crate::prelude::*;

use crate::config::{check_time, Mode, Strategy};
use crate::pool::{mark_key, stamp, Error, Pool};
use crate::reason::Reason;

/// One profile's persisted state. Times are ms since the epoch; `None` is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Record {
    /// `errorCount`: failures in a row.
    pub error_count: u32,
    /// `lastUsed`: the last pick (v2) or success (v1).
    pub last_used: Option<f64>,
    /// `lastFailure`: the last failure that counted.
    pub last_failure: Option<f64>,
    /// `lastSuccess`.
    pub last_success: Option<f64>,
    /// The recorded end of the last cooldown (possibly past), as v1 stores it.
    pub cooldown_until: Option<f64>,
    /// `lastFailureReason`.
    pub reason: Option<Reason>,
    /// When the cooldown group last changed.
    pub updated_at: Option<f64>,
    /// The cooldown is on the long schedule (the profile is `disabled` while it lasts).
    pub cooldown_long: bool,
    /// `cooldownStartedAt`: when the last cooldown began.
    pub cooldown_started_at: Option<f64>,
}

fn time(x: f64) -> Option<f64> {
    check_time(x).then_some(x)
}

/// How long a pool keeps the record of an id it does not have (a key another process
/// uses, or one retired) after the latest time the record holds: 30 days. The record of a
/// rest that has not ended is never older than that (its `cooldownUntil` is in the future).
/// Each pool forgets such a record by the same rule, and the Redis script too (for what
/// the writer did not send), so a fleet whose keys rotate does not carry every retired id
/// in its state for good; the processes that have the id keep its record and write it.
pub const FORGET_AFTER_MS: f64 = 30.0 * 24.0 * 3_600_000.0;

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Record {
    /// Numbers per record in the column form: errorCount, lastUsed, lastFailure,
    /// lastSuccess, cooldownUntil, reason code (-1: none), updatedAt, cooldownLong (0 or
    /// 1), cooldownStartedAt. Absent values are NaN.
    pub const COLUMNS: usize = 9;

    /// Reads a record from its columns, dropping every value that is out of range (times
    /// outside [0, 2^53], an error count that is not an integer in u32, an unknown reason
    /// code) field by field. Never fails.
    pub fn from_columns(c: &[f64; Record::COLUMNS]) -> Record {
        let count = c[0];
        let code = c[5];
        Record {
            error_count: if (0.0..=u32::MAX as f64).contains(&count) && count as u32 as f64 == count {
                count as u32
            } else {
                0
            },
            last_used: time(c[1]),
            last_failure: time(c[2]),
            last_success: time(c[3]),
            cooldown_until: time(c[4]),
            reason: if (0.0..=255.0).contains(&code) && code as u8 as f64 == code {
                Reason::from_code(code as u8)
            } else {
                None
            },
            updated_at: time(c[6]),
            cooldown_long: c[7] == 1.0,
            cooldown_started_at: time(c[8]),
        }
    }

    /// Appends the record's columns to `out`.
    pub fn write_columns(&self, out: &mut Vec<f64>) {
        let n = |t: Option<f64>| t.unwrap_or(f64::NAN);
        out.extend_from_slice(&[
            self.error_count as f64,
            n(self.last_used),
            n(self.last_failure),
            n(self.last_success),
            n(self.cooldown_until),
            self.reason.map_or(-1.0, |r| r.code() as f64),
            n(self.updated_at),
            if self.cooldown_long { 1.0 } else { 0.0 },
            n(self.cooldown_started_at),
        ]);
    }

    /// The time of the record's last event: `updatedAt ?? max(lastFailure, lastSuccess)`.
    pub fn event_time(&self) -> Option<f64> {
        self.updated_at.or_else(|| max_opt(self.last_failure, self.last_success))
    }

    /// Orders two records by the merge key (see the module documentation).
    pub fn cmp_key(&self, other: &Record) -> Ordering {
        let t = |x: Option<f64>| x.unwrap_or(-1.0);
        let reason = |r: &Record| r.reason.map_or("", Reason::as_str);
        t(self.event_time())
            .total_cmp(&t(other.event_time()))
            .then_with(|| {
                let until = |x: Option<f64>| x.unwrap_or(f64::INFINITY);
                until(self.cooldown_until).total_cmp(&until(other.cooldown_until))
            })
            .then_with(|| self.error_count.cmp(&other.error_count))
            .then_with(|| reason(self).cmp(reason(other)))
            .then_with(|| self.cooldown_long.cmp(&other.cooldown_long))
            .then_with(|| t(self.cooldown_started_at).total_cmp(&t(other.cooldown_started_at)))
    }

    /// The record without its times that are no times (NaN, infinite or negative): what
    /// [`merge`] and [`Pool::import`] take, so a record built from its public fields cannot
    /// rest a key forever or break the merge's laws (whose order of records reads infinity
    /// and -1 as "none"). A time past 2^53 stays: a rest started near the end of time ends
    /// there.
    ///
    /// [`Pool::import`]: crate::Pool::import
    pub fn sanitized(&self) -> Record {
        let t = |x: Option<f64>| x.filter(|v| v.is_finite() && *v >= 0.0);
        Record {
            last_used: t(self.last_used),
            last_failure: t(self.last_failure),
            last_success: t(self.last_success),
            cooldown_until: t(self.cooldown_until),
            updated_at: t(self.updated_at),
            cooldown_started_at: t(self.cooldown_started_at),
            ..*self
        }
    }

    /// The record as a pool takes it in at `now`: without a `cooldownStartedAt` later than
    /// `now`. A rest cannot have begun in the future; taken as it is (a writer whose clock
    /// is far ahead, or a hostile one), it would make every failure until then look like a
    /// late report of that rest's incident, counting nothing: the key would never rest.
    /// Dropped rather than clamped to `now`, which would move with each read.
    pub fn begun_by(&self, now: f64) -> Record {
        Record { cooldown_started_at: self.cooldown_started_at.filter(|&s| s <= now), ..*self }
    }

    /// The record with `updatedAt` filled in from its event time: what [`merge`] returns
    /// for `merge(r, r)`.
    pub fn normalized(&self) -> Record {
        Record { updated_at: self.event_time(), ..*self }
    }

    /// Whether a pool that does not have this record's id forgets it at `now`: every time
    /// it holds (`cooldownUntil` and `cooldownStartedAt` included) is more than
    /// [`FORGET_AFTER_MS`] before `now` (a record that holds none counts as of time 0, so
    /// at a `now` of 0, as `mergeSnapshots` imports, nothing is stale). A rest still
    /// running is never stale. A record merged from stale records is stale (the merge
    /// takes its times from theirs), so forgetting before or after a merge comes to the
    /// same.
    pub fn stale(&self, now: f64) -> bool {
        self.latest() < now - FORGET_AFTER_MS
    }

    /// The latest time the record holds, 0 when it holds none.
    fn latest(&self) -> f64 {
        let times = [
            self.last_used,
            self.last_failure,
            self.last_success,
            self.cooldown_until,
            self.updated_at,
            self.cooldown_started_at,
        ];
        times.iter().fold(0.0, |m: f64, t| t.map_or(m, |t| m.max(t)))
    }
}

/// Merges two records of one profile (see the module documentation for the rule).
pub fn merge(a: &Record, b: &Record) -> Record {
    let (a, b) = (&a.sanitized(), &b.sanitized());
    let w = if a.cmp_key(b) == Ordering::Less { b } else { a };
    Record {
        last_used: max_opt(a.last_used, b.last_used),
        last_failure: max_opt(a.last_failure, b.last_failure),
        last_success: max_opt(a.last_success, b.last_success),
        updated_at: w.event_time(),
        ..*w
    }
}

/// The stored state of a set of profiles, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Profile records, and pair records under [`pair_id`]s.
    pub profiles: BTreeMap<String, Record>,
}

/// What [`Pool::import_part`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// How many records were of ids the pool does not have (kept for re-export).
    pub unknown: usize,
    /// A profile's `lastUsed` changed: the round-robin order is to be rebuilt
    /// ([`Pool::rerank`]).
    pub rerank: bool,
}

/// Separates the profile id from the model in a pair record's id.
pub const PAIR_SEPARATOR: char = '\u{1}';

/// The id of the record of a pair (profile `id`, `model`): `<id>\u{1}<model>`.
pub fn pair_id(id: &str, model: &str) -> String {
    let mut s = String::with_capacity(id.len() + 1 + model.len());
    s.push_str(id);
    s.push(PAIR_SEPARATOR);
    s.push_str(model);
    s
}

impl Snapshot {
    /// Merges two snapshots: ids in either are in the result, ids in both are merged
    /// with [`merge`]. Commutative, associative and idempotent like [`merge`].
    /// Every record of the result is normalized ([`Record::normalized`]), as [`merge`]
    /// leaves it.
    pub fn merge(&self, other: &Snapshot) -> Snapshot {
        let mut profiles: BTreeMap<String, Record> =
            self.profiles.iter().map(|(id, r)| (id.clone(), r.sanitized().normalized())).collect();
        for (id, r) in &other.profiles {
            profiles
                .entry(id.clone())
                .and_modify(|mine| *mine = merge(mine, r))
                .or_insert(r.sanitized().normalized());
        }
        Snapshot { profiles }
    }
}

impl Record {
    /// The record as a pair's: without `lastUsed` and `lastSuccess` (a pair has none).
    pub fn pair_form(&self) -> Record {
        Record { last_used: None, last_success: None, ..*self }
    }
}

impl Pool {
    /// The persisted record of one profile.
    pub fn record(&self, idx: u32) -> Option<Record> {
        let st = self.state(idx)?;
        let opt = |t: f64| (!t.is_nan()).then_some(t);
        Some(Record {
            error_count: st.error_count,
            last_used: opt(st.last_used),
            last_failure: opt(st.last_failure),
            last_success: opt(st.last_success),
            cooldown_until: opt(self.cooldown_until(idx)),
            reason: st.reason,
            // A profile whose cooldown fields never changed here says so with 0: its
            // uses and successes are not cooldown events, so they never win a merge over
            // another process's cooldown. (v1's records carry no `updatedAt`; for them a
            // success is an event, since v1's success clears the cooldown.)
            updated_at: Some(if st.updated_at.is_nan() { 0.0 } else { st.updated_at }),
            cooldown_long: st.cooling_long,
            cooldown_started_at: opt(st.cooldown_started),
        })
    }

    /// Records of ids this pool does not have, from earlier imports.
    pub fn extras(&self) -> &BTreeMap<String, Record> {
        &self.extras
    }

    /// The persisted record of a pair (profile, model): see [`Pool::pairs`].
    pub fn pair_record(&self, pair: u32) -> Option<Record> {
        let st = self.pairs.get(pair as usize)?;
        let opt = |t: f64| (!t.is_nan()).then_some(t);
        Some(Record {
            error_count: st.error_count,
            last_failure: opt(st.last_failure),
            cooldown_until: opt(self.pair_until(pair)),
            reason: st.reason,
            updated_at: Some(if st.updated_at.is_nan() { 0.0 } else { st.updated_at }),
            cooldown_long: st.cooling_long,
            cooldown_started_at: opt(st.cooldown_started),
            ..Record::default()
        })
    }

    /// The ids of the pairs' records ([`pair_id`]), in [`Pool::pairs`] order.
    pub fn pair_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.pairs
            .iter()
            .map(|st| pair_id(self.id(st.profile).unwrap_or(""), self.model_name(st.model).unwrap_or("")))
    }

    /// The pool's state as a snapshot: every profile and pair, and every imported record
    /// of an id the pool does not have.
    pub fn export(&self) -> Snapshot {
        let mut profiles = self.extras.clone();
        for idx in 0..self.len() as u32 {
            if let (Some(id), Some(r)) = (self.id(idx), self.record(idx)) {
                profiles.insert(id.to_string(), r);
            }
        }
        for (p, id) in self.pair_ids().enumerate() {
            if let Some(r) = self.pair_record(p as u32) {
                profiles.insert(id, r);
            }
        }
        Snapshot { profiles }
    }

    /// Merges stored records into the pool at `now`: each profile's record becomes
    /// `merge(its record, the stored one)`, records of unknown ids are kept (merged with
    /// what was kept before) unless [`Record::stale`] at `now`, kept ones that are stale
    /// are forgotten first, cooling and available profiles are re-indexed, and when a
    /// profile's `lastUsed` changed the round-robin order is rebuilt from `lastUsed`
    /// (least recently used first; v1 mode ranks by `lastUsed` as v1 does).
    /// A record under a [`pair_id`] is merged into that pair (without its `lastUsed` and
    /// `lastSuccess`), unless the pool does not have the profile, cannot intern the model
    /// name, or has no room to index the pair's rest (see `import_pair`): then it is kept
    /// like a record of an unknown id.
    /// Returns the number of records of ids the pool does not have.
    pub fn import<'a, I>(&mut self, records: I, now: f64) -> Result<usize, Error>
    where
        I: IntoIterator<Item = (&'a str, Record)>,
    {
        let part = self.import_part(records, now)?;
        if part.rerank {
            self.rerank();
        }
        Ok(part.unknown)
    }

    /// Drops the kept records of ids the pool does not have that are [`Record::stale`] at
    /// `now` (a checked time), and forgets the history of the pairs (profile, model) that
    /// are [`Pool::pair_forgotten`] at `now`: what each import does first (an import of no
    /// records does only that).
    fn forget_stale(&mut self, now: f64) {
        self.forget_pairs(now);
        if self.extras_oldest >= now - FORGET_AFTER_MS {
            return;
        }
        // The map made again through `keep` (which takes no stale record), rather than by
        // `retain`: the map's removal code is 6.7 KB of wasm that nothing else needs.
        self.extras_oldest = f64::INFINITY;
        for (id, r) in core::mem::take(&mut self.extras) {
            self.keep(&id, &r, now);
        }
    }

    /// Whether a pair's record says nothing any more at `now`: every time it holds is more
    /// than [`FORGET_AFTER_MS`], and more than the failure window, before `now` (so no rest
    /// runs, and its next failure would count from 1 as on a pair without history). A model
    /// named by calls that failed once (a gateway passing its clients' typos on: a 404
    /// each) is then no longer written, nor read back: the stored state does not grow for
    /// good. Applied to stored records too ([`Pool::import`] skips them), with the pool's
    /// failure window.
    pub fn pair_forgotten(&self, record: &Record, now: f64) -> bool {
        let horizon = FORGET_AFTER_MS.max(self.settings().cooldowns.failure_window_ms);
        record.latest() < now - horizon
    }

    /// Forgets the history of the pairs [`Pool::pair_forgotten`] at `now`: each becomes a
    /// pair without one (not exported: see `toSnapshot` in the JS layer). The pair's slot
    /// and its model's name stay interned for the life of the pool.
    fn forget_pairs(&mut self, now: f64) {
        for p in 0..self.pairs.len() as u32 {
            let Some(r) = self.pair_record(p) else { continue };
            if !self.pair_forgotten(&r, now) {
                continue;
            }
            let st = &mut self.pairs[p as usize];
            st.error_count = 0;
            st.last_failure = f64::NAN;
            st.reason = None;
            st.cooldown_started = f64::NAN;
            st.cooling_long = false;
            st.updated_at = f64::NAN;
            self.sel.set_pair_until(p, f64::NAN);
        }
    }

    /// [`Pool::import`] of a part of a snapshot, without rebuilding the round-robin order:
    /// when [`Imported::rerank`] says it changed, the caller calls [`Pool::rerank`] once the
    /// last part is in (before the next pick). Importing a snapshot part by part, then
    /// re-ranking, is importing it whole (the parts at the same `now`): a host that copies
    /// a large snapshot into the pool in parts keeps the copy the size of one part.
    pub fn import_part<'a, I>(&mut self, records: I, now: f64) -> Result<Imported, Error>
    where
        I: IntoIterator<Item = (&'a str, Record)>,
    {
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        self.sel.advance(now);
        self.note_recovered();
        self.forget_stale(now);
        let mut reorder = false;
        let mut unknown = 0;
        for (id, stored) in records {
            let stored = stored.sanitized();
            if let Some((profile, model)) = id.split_once(PAIR_SEPARATOR) {
                let stored = stored.pair_form();
                let idx = self.index_of(profile);
                // Past the horizon: nothing to merge, and its model's name is not interned.
                if idx.is_some() && self.pair_forgotten(&stored, now) {
                    continue;
                }
                let known = idx.map(|idx| (idx, self.model_index(model)));
                match known {
                    Some((idx, Ok(m))) => {
                        if !self.import_pair(idx, m, &stored.begun_by(now), now) {
                            self.keep(id, &stored, now);
                        }
                    }
                    Some((_, Err(_))) => self.keep(id, &stored, now),
                    None => {
                        unknown += 1;
                        self.keep(id, &stored, now);
                    }
                }
                continue;
            }
            let Some(idx) = self.index_of(id) else {
                unknown += 1;
                self.keep(id, &stored, now);
                continue;
            };
            let Some(mine) = self.record(idx) else { continue };
            let m = merge(&mine, &stored.begun_by(now));
            if m == mine {
                continue;
            }
            let nan = |t: Option<f64>| t.unwrap_or(f64::NAN);
            reorder |= m.last_used != mine.last_used;
            if m.cooldown_until != mine.cooldown_until {
                // A rest this ends was for the reason recorded until now (see take_recovered).
                self.sel.set_until(idx, nan(m.cooldown_until));
                self.note_recovered();
            }
            let st = &mut self.state[idx as usize];
            st.error_count = m.error_count;
            st.last_used = nan(m.last_used);
            st.last_failure = nan(m.last_failure);
            st.last_success = nan(m.last_success);
            st.reason = m.reason;
            st.updated_at = nan(m.updated_at);
            st.cooling_long = m.cooldown_long;
            st.cooldown_started = nan(m.cooldown_started_at);
        }
        Ok(Imported { unknown, rerank: reorder })
    }

    /// Keeps a record of an id the pool does not have, merged with what was kept. A record
    /// stale at `now` ([`Record::stale`]) is not taken in; the kept ones are never stale
    /// here (an import forgets them first, at its `now`), so importing two snapshots in
    /// turn is importing their merge, once each is without its stale records.
    fn keep(&mut self, id: &str, stored: &Record, now: f64) {
        if stored.stale(now) {
            return;
        }
        let r = self
            .extras
            .entry(id.to_string())
            .and_modify(|mine| *mine = merge(mine, stored))
            .or_insert_with(|| stored.normalized());
        self.extras_oldest = self.extras_oldest.min(r.latest());
    }

    /// Merges a stored record into the pair (profile, model). Returns false, changing
    /// nothing, when the record's rest would need a view of a model that has none and no
    /// new view fits the views' budget ([`Selection::has_room_for`]): a store naming one
    /// model after another (thousands of them, in a pool of thousands of keys) would
    /// otherwise copy the index per model until wasm's memory ran out. The caller keeps
    /// such a record as it came, as it keeps one of a model past [`MAX_MODELS`] names.
    ///
    /// [`Selection::has_room_for`]: crate::selection::Selection::has_room_for
    /// [`MAX_MODELS`]: crate::pool::MAX_MODELS
    fn import_pair(&mut self, idx: u32, model: u32, stored: &Record, now: f64) -> bool {
        let rests = stored.cooldown_until.is_some_and(|t| t > now);
        if rests && !self.sel.has_room_for(model) {
            return false;
        }
        let p = self.pair_or_add(idx, model);
        let Some(mine) = self.pair_record(p) else { return true };
        let mut r = merge(&mine, stored);
        // A rest whose event came before this pool's clearCooldown of the profile, or its
        // markSuccess of this model, is over: that is the later event (stamped after it, as
        // it would have been had the pool known the rest).
        if let Some(t) = r.event_time() {
            let cleared = self.mark_of(mark_key(idx, None)).filter(|&c| t <= c);
            let succeeded = self.mark_of(mark_key(idx, Some(model))).filter(|&c| t <= c);
            if let Some(c) = cleared.filter(|_| r.cooldown_until.is_some() || r.error_count != 0) {
                // What clear_cooldown does to a pair it knows.
                r = Record {
                    cooldown_until: None,
                    error_count: 0,
                    cooldown_started_at: None,
                    updated_at: Some(stamp(t, c)),
                    ..r
                };
            } else if let Some(c) = succeeded.filter(|_| r.cooldown_until.is_some()) {
                // What a markSuccess does to a pair it knows (the count is kept).
                r = Record {
                    cooldown_until: None,
                    cooldown_started_at: None,
                    updated_at: Some(stamp(t, c)),
                    ..r
                };
            }
        }
        if r == mine {
            return true;
        }
        let nan = |t: Option<f64>| t.unwrap_or(f64::NAN);
        if r.cooldown_until != mine.cooldown_until {
            self.sel.set_pair_until(p, nan(r.cooldown_until));
            self.note_recovered();
        }
        let st = &mut self.pairs[p as usize];
        st.error_count = r.error_count;
        st.last_failure = nan(r.last_failure);
        st.reason = r.reason;
        st.updated_at = nan(r.updated_at);
        st.cooling_long = r.cooldown_long;
        st.cooldown_started = nan(r.cooldown_started_at);
        true
    }

    /// Rebuilds the round-robin ranks from `lastUsed` (what [`Pool::import`] does when an
    /// import changed one).
    pub fn rerank(&mut self) {
        let n = self.len() as u32;
        match self.mode() {
            Mode::V1 => {
                for idx in 0..n {
                    let t = self.state[idx as usize].last_used;
                    self.sel.set_rank(idx, if t.is_nan() { -1.0 } else { t });
                }
            }
            Mode::V2 if self.settings().strategy == Strategy::Priority => {}
            Mode::V2 => {
                // Never used: rank 0 (configuration order). Used: 1, 2, ... by lastUsed,
                // ties by the current rank (the pick order), then configuration order.
                let mut used: Vec<u32> =
                    (0..n).filter(|&i| !self.state[i as usize].last_used.is_nan()).collect();
                let state = &self.state;
                let sel = &self.sel;
                heapsort(&mut used, |&a, &b| {
                    let (ta, tb) = (state[a as usize].last_used, state[b as usize].last_used);
                    ta.total_cmp(&tb).then(sel.rank(a).total_cmp(&sel.rank(b))).then(a.cmp(&b))
                        == Ordering::Less
                });
                for (k, &idx) in used.iter().enumerate() {
                    self.reset_rank(idx, (k + 1) as f64);
                }
                self.picks = used.len() as f64;
            }
        }
    }
}

/// An in-place heapsort: a few hundred bytes of wasm where the standard library's sorts
/// take several KB; O(n log n) like them (only import re-ranks, so speed matters less).
fn heapsort<T: Copy>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift = |v: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[root], &v[child]) {
            return;
        }
        v.swap(root, child);
        root = child;
    };
    for i in (0..v.len() / 2).rev() {
        sift(v, i, v.len());
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(updated: Option<f64>, until: Option<f64>, count: u32) -> Record {
        Record { updated_at: updated, cooldown_until: until, error_count: count, ..Record::default() }
    }

    #[test]
    fn the_later_event_wins_the_cooldown_group() {
        let failed = Record {
            reason: Some(Reason::RateLimit),
            last_failure: Some(100.0),
            ..rec(Some(100.0), Some(160.0), 1)
        };
        let cleared = Record { last_success: Some(90.0), ..rec(Some(90.0), None, 0) };
        let m = merge(&failed, &cleared);
        assert_eq!(m.cooldown_until, Some(160.0));
        assert_eq!(m.last_success, Some(90.0));
        assert_eq!(m, merge(&cleared, &failed));
    }

    #[test]
    fn v1_records_use_their_last_event() {
        // No updatedAt (written by key-carousel 1): its last failure is its event.
        let v1 = Record { last_failure: Some(200.0), ..rec(None, Some(260.0), 2) };
        let v2 = rec(Some(150.0), None, 0);
        let m = merge(&v1, &v2);
        assert_eq!((m.cooldown_until, m.error_count, m.updated_at), (Some(260.0), 2, Some(200.0)));
    }

    #[test]
    fn a_v1_clear_wins_over_the_rest_it_cleared() {
        // key-carousel 1's clearCooldown keeps lastFailure and records no time: the cleared
        // record ties with the rest on its event time, and wins (v1 and v2 share a file).
        let rest = Record {
            reason: Some(Reason::RateLimit),
            last_failure: Some(100.0),
            cooldown_started_at: Some(100.0),
            ..rec(Some(100.0), Some(160.0), 1)
        };
        let v1_cleared =
            Record { reason: Some(Reason::RateLimit), last_failure: Some(100.0), ..rec(None, None, 0) };
        let m = merge(&rest, &v1_cleared);
        assert_eq!((m.cooldown_until, m.error_count, m.updated_at), (None, 0, Some(100.0)));
        assert_eq!(m, merge(&v1_cleared, &rest));
        // A rest recorded later still wins.
        let later = Record { last_failure: Some(101.0), updated_at: Some(101.0), ..rest };
        assert_eq!(merge(&later, &v1_cleared).cooldown_until, Some(160.0));
    }

    #[test]
    fn heapsort_sorts() {
        let mut v: Vec<u32> = (0..200).map(|i| (i * 7919) % 211).collect();
        let mut want = v.clone();
        want.sort();
        heapsort(&mut v, |a, b| a < b);
        assert_eq!(v, want);
        let mut empty: [u32; 0] = [];
        heapsort(&mut empty, |a, b| a < b);
    }

    #[test]
    fn columns_drop_bad_values_field_by_field() {
        let c = [1.5, -1.0, f64::NAN, 1e300, 5.0, 99.0, f64::INFINITY, 1.0, 3.0];
        let r = Record::from_columns(&c);
        assert_eq!(
            r,
            Record {
                cooldown_until: Some(5.0),
                cooldown_long: true,
                cooldown_started_at: Some(3.0),
                ..Record::default()
            }
        );
        let mut out = vec![];
        r.write_columns(&mut out);
        assert_eq!(Record::from_columns(&out.try_into().unwrap()), r);
    }
}
