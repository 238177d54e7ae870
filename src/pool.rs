//! The pool state machine: profiles, their failure history, and the operations that
//! change them (acquire, succeed, fail, release, clear). Every operation takes `now` in
//! ms since the Unix epoch; the pool never reads a clock.

use alloc::collections::BTreeMap;
use core::fmt;

use crate::prelude::*;

use crate::backoff::Ladder;
use crate::config::{
    check_name, check_time, name_problem, ConfigError, Kind, Mode, ProfileSpec, Settings, Strategy,
    MAX_TIME_MS,
};
use crate::reason::{Reason, Schedule};
use crate::selection::Selection;
use crate::snapshot::Record;
use crate::text::{cat, num};

/// An operation that the pool refuses; the pool is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// No profile has this index.
    UnknownProfile(u32),
    /// `now` (or a lease time) is NaN, infinite, negative or past 2^53.
    BadTime(f64),
    /// No model has this index (see [`Pool::model_index`]).
    UnknownModel(u32),
}

impl Error {
    /// What went wrong, as `Display` writes it (built without `core::fmt`: see `text`).
    pub fn message(&self) -> String {
        match self {
            Error::UnknownProfile(i) => cat(&["no profile has index ", &num(u64::from(*i))]),
            Error::BadTime(_) => "time must be a finite number of ms in [0, 2^53]".into(),
            Error::UnknownModel(m) => cat(&["no model has index ", &num(u64::from(*m))]),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(not(all(feature = "wasm", target_arch = "wasm32")))]
impl std::error::Error for Error {}

/// The failure history of one profile. Times are ms since the epoch, NaN when unset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileState {
    /// Failures in a row (reset by the failure window and `clear_cooldown`).
    pub error_count: u32,
    /// Last time the profile was picked (v2) or succeeded (v1).
    pub last_used: f64,
    /// Last failure that counted (not a late one, nor one whose schedule is `none`).
    pub last_failure: f64,
    /// Last reported success.
    pub last_success: f64,
    /// The reason of the failure that started the current (or last) rest (in v1's mode, of
    /// the last failure, as v1 records it).
    pub reason: Option<Reason>,
    /// When the current (or last) cooldown began.
    pub cooldown_started: f64,
    /// Whether the current (or last) cooldown is on the long schedule.
    pub cooling_long: bool,
    /// When the cooldown group (cooldown, error count, reason, schedule, start) last
    /// changed: the time that decides which record wins a merge (see [`crate::snapshot`]).
    pub updated_at: f64,
    /// Calls acquired and not yet reported (saturates at 65,535: 16 bits keep the
    /// record at 48 bytes).
    pub in_flight: u16,
}

impl Default for ProfileState {
    fn default() -> Self {
        ProfileState {
            error_count: 0,
            last_used: f64::NAN,
            last_failure: f64::NAN,
            last_success: f64::NAN,
            reason: None,
            cooldown_started: f64::NAN,
            cooling_long: false,
            updated_at: f64::NAN,
            in_flight: 0,
        }
    }
}

/// What a reported failure did.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Failure {
    /// The cooldown that started, in ms; `None` when none did (already cooling, or the
    /// reason's schedule is `none`).
    pub cooldown_ms: Option<f64>,
    /// The call was acquired before the profile's current cooldown began: the same
    /// incident seen late, which changed nothing.
    pub late: bool,
    /// The profile's error count afterwards (the pair's when `model_scoped`).
    pub error_count: u32,
    /// The failure applied to the pair (profile, model) only: the profile stays available
    /// to other models.
    pub model_scoped: bool,
    /// A model-scoped failure that rested the whole profile, because another model had
    /// failed on it within the failure window.
    pub widened: bool,
}

/// The failure history of one pair (profile, model): a rest for that model only.
/// Times are ms since the epoch, NaN when unset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairState {
    /// The profile's index.
    pub profile: u32,
    /// The model's index ([`Pool::model_name`]).
    pub model: u32,
    /// Failures in a row for this model (reset by the failure window and `clear_cooldown`).
    pub error_count: u32,
    /// Last failure for this model that counted.
    pub last_failure: f64,
    /// The reason of the failure that started the current (or last) rest.
    pub reason: Option<Reason>,
    /// When the current (or last) rest began.
    pub cooldown_started: f64,
    /// Whether the current (or last) rest is on the long schedule.
    pub cooling_long: bool,
    /// As [`ProfileState::updated_at`], for the pair's cooldown group.
    pub updated_at: f64,
}

/// The `updatedAt` of an event at `now` on a record last changed at `prev`: `now`, or the
/// next time after `prev` when `now` is not later (two events in one millisecond, or a
/// clock stepped back). A record's own later event must win the merge against its earlier
/// one, which the pool meets again when it merges what it stored before: otherwise a
/// `clearCooldown` in the millisecond of the failure would come back as the failure.
/// (The next f64, not `prev + 1`: a burst of events in one ms stays in that ms.)
#[inline(never)]
pub(crate) fn stamp(prev: f64, now: f64) -> f64 {
    // Never changed (NaN): stored as 0 (see `Pool::record`). `+ 0.0` turns -0 into 0.
    let prev = if prev.is_nan() { 0.0 } else { prev + 0.0 };
    if prev >= now {
        let next = f64::from_bits(prev.to_bits() + 1);
        if next <= MAX_TIME_MS {
            next
        } else {
            prev
        }
    } else {
        now
    }
}

/// The cooldown group of a profile or of a (profile, model) pair, as a failure changes it:
/// one place for the steps both kinds of rest take.
struct Rest<'a> {
    error_count: &'a mut u32,
    last_failure: &'a mut f64,
    reason: &'a mut Option<Reason>,
    cooldown_started: &'a mut f64,
    cooling_long: &'a mut bool,
    updated_at: &'a mut f64,
}

