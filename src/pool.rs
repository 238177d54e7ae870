//! The pool state machine: profiles, their failure history, and the operations that
//! change them (acquire, succeed, fail, release, clear). Every operation takes `now` in
//! ms since the Unix epoch; the pool never reads a clock.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::{check_name, check_time, ConfigError, Kind, Mode, ProfileSpec, Settings};
use crate::reason::{Reason, Schedule};
use crate::selection::Selection;
use crate::snapshot::Record;

/// An operation that the pool refuses; the pool is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// No profile has this index.
    UnknownProfile(u32),
    /// `now` (or a lease time) is NaN, infinite, negative or past 2^53.
    BadTime(f64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownProfile(i) => write!(f, "no profile has index {i}"),
            Error::BadTime(_) => f.write_str("time must be a finite number of ms in [0, 2^53]"),
        }
    }
}

impl std::error::Error for Error {}

/// The failure history of one profile. Times are ms since the epoch, NaN when unset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileState {
    /// Failures in a row (reset by the failure window and `clear_cooldown`).
    pub error_count: u32,
    /// Last time the profile was picked (v2) or succeeded (v1).
    pub last_used: f64,
    pub last_failure: f64,
    pub last_success: f64,
    /// The reason of the last failure that counted.
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
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure {
    /// The cooldown that started, in ms; `None` when none did (already cooling, or the
    /// reason's schedule is `none`).
    pub cooldown_ms: Option<f64>,
    /// The call was acquired before the profile's current cooldown began: the same
    /// incident seen late, which changed nothing.
    pub late: bool,
    /// The profile's error count afterwards.
    pub error_count: u32,
}

/// A pool of profiles.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    settings: Settings,
    ids: Vec<Box<str>>,
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
}

impl Pool {
    /// An empty pool; add profiles with [`Pool::add_profile`].
    pub fn new(settings: Settings) -> Pool {
        Pool { settings, ..Default::default() }
    }

    /// A pool of these profiles (primaries and fallbacks, in selection order within each).
    pub fn with_profiles(settings: Settings, profiles: &[ProfileSpec]) -> Result<Pool, ConfigError> {
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
        let path = || format!("{}[{position}]", kind.list());
        check_name(|| format!("{}.provider", path()), provider)?;
        check_name(|| format!("{}.id", path()), id)?;
        if let Some(other) = self.by_id.get(&self.ids, id) {
            let (kind, pos) = unpack_origin(self.origin[other as usize]);
            return Err(ConfigError::new(
                format!("{}.id", path()),
                format!("\"{id}\" is already used by {}[{pos}]", kind.list()),
            ));
        }
        if self.ids.len() >= u32::MAX as usize - 1 || position >= FALLBACK_BIT as usize {
            return Err(ConfigError::new(path(), "too many profiles"));
        }
        let provider = match self.providers.iter().position(|p| &**p == provider) {
            Some(p) => p as u32,
            None => {
                self.providers.push(provider.into());
                (self.providers.len() - 1) as u32
            }
        };
        let rank = match self.settings.mode {
            Mode::V1 => -1.0,
            Mode::V2 => 0.0,
        };
        let idx = self.sel.add((kind == Kind::Primary).then_some(provider), rank);
        self.ids.push(id.into());
        self.by_id.insert(&self.ids, idx);
        self.origin.push(position as u32 | if kind == Kind::Fallback { FALLBACK_BIT } else { 0 });
        self.provider_of.push(provider);
        self.state.push(ProfileState::default());
        Ok(idx)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The profile with this id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(&self.ids, id)
    }

    pub fn id(&self, idx: u32) -> Option<&str> {
        self.ids.get(idx as usize).map(|s| &**s)
    }