impl Rest<'_> {
    /// A failure during a rest: counted, never extending it. Returns the error count.
    fn count(self, now: f64) -> u32 {
        *self.error_count = self.error_count.saturating_add(1);
        *self.last_failure = now;
        *self.updated_at = stamp(*self.updated_at, now);
        *self.error_count
    }

    /// A failure that starts a rest on `schedule`. `window`: the failure window, when it
    /// applies (the last failure is older than it: the count restarts). `length`: the
    /// rest's length in ms for the error count. Returns the error count and that length.
    /// `started`: when the rest counts as begun for telling late failures (`now`, or the
    /// failing call's start when the clock has stepped back since: see [`Pool::fail_for`]).
    /// A rest of 0 ms (a caller's retryAfterMs of 0) is none, and begins no incident: the
    /// next failure counts, whenever its call began (with a clock that stands still, a call
    /// begun at this instant would otherwise be this failure seen late).
    fn start(
        self,
        now: f64,
        started: f64,
        reason: Reason,
        schedule: Schedule,
        window: Option<f64>,
        length: impl FnOnce(u32) -> f64,
    ) -> (u32, f64) {
        if window.is_some_and(|w| now - *self.last_failure > w) {
            *self.error_count = 0;
        }
        *self.error_count = self.error_count.saturating_add(1);
        let ms = length(*self.error_count);
        *self.last_failure = now;
        *self.reason = Some(reason);
        *self.cooldown_started = if ms == 0.0 { f64::NAN } else { started };
        *self.cooling_long = schedule == Schedule::Long;
        *self.updated_at = stamp(*self.updated_at, now);
        (*self.error_count, ms)
    }
}

/// `rest()`: the cooldown group of a state that has its six fields. (Fields of the state
/// itself rather than one embedded struct: that would pad `ProfileState` by 8 bytes, and a
/// profile's memory has a budget.)
macro_rules! rest_of {
    ($($state:ty),*) => {$(
        impl $state {
            fn rest(&mut self) -> Rest<'_> {
                Rest {
                    error_count: &mut self.error_count,
                    last_failure: &mut self.last_failure,
                    reason: &mut self.reason,
                    cooldown_started: &mut self.cooldown_started,
                    cooling_long: &mut self.cooling_long,
                    updated_at: &mut self.updated_at,
                }
            }
        }
    )*};
}
rest_of!(ProfileState, PairState);

/// The end of a rest of `ms` from `now`, and its length: one that would end past
/// [`MAX_TIME_MS`] ends there (a time past it is no time: a stored rest ending later would be
/// dropped as unusable by every reader, this pool's next load included).
fn rest_end(now: f64, ms: f64) -> (f64, f64) {
    let until = now + ms;
    if until > MAX_TIME_MS {
        (MAX_TIME_MS, MAX_TIME_MS - now)
    } else {
        (until, ms)
    }
}

/// The most distinct model names a pool interns.
pub const MAX_MODELS: usize = 4096;
/// The largest profile weight.
pub const MAX_WEIGHT: u32 = 1000;
/// The largest sum of a pool's weights (when any is not 1): a profile of weight w keeps w
/// numbers, so this bounds their memory to 128 MiB (past it, in wasm32, an allocation that
/// fails would trap the instance; the sum itself would overflow a u32).
pub const MAX_TOTAL_WEIGHT: u32 = 1 << 24;

/// Profile weights for the round-robin: a profile of weight w keeps its last w picks
/// (a ring, oldest at `head`), and its rank is the oldest of them: it counts as w
/// profiles picked least recently first. Empty when every weight is 1 (rank = last pick).
#[derive(Clone, Debug, Default)]
struct Weights {
    /// Profile i's ring is `seq[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    head: Vec<u32>,
    seq: Vec<f64>,
}

impl Weights {
    /// Records a pick numbered `seq` (later than every pick before) and returns the
    /// profile's new rank.
    #[inline]
    fn pick(&mut self, idx: u32, seq: f64) -> f64 {
        if self.start.is_empty() {
            return seq;
        }
        let (a, len) = (self.start[idx as usize] as usize, self.len(idx) as usize);
        let h = self.head[idx as usize] as usize;
        self.seq[a + h] = seq;
        let h = if h + 1 == len { 0 } else { h + 1 };
        self.head[idx as usize] = h as u32;
        self.seq[a + h]
    }

    /// Forgets the profile's picks but one, numbered `rank`, counted w times.
    fn reset(&mut self, idx: u32, rank: f64) {
        if self.start.is_empty() {
            return;
        }
        let (a, len) = (self.start[idx as usize] as usize, self.len(idx) as usize);
        self.seq[a..a + len].fill(rank);
        self.head[idx as usize] = 0;
    }

    fn len(&self, idx: u32) -> u32 {
        match self.start.get(idx as usize + 1) {
            Some(&b) => b - self.start[idx as usize],
            None => 1,
        }
    }
}

/// A pool of profiles.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    settings: Settings,
    ids: Names,
    by_id: IdIndex,
    /// Where each profile came from: its position in its configuration list, with the
    /// top bit set for fallback models (4 bytes a profile).
    origin: Vec<u32>,
    providers: Vec<Box<str>>,
    provider_of: Vec<u32>,
    pub(crate) state: Vec<ProfileState>,
    pub(crate) sel: Selection,
    /// Number of picks so far: the v2 round-robin rank.
    pub(crate) picks: f64,
    /// Imported records of ids this pool does not have, kept for re-export: another
    /// process sharing the store may use them.
    pub(crate) extras: BTreeMap<String, Record>,
    /// At most the latest time of every record in `extras` ([`Record::stale`]), so that
    /// forgetting the stale ones walks the map only when one may be: 0 until known.
    pub(crate) extras_oldest: f64,
    weights: Weights,
    /// Interned model names, and their lookup.
    models: Names,
    by_model: IdIndex,
    /// Pairs (profile, model) with a failure history, indexed like the selection's pairs;
    /// `pair_head[profile]` starts the list of a profile's pairs, `pair_next` links it
    /// (both empty until the first pair).
    pub(crate) pairs: Vec<PairState>,
    pair_head: Vec<u32>,
    pair_next: Vec<u32>,
    /// The rests that ended (while tracking), each with the reason it was for, taken when
    /// the selection reported it: before an operation can start another rest (see
    /// [`Pool::take_recovered`]).
    recovered: Vec<(u32, u32, Option<Reason>)>,
    /// Ends of model rests this pool has not seen yet (another process's): when
    /// `clear_cooldown` last ran for a profile (all its models), and when a standalone
    /// `markSuccess` named a model the profile has no pair for. A rest that arrives in an
    /// import with an earlier event is over (see `import_pair`); kept here rather than as
    /// a pair, so a model that never failed is never stored. Sorted by [`mark_key`] (a map
    /// would add 4 KB of wasm).
    pub(crate) rest_marks: Vec<(u64, f64)>,
}

/// The key of a mark in [`Pool::rest_marks`]: a profile's clear (`model` None) or a
/// `markSuccess` of one of its models.
pub(crate) fn mark_key(idx: u32, model: Option<u32>) -> u64 {
    (u64::from(idx) << 32) | model.map_or(0, |m| u64::from(m) + 1)
}

/// The error of [`Pool::add`] for the profile at `position` of its list: `field` under it
/// (`profiles[2].id`). Out of line and cold: adding profiles is what a cold start runs, and
/// V8 compiles each wasm function whole, error paths included, at its first call.
#[cold]
#[inline(never)]
fn profile_error(kind: Kind, position: usize, field: &str, problem: &str) -> ConfigError {
    ConfigError::new(cat(&[kind.list(), "[", &num(position as u64), "]", field]), problem)
}

/// [`profile_error`] for an id already used by the profile from `origin`.
#[cold]
#[inline(never)]
fn duplicate_error(kind: Kind, position: usize, id: &str, origin: u32) -> ConfigError {
    let (other, pos) = unpack_origin(origin);
    let problem = cat(&["\"", id, "\" is already used by ", other.list(), "[", &num(pos as u64), "]"]);
    profile_error(kind, position, ".id", &problem)
}

impl Pool {
    /// An empty pool; add profiles with [`Pool::add_profile`]. The settings are taken as
    /// given: [`Pool::with_profiles`] checks them ([`Cooldowns::problem`]).
    ///
    /// [`Cooldowns::problem`]: crate::Cooldowns::problem
    pub fn new(settings: Settings) -> Pool {
        Pool { settings, ..Default::default() }
    }

    /// A pool of these profiles (primaries and fallbacks, in selection order within each).
    /// Cooldown values that are negative, NaN, infinite or past 2^53 ms, and ladders that
    /// [`Ladder::is_valid`] refuses, are an error naming the field.
    pub fn with_profiles(settings: Settings, profiles: &[ProfileSpec]) -> Result<Pool, ConfigError> {
        if let Some(e) = settings.cooldowns.problem() {
            return Err(e);
        }
        let mut pool = Pool::new(settings);
        let (mut primaries, mut fallbacks) = (0, 0);
        for spec in profiles {
            let n = match spec.kind {
                Kind::Primary => &mut primaries,
                Kind::Fallback => &mut fallbacks,
            };
            pool.add_profile(spec, *n)?;
            *n += 1;
        }
        if pool.is_empty() {
            return Err(ConfigError::new(
                "profiles",
                "at least one profile or fallback with an API key is required",
            ));
        }
        Ok(pool)
    }

    /// Adds a profile; `position` is its index in its configuration list (for errors).
    pub fn add_profile(&mut self, spec: &ProfileSpec, position: usize) -> Result<u32, ConfigError> {
        self.add(&spec.id, &spec.provider, spec.kind, position)
    }

    /// [`Pool::add_profile`] without building a [`ProfileSpec`].
    pub fn add(&mut self, id: &str, provider: &str, kind: Kind, position: usize) -> Result<u32, ConfigError> {
        if let Some(problem) = name_problem(provider) {
            return Err(profile_error(kind, position, ".provider", problem));
        }
        self.add_to(id, self.provider_index(provider).ok_or(provider), kind, position)
    }

    /// [`Pool::add`] with the provider `Ok(index)` when it is known, else `Err(name)` (a
    /// name already checked): one adding many profiles of a few providers looks each
    /// provider up once. Not inlined: its two callers share one copy in the module.
    #[inline(never)]
    pub(crate) fn add_to(
        &mut self,
        id: &str,
        provider: Result<u32, &str>,
        kind: Kind,
        position: usize,
    ) -> Result<u32, ConfigError> {
        if let Some(problem) = name_problem(id) {
            return Err(profile_error(kind, position, ".id", problem));
        }
        // One probe both refuses a duplicate and finds the new id's slot.
        self.by_id.room_for(&self.ids, self.ids.len() + 1);
        let slot = match self.by_id.find(&self.ids, id) {
            Ok(other) => return Err(duplicate_error(kind, position, id, self.origin[other as usize])),
            Err(slot) => slot,
        };
        if self.ids.len() >= u32::MAX as usize - 1 || position >= FALLBACK_BIT as usize {
            return Err(profile_error(kind, position, "", "too many profiles"));
        }
        let provider = match provider {
            Ok(p) => p,
            Err(name) => {
                self.providers.push(name.into());
                (self.providers.len() - 1) as u32
            }
        };
        let rank = match self.settings.mode {
            Mode::V1 => -1.0,
            Mode::V2 => 0.0,
        };
        let idx = self.sel.add((kind == Kind::Primary).then_some(provider), rank);
        self.ids.push(id);
        self.by_id.fill(slot, idx);
        self.origin.push(position as u32 | if kind == Kind::Fallback { FALLBACK_BIT } else { 0 });
        self.provider_of.push(provider);
        self.state.push(ProfileState::default());
        if !self.pair_head.is_empty() {
            self.pair_head.push(NO_PAIR);
        }
        if !self.weights.start.is_empty() {
            let end = *self.weights.start.last().unwrap_or(&0);
            self.weights.start.push(end + 1);
            self.weights.head.push(0);
            self.weights.seq.push(self.sel.rank(idx));
        }
        Ok(idx)
    }

    /// Sets every profile's weight (in index order; the round-robin picks a profile of
    /// weight w as often as w profiles of weight 1). Weights are whole numbers from 1 to
    /// [`MAX_WEIGHT`]; errors name the field (`profiles[2].weight`). Call it before the
    /// first pick (a weighted profile starts as never picked). Ignored by the `Priority`
    /// strategy.
    pub fn set_weights(&mut self, weights: &[u32]) -> Result<(), ConfigError> {
        if weights.len() != self.len() {
            return Err(ConfigError::new("profiles", "one weight per profile is required"));
        }
        if let Some(i) = weights.iter().position(|w| !(1..=MAX_WEIGHT).contains(w)) {
            let (kind, pos) = unpack_origin(self.origin[i]);
            return Err(ConfigError::new(
                cat(&[kind.list(), "[", &num(pos as u64), "].weight"]),
                "must be a whole number from 1 to 1000",
            ));
        }
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total > u64::from(MAX_TOTAL_WEIGHT) && weights.iter().any(|&w| w != 1) {
            return Err(ConfigError::new(
                "profiles",
                cat(&[
                    "the weights add up to ",
                    &num(total),
                    ", more than ",
                    &num(u64::from(MAX_TOTAL_WEIGHT)),
                    " (each unit keeps 8 bytes)",
                ]),
            ));
        }
        let mut w = Weights::default();
        if weights.iter().any(|&w| w != 1) {
            let mut end = 0;
            for &n in weights {
                w.start.push(end);
                end += n;
            }
            w.start.push(end);
            w.head = vec![0; weights.len()];
            w.seq = vec![0.0; end as usize];
        }
        self.weights = w;
        Ok(())
    }