    /// Reserves room for `additional` more profiles, so adding them allocates once.
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve_exact(additional);
        self.origin.reserve_exact(additional);
        self.provider_of.reserve_exact(additional);
        self.state.reserve_exact(additional);
        self.sel.reserve(additional);
        self.by_id.reserve(&self.ids, self.ids.len() + additional);
    }

    /// The index of a provider name, for [`Pool::acquire`]'s preference.
    pub fn provider_index(&self, provider: &str) -> Option<u32> {
        self.providers.iter().position(|p| &**p == provider).map(|p| p as u32)
    }

    pub fn provider(&self, idx: u32) -> Option<&str> {
        let p = *self.provider_of.get(idx as usize)?;
        self.providers.get(p as usize).map(|s| &**s)
    }

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
        self.sel.until(idx)
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
        if self.settings.mode == Mode::V2 {
            self.picks += 1.0;
            self.sel.set_rank(idx, self.picks);
            let st = &mut self.state[idx as usize];
            st.last_used = now;
            st.in_flight = st.in_flight.saturating_add(1);
        }
        Ok(Some(idx))
    }

    /// Reports a success: clears the cooldown and records lastUsed/lastSuccess. With a
    /// lease (the `now` of its acquire), a success of a call acquired before the
    /// profile's current cooldown began leaves that cooldown alone. Without a lease it is
    /// a standalone `markSuccess`, which also counts as a use for the round-robin.
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
        if !late && !self.sel.until(idx).is_nan() {
            st.updated_at = now;
            self.sel.set_until(idx, f64::NAN);
        }
        match (self.settings.mode, lease) {
            (Mode::V1, _) => self.sel.set_rank(idx, now),
            (Mode::V2, None) => {
                self.picks += 1.0;
                self.sel.set_rank(idx, self.picks);
            }
            (Mode::V2, Some(_)) => {}
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
        self.check(idx)?;
        self.check_lease(lease)?;
        self.sync(now)?;
        let mode = self.settings.mode;
        let policy = self.settings.policy.get(reason);
        let late = mode == Mode::V2 && self.is_late(idx, now, lease);
        let cooling = self.sel.is_cooling(idx, now);
        let cd = self.settings.cooldowns;
        let st = &mut self.state[idx as usize];
        if lease.is_some() {
            st.in_flight = st.in_flight.saturating_sub(1);
        }
        let unchanged = Failure { cooldown_ms: None, late, error_count: st.error_count };
        if late || policy.schedule == Schedule::None {
            return Ok(unchanged);
        }
        if cooling {
            // Already resting: count it, but never extend the cooldown.
            st.error_count = st.error_count.saturating_add(1);
            st.last_failure = now;
            st.updated_at = now;
            if mode == Mode::V1 {
                st.reason = Some(reason);
            }
            return Ok(Failure { error_count: st.error_count, ..unchanged });
        }
        let last = st.last_failure;
        let window_applies = match mode {
            Mode::V1 => last != 0.0 && !last.is_nan(),
            Mode::V2 => !last.is_nan(),
        };
        if window_applies && now - last > cd.failure_window_ms {
            st.error_count = 0;
        }
        st.error_count = st.error_count.saturating_add(1);
        st.last_failure = now;
        st.reason = Some(reason);
        st.cooldown_started = now;
        st.cooling_long = policy.schedule == Schedule::Long;
        st.updated_at = now;
        let ms = cd.cooldown_ms(policy.schedule, st.error_count, retry_after_ms);
        let error_count = st.error_count;
        self.sel.set_until(idx, now + ms);
        Ok(Failure { cooldown_ms: Some(ms), late: false, error_count })
    }

    /// Ends a lease without a verdict (the caller aborted the call).
    pub fn release(&mut self, idx: u32) -> Result<(), Error> {
        self.check(idx)?;
        let st = &mut self.state[idx as usize];
        st.in_flight = st.in_flight.saturating_sub(1);
        Ok(())
    }

    /// Clears the cooldown and the error count.
    pub fn clear_cooldown(&mut self, idx: u32, now: f64) -> Result<(), Error> {
        self.check(idx)?;
        self.sync(now)?;
        let st = &mut self.state[idx as usize];
        if st.error_count != 0 || !self.sel.until(idx).is_nan() {
            st.updated_at = now;
        }
        st.error_count = 0;
        self.sel.set_until(idx, f64::NAN);
        Ok(())
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
        Ok(())
    }
}

const FALLBACK_BIT: u32 = 1 << 31;

fn unpack_origin(o: u32) -> (Kind, u32) {
    let kind = if o & FALLBACK_BIT != 0 { Kind::Fallback } else { Kind::Primary };
    (kind, o & !FALLBACK_BIT)
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
    fn get(&self, ids: &[Box<str>], id: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash(id) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY_SLOT {
                return None;
            }
            if ids.get(slot as usize).is_some_and(|s| &**s == id) {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `idx` (whose id is `ids[idx]`, not yet present).
    fn insert(&mut self, ids: &[Box<str>], idx: u32) {
        if (ids.len()) * 2 > self.slots.len() {
            self.reserve(ids, ids.len() * 2);
        }
        self.place(ids, idx);
    }

    fn place(&mut self, ids: &[Box<str>], idx: u32) {
        let mask = self.slots.len() - 1;
        let mut i = hash(&ids[idx as usize]) as usize & mask;
        while self.slots[i] != EMPTY_SLOT {
            i = (i + 1) & mask;
        }
        self.slots[i] = idx;
    }

    /// Makes room for `count` ids at a load of at most one half.
    fn reserve(&mut self, ids: &[Box<str>], count: usize) {
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