    /// The weight of a profile (1 unless set).
    pub fn weight(&self, idx: u32) -> u32 {
        self.weights.len(idx)
    }

    /// The index of a model name, interning it: models are named by calls
    /// ([`Pool::acquire_for`], [`Pool::fail_for`]), not configured. At most
    /// [`MAX_MODELS`] distinct names.
    pub fn model_index(&mut self, name: &str) -> Result<u32, ConfigError> {
        if let Some(m) = self.by_model.get(&self.models, name) {
            return Ok(m);
        }
        check_name(|| "model".to_string(), name)?;
        if self.models.len() >= MAX_MODELS {
            return Err(ConfigError::new("model", "more than 4096 distinct models"));
        }
        self.models.push(name);
        let m = (self.models.len() - 1) as u32;
        self.by_model.insert(&self.models, m);
        Ok(m)
    }

    /// The index of a model name already interned.
    pub fn find_model(&self, name: &str) -> Option<u32> {
        self.by_model.get(&self.models, name)
    }

    /// The name of an interned model; `None` for an unknown index.
    pub fn model_name(&self, m: u32) -> Option<&str> {
        self.models.get(m as usize)
    }

    /// Every pair (profile, model) with a failure history, in creation order; the pair's
    /// index is its position.
    pub fn pairs(&self) -> &[PairState] {
        &self.pairs
    }

    /// The recorded end of a pair's rest (NaN: none), possibly past.
    pub fn pair_until(&self, pair: u32) -> f64 {
        if (pair as usize) < self.pairs.len() {
            self.sel.pair_until(pair)
        } else {
            f64::NAN
        }
    }

    /// The pair of a profile and a model, if it has a history.
    pub fn pair_of(&self, idx: u32, model: u32) -> Option<u32> {
        let mut p = *self.pair_head.get(idx as usize)?;
        while p != NO_PAIR {
            if self.pairs[p as usize].model == model {
                return Some(p);
            }
            p = self.pair_next[p as usize];
        }
        None
    }

    /// Records a mark (see [`Pool::rest_marks`]) at `now`.
    fn mark(&mut self, key: u64, now: f64) {
        match self.rest_marks.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(at) => self.rest_marks[at].1 = now,
            Err(at) => self.rest_marks.insert(at, (key, now)),
        }
    }

    /// The time of a mark, if there is one.
    pub(crate) fn mark_of(&self, key: u64) -> Option<f64> {
        self.rest_marks.binary_search_by_key(&key, |&(k, _)| k).ok().map(|at| self.rest_marks[at].1)
    }

    pub(crate) fn pair_or_add(&mut self, idx: u32, model: u32) -> u32 {
        if let Some(p) = self.pair_of(idx, model) {
            return p;
        }
        if self.pair_head.is_empty() {
            self.pair_head = vec![NO_PAIR; self.len()];
        }
        let p = self.sel.add_pair(idx, model);
        self.pairs.push(PairState {
            profile: idx,
            model,
            error_count: 0,
            last_failure: f64::NAN,
            reason: None,
            cooldown_started: f64::NAN,
            cooling_long: false,
            updated_at: f64::NAN,
        });
        self.pair_next.push(self.pair_head[idx as usize]);
        self.pair_head[idx as usize] = p;
        p
    }

    /// The pairs of a profile, newest first.
    fn pairs_of(&self, idx: u32) -> impl Iterator<Item = u32> + '_ {
        let mut p = self.pair_head.get(idx as usize).copied().unwrap_or(NO_PAIR);
        core::iter::from_fn(move || {
            let cur = p;
            (cur != NO_PAIR).then(|| {
                p = self.pair_next[cur as usize];
                cur
            })
        })
    }

    /// The settings in force (ladders and strategy as last set).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces a schedule's ladder (`None`: v1's). Rests already started keep their end.
    /// False, and nothing changed, for a ladder [`Ladder::is_valid`] refuses.
    #[must_use]
    pub fn set_ladder(&mut self, schedule: Schedule, ladder: Option<Ladder>) -> bool {
        if ladder.is_some_and(|l| !l.is_valid()) {
            return false;
        }
        match schedule {
            Schedule::Transient => self.settings.cooldowns.transient = ladder,
            Schedule::Long => self.settings.cooldowns.long = ladder,
            Schedule::None => {}
        }
        true
    }

    /// Replaces the settings of a new pool: nothing added, imported or interned yet (a
    /// profile's first rank and an import depend on them); false, and nothing changed,
    /// otherwise. The same pool as [`Pool::new`] with these settings, taken as given (see
    /// [`Cooldowns::problem`](crate::Cooldowns::problem)).
    pub fn set_settings(&mut self, settings: Settings) -> bool {
        if !self.is_empty() || !self.extras.is_empty() || !self.models.is_empty() {
            return false;
        }
        self.settings = settings;
        true
    }

    /// Sets the v2 pick order. Call it before the first pick (ranks already given by the
    /// round-robin would otherwise still order the priority strategy's picks).
    pub fn set_strategy(&mut self, strategy: Strategy) {
        self.settings.strategy = strategy;
    }

    /// Number of profiles, primaries and fallback models.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the pool has no profile.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The profile with this id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(&self.ids, id)
    }

    /// The id of a profile; `None` for an unknown index.
    pub fn id(&self, idx: u32) -> Option<&str> {
        self.ids.get(idx as usize)
    }

    /// Reserves room for `additional` more profiles, so adding them allocates once.
    pub fn reserve(&mut self, additional: usize) {
        self.ids.ends.reserve_exact(additional);
        self.origin.reserve_exact(additional);
        self.provider_of.reserve_exact(additional);
        self.state.reserve_exact(additional);
        self.sel.reserve(additional);
        self.by_id.reserve(&self.ids, self.ids.len() + additional);
    }

    /// Reserves room for `additional` more primaries of `provider`, once a profile has it
    /// (else nothing: the provider is not known yet).
    pub fn reserve_provider(&mut self, provider: &str, additional: usize) {
        if let Some(p) = self.provider_index(provider) {
            self.sel.reserve_provider(p, additional);
        }
    }

    /// Reserves room for `bytes` more bytes of ids (UTF-8), with [`Pool::reserve`].
    pub fn reserve_id_bytes(&mut self, bytes: usize) {
        self.ids.text.reserve_exact(bytes);
    }

    /// The index of a provider name, for [`Pool::acquire`]'s preference.
    pub fn provider_index(&self, provider: &str) -> Option<u32> {
        self.providers.iter().position(|p| &**p == provider).map(|p| p as u32)
    }

    /// The provider of a profile (a fallback model's too); `None` for an unknown index.
    pub fn provider(&self, idx: u32) -> Option<&str> {
        let p = *self.provider_of.get(idx as usize)?;
        self.providers.get(p as usize).map(|s| &**s)
    }

    /// Whether a profile is a primary or a fallback model; `None` for an unknown index.
    pub fn kind(&self, idx: u32) -> Option<Kind> {
        self.origin.get(idx as usize).map(|&o| unpack_origin(o).0)
    }

    /// The failure history of every profile, in index order.
    pub fn states(&self) -> &[ProfileState] {
        &self.state
    }

    /// The failure history of a profile.
    #[inline]
    pub fn state(&self, idx: u32) -> Option<&ProfileState> {
        self.state.get(idx as usize)
    }

    /// The recorded end of the profile's cooldown (NaN: none), possibly past.
    #[inline]
    pub fn cooldown_until(&self, idx: u32) -> f64 {
        if (idx as usize) < self.ids.len() {
            self.sel.until(idx)
        } else {
            f64::NAN
        }
    }

    /// The recorded end of every profile's cooldown (NaN: none), in index order.
    #[inline]
    pub fn cooldowns_until(&self) -> &[f64] {
        self.sel.untils()
    }

    #[inline]
    pub(crate) fn mode(&self) -> Mode {
        self.settings.mode
    }

    /// Picks a profile for a call and records the pick: the lease is the pair
    /// (index, `now`). `preferred` is a provider index from [`Pool::provider_index`].
    /// `None` when every profile is cooling down.
    pub fn acquire(&mut self, now: f64, preferred: Option<u32>) -> Result<Option<u32>, Error> {
        self.sync(now)?;
        let Some(idx) = self.sel.pick(preferred) else { return Ok(None) };
        self.record_pick(idx, now);
        Ok(Some(idx))
    }

    /// [`Pool::acquire`] for a call that names a model and/or a sticky profile (v2; v1
    /// mode ignores both). With `model`, profiles resting for that model are skipped.
    /// With `sticky` (a session's profile), that profile is picked when it is available
    /// to the call and in the same group as the profile the call would get otherwise
    /// (the preferred provider's, other primaries, fallbacks): a session stays on its
    /// key while it is healthy, and moves back from a fallback once a primary recovers.
    pub fn acquire_for(
        &mut self,
        now: f64,
        preferred: Option<u32>,
        model: Option<u32>,
        sticky: Option<u32>,
    ) -> Result<Option<u32>, Error> {
        self.acquire_excluding(now, preferred, model, sticky, &[])
    }

    /// [`Pool::acquire_for`] for a run that must not get the profiles in `excluded` (its
    /// keys that failed it and rest nothing, so that it does not call them again): the
    /// pick among the others, as if those were resting.
    pub fn acquire_excluding(
        &mut self,
        now: f64,
        preferred: Option<u32>,
        model: Option<u32>,
        sticky: Option<u32>,
        excluded: &[u32],
    ) -> Result<Option<u32>, Error> {
        self.check_model(model)?;
        for &i in sticky.iter().chain(excluded) {
            self.check(i)?;
        }
        self.sync(now)?;
        let (model, sticky) = match self.mode() {
            Mode::V1 => (None, None),
            Mode::V2 => (model, sticky),
        };
        // The excluded profiles leave the groups for this pick (after the sync: a rest
        // that ends puts its profile back).
        self.sel.hide(excluded);
        let best = match model {
            Some(m) => self.sel.pick_for(preferred, m),
            None => self.sel.pick(preferred),
        };
        let idx = best.map(|best| match sticky {
            Some(s)
                if self.sel.is_available(s, model)
                    && self.sel.group(s, preferred) == self.sel.group(best, preferred) =>
            {
                s
            }
            _ => best,
        });
        self.sel.unhide();
        let Some(idx) = idx else { return Ok(None) };
        self.record_pick(idx, now);
        Ok(Some(idx))
    }

    #[inline]
    fn record_pick(&mut self, idx: u32, now: f64) {
        if self.settings.mode == Mode::V2 {
            self.use_rank(idx);
            let st = &mut self.state[idx as usize];
            st.last_used = now;
            st.in_flight = st.in_flight.saturating_add(1);
        }
    }

    /// Sets a profile's rank as if it had been picked `weight` times, numbered `rank`
    /// (the import's re-ranking).
    pub(crate) fn reset_rank(&mut self, idx: u32, rank: f64) {
        self.weights.reset(idx, rank);
        self.sel.set_rank(idx, rank);
    }

    /// Counts a use of the profile for the v2 round-robin.
    #[inline]
    fn use_rank(&mut self, idx: u32) {
        if self.settings.strategy == Strategy::RoundRobin {
            self.picks += 1.0;
            let rank = self.weights.pick(idx, self.picks);
            self.sel.set_rank(idx, rank);
        }
    }

    /// Reports a success: clears the cooldown and records lastUsed/lastSuccess. With a
    /// lease (the `now` of its acquire), a success of a call acquired before the
    /// profile's current cooldown began leaves that cooldown alone (v2; in v1's mode it
    /// ends it, as v1's did). Without a lease it is a standalone `markSuccess`, which also
    /// counts as a use for the round-robin. Only a success without a lease, or one that
    /// ends a rest this pool knows, is an event for the state shared with other processes.
    pub fn succeed(&mut self, idx: u32, now: f64, lease: Option<f64>) -> Result<(), Error> {
        self.check(idx)?;
        self.check_lease(lease)?;
        self.sync(now)?;
        let v2 = self.settings.mode == Mode::V2;
        let late = v2 && self.is_late(idx, now, lease);
        let st = &mut self.state[idx as usize];
        if lease.is_some() {
            st.in_flight = st.in_flight.saturating_sub(1);
        }
        st.last_used = now;
        st.last_success = now;
        // A rest that ended on its own is not ended by this success: were it an event, a
        // call acquired before another process's newer rest (not merged in yet) would
        // end that rest at the next merge.
        let until = self.sel.until(idx);
        if !late && !until.is_nan() {
            self.sel.set_until(idx, f64::NAN);
        }
        if !late && until > now {
            st.updated_at = stamp(st.updated_at, now);
        } else if lease.is_none() {
            // A reported success (markSuccess) is an event: it ends a rest this pool has
            // not seen yet (stored by another process, or not loaded), as it ends one it
            // knows. A call's success is not (LlmKeyPool's run too): it may have been
            // acquired before a rest another process recorded meanwhile.
            st.updated_at = stamp(st.updated_at, now);
        }
        if lease.is_none() || !v2 {
            // markSuccess ends the incident, as clear_cooldown does (v1's mode: any success).
            st.cooldown_started = f64::NAN;
        }
        match (self.settings.mode, lease) {
            (Mode::V1, _) => self.sel.set_rank(idx, now),
            (Mode::V2, None) => self.use_rank(idx),
            (Mode::V2, Some(_)) => {}
        }
        Ok(())
    }

    /// [`Pool::succeed`] for a call that named a model: also ends the pair's rest, unless
    /// the lease began before it (a lease never outlives its pick, so only a standalone
    /// `markSuccess` with a model ends one).
    pub fn succeed_for(
        &mut self,
        idx: u32,
        now: f64,
        lease: Option<f64>,
        model: Option<u32>,
    ) -> Result<(), Error> {
        self.check_model(model)?;
        self.succeed(idx, now, lease)?;
        if let (Some(m), None) = (model, lease) {
            // A reported success for a model is an event for the pair even with no rest
            // here: it ends another process's rest of it (not seen yet) when states merge.
            let Some(p) = self.pair_of(idx, m) else {
                self.mark(mark_key(idx, Some(m)), now);
                return Ok(());
            };
            let st = &mut self.pairs[p as usize];
            st.updated_at = stamp(st.updated_at, now);
            st.cooldown_started = f64::NAN;
            self.sel.set_pair_until(p, f64::NAN);
            return Ok(());
        }
        let Some(p) = model.and_then(|m| self.pair_of(idx, m)) else { return Ok(()) };
        let st = &mut self.pairs[p as usize];
        let late = lease.is_some_and(|t| t <= st.cooldown_started);
        if self.sel.pair_until(p) > now && !late {
            st.updated_at = stamp(st.updated_at, now);
            self.sel.set_pair_until(p, f64::NAN);
        }
        Ok(())
    }

    /// Reports a failure and starts the cooldown its reason's schedule asks for.
    /// `retry_after_ms` (from the provider's headers) replaces the schedule's step,
    /// clamped to its cap. `lease` as in [`Pool::succeed`].
    pub fn fail(
        &mut self,
        idx: u32,
        now: f64,
        reason: Reason,
        retry_after_ms: Option<f64>,
        lease: Option<f64>,
    ) -> Result<Failure, Error> {
        self.fail_for(idx, now, reason, retry_after_ms, lease, None)
    }

    /// [`Pool::fail`] for a call that named `model` (v2). When the reason's policy is
    /// per model (`rate_limit`, `timeout`, `model_not_found` by default), the pair
    /// (profile, model) rests on the reason's schedule, counted on its own error count,
    /// and the profile stays available to other models; but when another model failed
    /// on the profile within the failure window (and its count was not cleared), the
    /// whole profile rests instead (`widened`); `model_not_found` neither widens nor
    /// counts towards it. A failure while the pair rests counts and does not extend it; a
    /// lease that began before the pair's last rest is late, as before the profile's. While
    /// the profile itself rests, the failure is the profile's, as in [`Pool::fail`].
    pub fn fail_for(
        &mut self,
        idx: u32,
        now: f64,
        reason: Reason,
        retry_after_ms: Option<f64>,
        lease: Option<f64>,
        model: Option<u32>,
    ) -> Result<Failure, Error> {
        self.check(idx)?;
        self.check_lease(lease)?;
        self.check_model(model)?;
        self.sync(now)?;
        let mode = self.settings.mode;
        let policy = self.settings.policy.get(reason);
        let late = mode == Mode::V2 && self.failed_late(idx, lease);
        let cooling = self.sel.is_cooling(idx, now);
        let st = &mut self.state[idx as usize];
        if lease.is_some() {
            st.in_flight = st.in_flight.saturating_sub(1);
        }
        if late || policy.schedule == Schedule::None {
            return Ok(Failure { late, error_count: st.error_count, ..Failure::default() });
        }
        let scoped = match model {
            Some(m) if mode == Mode::V2 && policy.per_model && !cooling => Some(m),
            _ => None,
        };
        // The rest begins, for telling late failures, no earlier than the call that caused it:
        // after the clock steps back, the calls in flight with this one (started at the same
        // time or before it) fail late too, as they would have without the step.
        let started = lease.map_or(now, |t| t.max(now));
        let Some(m) = scoped else {
            return Ok(self.fail_key(idx, now, started, reason, retry_after_ms, cooling));
        };
        let scoped = Failure { model_scoped: true, ..Failure::default() };
        if let Some(p) = self.pair_of(idx, m) {
            let st = &self.pairs[p as usize];
            if lease.is_some_and(|t| t <= st.cooldown_started) {
                return Ok(Failure { late: true, error_count: st.error_count, ..scoped });
            }
        }
        // A model that does not exist says nothing about the key (a client's typo would rest
        // every key for every model): it neither widens nor counts towards widening.
        let window = self.settings.cooldowns.failure_window_ms;
        let widen = reason != Reason::ModelNotFound
            && self.pairs_of(idx).any(|q| {
                let q = &self.pairs[q as usize];
                q.model != m
                    && q.error_count > 0
                    && now - q.last_failure <= window
                    && q.reason != Some(Reason::ModelNotFound)
            });
        // A model with no resting pair yet needs a view of its own, which may not fit the
        // views' budget: then the failure rests the whole profile, as past MAX_MODELS names.
        let pair_rests = self.pair_of(idx, m).is_some_and(|p| self.sel.pair_until(p) > now);
        let no_room = !pair_rests && !self.sel.has_room_for(m);
        if widen || no_room {
            return Ok(Failure {
                widened: true,
                ..self.fail_key(idx, now, started, reason, retry_after_ms, false)
            });
        }
        let p = self.pair_or_add(idx, m);
        let resting = self.sel.pair_until(p) > now;
        let st = &mut self.pairs[p as usize];
        if resting {
            let error_count = st.rest().count(now);
            return Ok(Failure { error_count, ..scoped });
        }
        let window_applies = !st.last_failure.is_nan();
        let cd = self.settings.cooldowns;
        let (error_count, ms) =
            st.rest().start(now, started, reason, policy.schedule, window_applies.then_some(window), |n| {
                cd.cooldown_ms(policy.schedule, n, retry_after_ms)
            });
        let (until, ms) = rest_end(now, ms);
        self.sel.set_pair_until(p, until);
        Ok(Failure { cooldown_ms: Some(ms), error_count, ..scoped })
    }

    /// A failure of the profile itself (the lease and the reason's schedule checked).
    fn fail_key(
        &mut self,
        idx: u32,
        now: f64,
        started: f64,
        reason: Reason,
        retry_after_ms: Option<f64>,
        cooling: bool,
    ) -> Failure {
        let mode = self.settings.mode;
        let policy = self.settings.policy.get(reason);
        let cd = self.settings.cooldowns;
        let st = &mut self.state[idx as usize];
        if cooling {
            // Already resting: count it, but never extend the cooldown.
            if mode == Mode::V1 {
                st.reason = Some(reason);
            }
            let error_count = st.rest().count(now);
            return Failure { error_count, ..Failure::default() };
        }
        let last = st.last_failure;
        let window_applies = match mode {
            Mode::V1 => last != 0.0 && !last.is_nan(),
            Mode::V2 => !last.is_nan(),
        };
        let window = window_applies.then_some(cd.failure_window_ms);
        let (error_count, ms) = st.rest().start(now, started, reason, policy.schedule, window, |n| {
            cd.cooldown_ms(policy.schedule, n, retry_after_ms)
        });
        let (until, ms) = rest_end(now, ms);
        self.sel.set_until(idx, until);
        Failure { cooldown_ms: Some(ms), error_count, ..Failure::default() }
    }

    /// Ends a lease without a verdict (the caller aborted the call).
    pub fn release(&mut self, idx: u32) -> Result<(), Error> {
        self.check(idx)?;
        let st = &mut self.state[idx as usize];
        st.in_flight = st.in_flight.saturating_sub(1);
        Ok(())
    }

    /// Clears the cooldown and the error count, the profile's and its pairs'.
    pub fn clear_cooldown(&mut self, idx: u32, now: f64) -> Result<(), Error> {
        self.check(idx)?;
        self.sync(now)?;
        // Always an event, even for a profile with no rest here: it ends a rest this pool
        // has not seen (another process's, or one not loaded yet) when the states merge.
        // It also ends the incident: a failure from now on counts, whenever its call began
        // (with a clock that stands still, a call begun at the clear is not a late one).
        let st = &mut self.state[idx as usize];
        st.updated_at = stamp(st.updated_at, now);
        st.error_count = 0;
        st.cooldown_started = f64::NAN;
        self.sel.set_until(idx, f64::NAN);
        self.mark(mark_key(idx, None), now);
        let mut p = self.pair_head.get(idx as usize).copied().unwrap_or(NO_PAIR);
        while p != NO_PAIR {
            let st = &mut self.pairs[p as usize];
            st.updated_at = stamp(st.updated_at, now);
            st.error_count = 0;
            st.cooldown_started = f64::NAN;
            self.sel.set_pair_until(p, f64::NAN);
            p = self.pair_next[p as usize];
        }
        Ok(())
    }

    /// How many running rests have ended early or been shortened, by a success, a clear or
    /// a merged state (not by the clock): while it stays the same, a call waiting for a rest
    /// to end has nothing to look again for.
    pub fn rests_cut(&self) -> u64 {
        self.sel.rests_cut()
    }

    /// Whether the profile is cooling down (or disabled) at `now`.
    pub fn is_cooling(&self, idx: u32, now: f64) -> Result<bool, Error> {
        self.check(idx)?;
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        Ok(self.sel.is_cooling(idx, now))
    }

    /// How long until the soonest cooling profile recovers; `None` when none is cooling.
    pub fn wait_ms(&mut self, now: f64) -> Result<Option<f64>, Error> {
        self.sync(now)?;
        Ok(self.sel.soonest().map(|t| t - now))
    }

    /// How long until a profile is available to a call naming `model` (`None`: no
    /// model): 0 when one is. When pairs of that model rest, this scans the profiles
    /// (O(n)): it is asked only when a call finds nothing available, once per wait.
    pub fn wait_ms_for(&mut self, now: f64, model: Option<u32>) -> Result<Option<f64>, Error> {
        self.wait_ms_excluding(now, model, &[])
    }

    /// [`Pool::wait_ms_for`] for a run that must not get the profiles in `excluded`
    /// (sorted; see [`Pool::acquire_excluding`]): their rests are not waited for, and
    /// `None` when every other profile is excluded too. With exclusions this scans the
    /// profiles, as with resting pairs.
    pub fn wait_ms_excluding(
        &mut self,
        now: f64,
        model: Option<u32>,
        excluded: &[u32],
    ) -> Result<Option<f64>, Error> {
        self.check_model(model)?;
        self.sync(now)?;
        let resting = |t: f64| if t > now { t } else { now };
        let m = model.filter(|&m| self.sel.has_view(m));
        if m.is_none() && excluded.is_empty() {
            return Ok(if self.sel.available() > 0 { Some(0.0) } else { self.wait_ms(now)? });
        }
        let mut best = f64::INFINITY;
        for idx in 0..self.len() as u32 {
            if excluded.binary_search(&idx).is_ok() {
                continue;
            }
            let pair = m.and_then(|m| self.pair_of(idx, m)).map_or(now, |p| resting(self.sel.pair_until(p)));
            best = best.min(resting(self.sel.until(idx)).max(pair));
        }
        Ok((best < f64::INFINITY).then_some(best - now))
    }

    /// Starts (or stops) recording the rests that end, for [`Pool::take_recovered`].
    pub fn track_recoveries(&mut self, on: bool) {
        self.sel.track_recoveries(on);
    }

    /// Brings the pool to `now` and returns the rests that ended since the last call
    /// (while tracking is on), oldest first: profile, `u32::MAX` for a profile's own rest;
    /// profile, model for a pair's. A rest ends when its time is reached (seen
    /// by the first operation at or after it) or when a success, `clear_cooldown` or an
    /// import ends it early.
    /// Each comes with the reason it was for (see [`Pool::rest_reason`]), read when the rest
    /// was seen to end: a failure that starts the next rest does not change it.
    pub fn take_recovered(&mut self, now: f64) -> Result<Vec<(u32, u32, Option<Reason>)>, Error> {
        self.sync(now)?;
        Ok(core::mem::take(&mut self.recovered))
    }

    /// Moves the rests the selection saw end into `recovered`, with their reasons now.
    pub(crate) fn note_recovered(&mut self) {
        if !self.sel.has_recovered() {
            return;
        }
        for rest in self.sel.take_recovered().chunks_exact(2) {
            let (idx, m) = (rest[0], rest[1]);
            let reason = self.rest_reason(idx, (m != u32::MAX).then_some(m));
            self.recovered.push((idx, m, reason));
        }
    }

    /// The reason of the profile's last failure (`model`: of the pair's), which stays
    /// recorded once its rest is over: what a rest that [`Pool::take_recovered`] reports
    /// was for. `None` for an unknown profile or pair, or one that never failed.
    pub fn rest_reason(&self, idx: u32, model: Option<u32>) -> Option<Reason> {
        match model {
            None => self.state.get(idx as usize)?.reason,
            Some(m) => self.pairs[self.pair_of(idx, m)? as usize].reason,
        }
    }

    /// Whether a failed call's lease began before the profile's last cooldown did: its
    /// failure is that rest's incident seen late, whether the rest is still on or has ended
    /// (a short Retry-After, a long call), and counts nothing.
    #[inline]
    fn failed_late(&self, idx: u32, lease: Option<f64>) -> bool {
        lease.is_some_and(|t| t <= self.state[idx as usize].cooldown_started)
    }

    /// Whether a lease's call began before the profile's current cooldown did.
    #[inline]
    fn is_late(&self, idx: u32, now: f64, lease: Option<f64>) -> bool {
        match lease {
            Some(t) => self.sel.is_cooling(idx, now) && t <= self.state[idx as usize].cooldown_started,
            None => false,
        }
    }

    #[inline]
    fn check(&self, idx: u32) -> Result<(), Error> {
        if (idx as usize) < self.ids.len() {
            Ok(())
        } else {
            Err(Error::UnknownProfile(idx))
        }
    }

    #[inline]
    fn check_model(&self, model: Option<u32>) -> Result<(), Error> {
        match model {
            Some(m) if m as usize >= self.models.len() => Err(Error::UnknownModel(m)),
            _ => Ok(()),
        }
    }

    #[inline]
    fn check_lease(&self, lease: Option<f64>) -> Result<(), Error> {
        match lease {
            Some(t) if !check_time(t) => Err(Error::BadTime(t)),
            _ => Ok(()),
        }
    }

    #[inline]
    fn sync(&mut self, now: f64) -> Result<(), Error> {
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        self.sel.advance(now);
        self.note_recovered();
        Ok(())
    }
}

const FALLBACK_BIT: u32 = 1 << 31;
const NO_PAIR: u32 = u32::MAX;

fn unpack_origin(o: u32) -> (Kind, u32) {
    let kind = if o & FALLBACK_BIT != 0 { Kind::Fallback } else { Kind::Primary };
    (kind, o & !FALLBACK_BIT)
}

/// Names stored end to end in one string: profile ids, model names. One allocation for
/// all of them rather than one each (a profile's id costs its bytes and 4 more).
#[derive(Clone, Debug, Default)]
struct Names {
    text: String,
    /// Where each name ends in `text`.
    ends: Vec<u32>,
}

impl Names {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        self.text.get(start..end)
    }

    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
    }
}

/// Id → index lookup: an open-addressing hash table of profile indices (the ids
/// themselves live once, in `Pool::ids`). FNV-1a; ids come from the configuration.
#[derive(Clone, Debug, Default)]
struct IdIndex {
    slots: Vec<u32>,
}

const EMPTY_SLOT: u32 = u32::MAX;

fn hash(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

impl IdIndex {
    fn get(&self, ids: &Names, id: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.find(ids, id).ok()
    }

    /// The profile with this id, or the empty slot where it goes. Needs room (see
    /// [`IdIndex::reserve`]): a table with no empty slot has no answer.
    fn find(&self, ids: &Names, id: &str) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut i = hash(id) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY_SLOT {
                return Err(i);
            }
            if ids.get(slot as usize) == Some(id) {
                return Ok(slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `idx` (whose id is `ids[idx]`, not yet present).
    fn insert(&mut self, ids: &Names, idx: u32) {
        self.room_for(ids, ids.len());
        self.place(ids, idx);
    }

    /// Grows the table once `count` ids would fill more than half of it.
    #[inline]
    fn room_for(&mut self, ids: &Names, count: usize) {
        if count * 2 > self.slots.len() {
            self.reserve(ids, count * 2);
        }
    }

    /// Puts `idx` in the empty slot [`IdIndex::find`] gave, with no change in between.
    fn fill(&mut self, slot: usize, idx: u32) {
        self.slots[slot] = idx;
    }

    fn place(&mut self, ids: &Names, idx: u32) {
        let mask = self.slots.len() - 1;
        let mut i = hash(ids.get(idx as usize).unwrap_or_default()) as usize & mask;
        while self.slots[i] != EMPTY_SLOT {
            i = (i + 1) & mask;
        }
        self.slots[i] = idx;
    }

    /// Makes room for `count` ids at a load of at most one half.
    fn reserve(&mut self, ids: &Names, count: usize) {
        let want = (count.max(4) * 2).next_power_of_two();
        if want <= self.slots.len() {
            return;
        }
        let old = core::mem::replace(&mut self.slots, vec![EMPTY_SLOT; want]);
        for idx in old.into_iter().filter(|&s| s != EMPTY_SLOT) {
            self.place(ids, idx);
        }
    }
}
