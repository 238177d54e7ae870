//! Status: what each profile looks like at a given time (available, cooling down or
//! disabled), and the pool's totals, with v1's meaning.

use crate::config::{check_time, Mode};
use crate::pool::{Error, Pool, ProfileState};
use crate::prelude::*;
use crate::reason::Reason;

/// The header of a profile in [`Pool::write_columns`]: one number (an integer below
/// 2^27, so a JS host reads its bits with `&` and `>>>` on the double), followed by the
/// profile's values that are present, in this order: cooldownUntil, errorCount,
/// lastUsed, lastFailure, lastSuccess. A profile that was never used, so never failed,
/// is one number (its header, 0).
pub mod header {
    /// Bits 0–1: the state (0 available, 1 cooldown, 2 disabled).
    pub const STATE: u32 = 0b11;
    /// Bits 2–5: the last failure's reason code + 1 (0: none).
    pub const REASON_SHIFT: u32 = 2;
    /// The reason bits, once shifted down by [`REASON_SHIFT`].
    pub const REASON_MASK: u32 = 0b1111;
    /// A recorded cooldown end follows (possibly past).
    pub const COOLDOWN_UNTIL: u32 = 1 << 6;
    /// A nonzero error count follows (absent: 0).
    pub const ERROR_COUNT: u32 = 1 << 7;
    /// A lastUsed time follows.
    pub const LAST_USED: u32 = 1 << 8;
    /// A lastFailure time follows.
    pub const LAST_FAILURE: u32 = 1 << 9;
    /// A lastSuccess time follows.
    pub const LAST_SUCCESS: u32 = 1 << 10;
    /// Any of the values above follows.
    pub const VALUES: u32 = COOLDOWN_UNTIL | ERROR_COUNT | LAST_USED | LAST_FAILURE | LAST_SUCCESS;
    /// Bits 11–26: calls in flight.
    pub const IN_FLIGHT_SHIFT: u32 = 11;
}
/// Most numbers a profile takes in [`Pool::write_columns`]: its header and five values.
pub const STATUS_MAX_COLUMNS: usize = 6;
/// Numbers a profile takes room for in the status buffer until a status needs more: its
/// header and three values (a used key's lastUsed and lastSuccess, and one more).
pub const STATUS_ROOM_COLUMNS: usize = 4;
/// Numbers after the profiles in [`Pool::write_columns`] (then the pair count).
pub const STATUS_TOTALS: usize = 5;
/// Numbers per resting pair in [`Pool::write_columns`].
pub const PAIR_COLUMNS: usize = 6;
/// Numbers after the pairs in [`Pool::write_columns`]: [`Status::changes_at`] (infinite: none).
pub const STATUS_TRAILER: usize = 1;

/// A profile's values in [`Pool::write_columns`], in their order, each with its header
/// bit; NaN: absent (not written). One list for counting the room and for writing.
#[inline]
fn row_values(st: &ProfileState, until: f64) -> [(u32, f64); STATUS_MAX_COLUMNS - 1] {
    [
        (header::COOLDOWN_UNTIL, until),
        (header::ERROR_COUNT, if st.error_count == 0 { f64::NAN } else { st.error_count as f64 }),
        (header::LAST_USED, st.last_used),
        (header::LAST_FAILURE, st.last_failure),
        (header::LAST_SUCCESS, st.last_success),
    ]
}

/// The state of a profile at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Not resting: a call may get it (unless it rests for the call's model).
    Available = 0,
    /// Resting after a transient failure.
    Cooldown = 1,
    /// Resting on the long schedule (billing, revoked key).
    Disabled = 2,
}

impl State {
    /// The name v1 reports (`"available"`, `"cooldown"`, `"disabled"`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Cooldown => "cooldown",
            State::Disabled => "disabled",
        }
    }
}

/// One profile's status. Times are ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileStatus {
    /// Available, cooling down or disabled at the status's time.
    pub state: State,
    /// The recorded end of the last cooldown, even if it has passed (as v1 reports it).
    pub cooldown_until: Option<f64>,
    /// Time left until the profile is available (0 when it is).
    pub remaining_ms: f64,
    /// Failures in a row.
    pub error_count: u32,
    /// Last pick (v2) or success (v1).
    pub last_used: Option<f64>,
    /// Last failure that counted.
    pub last_failure: Option<f64>,
    /// Last reported success.
    pub last_success: Option<f64>,
    /// The last failure's reason (`lastFailureReason`), kept after the profile recovers.
    pub reason: Option<Reason>,
    /// Calls acquired and not yet reported.
    pub in_flight: u32,
}

/// A model-scoped rest: the profile is unavailable to calls naming that model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelCooldown {
    /// The profile's index.
    pub profile: u32,
    /// The model's index ([`Pool::model_name`]).
    pub model: u32,
    /// `Cooldown`, or `Disabled` on the long schedule.
    pub state: State,
    /// When the rest ends (ms since the epoch).
    pub cooldown_until: f64,
    /// Time left until it ends.
    pub remaining_ms: f64,
    /// The pair's failures in a row.
    pub error_count: u32,
    /// The reason of the failure that started the rest.
    pub reason: Option<Reason>,
}

/// The status of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Primaries in configuration order, then fallback models.
    pub profiles: Vec<ProfileStatus>,
    /// The counts over `profiles`.
    pub totals: Totals,
    /// The model-scoped rests in progress, by pair creation order. They do not count in
    /// the totals: the profile is available to other models.
    pub models: Vec<ModelCooldown>,
    /// The soonest end of a rest in progress (a profile's or a pair's); `None` when
    /// nothing rests. Until then the status at a later time is this one (but for
    /// `remaining_ms`) unless the pool is changed: a host may reuse it.
    pub changes_at: Option<f64>,
}

/// The pool-wide part of a status.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Totals {
    /// Profiles available at the status's time.
    pub available: u32,
    /// Cooling on the transient schedule (disabled profiles are not counted, as in v1).
    pub in_cooldown: u32,
    /// Profiles resting as [`State::Disabled`].
    pub disabled: u32,
    /// Set only when nothing is available: the last failure reason of the last
    /// unavailable profile (v1's rule).
    pub unavailable_reason: Option<Reason>,
    /// Set only when nothing is available: the soonest recovery time.
    pub next_available_at: Option<f64>,
}

#[inline]
fn opt(t: f64) -> Option<f64> {
    (!t.is_nan()).then_some(t)
}

impl Totals {
    /// Adds one profile's status; call in profile order.
    pub fn add(&mut self, p: &ProfileStatus, until: f64) {
        self.count(p.state, p.reason, until);
    }

    #[inline]
    fn count(&mut self, state: State, reason: Option<Reason>, until: f64) {
        if state == State::Available {
            self.available += 1;
        } else {
            self.count_resting(state, reason, until);
        }
    }

    /// Counts a profile that is not available.
    #[inline]
    fn count_resting(&mut self, state: State, reason: Option<Reason>, until: f64) {
        if state == State::Disabled {
            self.disabled += 1;
        } else {
            self.in_cooldown += 1;
        }
        self.unavailable_reason = reason;
        self.next_available_at = Some(self.next_available_at.map_or(until, |t| t.min(until)));
    }

    /// Applies the "only when nothing is available" rules; call after the last `add`.
    pub fn finish(&mut self) {
        if self.available > 0 {
            self.unavailable_reason = None;
            self.next_available_at = None;
        }
    }
}

impl Status {
    /// Reads back the columns [`Pool::write_columns`] wrote at `now` for a pool of `n`
    /// profiles (what a host does to build its objects); `None` when they are not that.
    pub fn from_columns(cols: &[f64], n: usize, now: f64) -> Option<Status> {
        let mut it = cols.iter().copied();
        let mut next = || it.next();
        let reason =
            |code: f64| if code < 0.0 { Some(None) } else { Reason::from_code(code as u8).map(Some) };
        let state = |code: u32| match code {
            0 => Some(State::Available),
            1 => Some(State::Cooldown),
            2 => Some(State::Disabled),
            _ => None,
        };
        let mut profiles = Vec::with_capacity(n.min(cols.len()));
        for _ in 0..n {
            let h = next()? as u32;
            let mut value = |bit: u32| if h & bit != 0 { next().map(Some) } else { Some(None) };
            let until = value(header::COOLDOWN_UNTIL)?;
            let error_count = value(header::ERROR_COUNT)?.map_or(0, |c| c as u32);
            let (last_used, last_failure, last_success) =
                (value(header::LAST_USED)?, value(header::LAST_FAILURE)?, value(header::LAST_SUCCESS)?);
            let state = state(h & header::STATE)?;
            let code = (h >> header::REASON_SHIFT) & header::REASON_MASK;
            profiles.push(ProfileStatus {
                state,
                cooldown_until: until,
                remaining_ms: match (state, until) {
                    (State::Available, _) => 0.0,
                    (_, until) => until? - now,
                },
                error_count,
                last_used,
                last_failure,
                last_success,
                reason: if code == 0 { None } else { Some(Reason::from_code(code as u8 - 1)?) },
                in_flight: h >> header::IN_FLIGHT_SHIFT,
            });
        }
        let opt_time = |t: f64| (!t.is_nan()).then_some(t);
        let totals = Totals {
            available: next()? as u32,
            in_cooldown: next()? as u32,
            disabled: next()? as u32,
            unavailable_reason: reason(next()?)?,
            next_available_at: opt_time(next()?),
        };
        let pairs = next()? as usize;
        let mut models = Vec::with_capacity(pairs.min(cols.len() / PAIR_COLUMNS));
        for _ in 0..pairs {
            let (profile, model, st, until, error_count, code) =
                (next()?, next()?, next()?, next()?, next()?, next()?);
            models.push(ModelCooldown {
                profile: profile as u32,
                model: model as u32,
                state: state(st as u32)?,
                cooldown_until: until,
                remaining_ms: until - now,
                error_count: error_count as u32,
                reason: reason(code)?,
            });
        }
        let changes_at = next().filter(|t| !t.is_nan()).map(|t| (t != f64::INFINITY).then_some(t))?;
        next().is_none().then_some(Status { profiles, totals, models, changes_at })
    }
}

impl Pool {
    /// The status of one profile at `now` (index must be valid and `now` checked).
    #[inline]
    pub fn profile_status(&self, idx: u32, now: f64) -> Option<ProfileStatus> {
        let st = self.state(idx)?;
        let until = self.cooldown_until(idx);
        let cooling = until > now;
        let state = if !cooling {
            State::Available
        } else if match self.mode() {
            Mode::V1 => matches!(st.reason, Some(Reason::Billing | Reason::AuthPermanent)),
            Mode::V2 => st.cooling_long,
        } {
            State::Disabled
        } else {
            State::Cooldown
        };
        Some(ProfileStatus {
            state,
            cooldown_until: opt(until),
            remaining_ms: if cooling { until - now } else { 0.0 },
            error_count: st.error_count,
            last_used: opt(st.last_used),
            last_failure: opt(st.last_failure),
            last_success: opt(st.last_success),
            reason: st.reason,
            in_flight: st.in_flight.into(),
        })
    }

    /// The model-scoped rests in progress at `now` (`now` must be checked).
    pub fn model_cooldowns(&self, now: f64) -> impl Iterator<Item = ModelCooldown> + '_ {
        self.pairs().iter().enumerate().filter_map(move |(p, st)| {
            let until = self.pair_until(p as u32);
            (until > now).then_some(ModelCooldown {
                profile: st.profile,
                model: st.model,
                state: if st.cooling_long { State::Disabled } else { State::Cooldown },
                cooldown_until: until,
                remaining_ms: until - now,
                error_count: st.error_count,
                reason: st.reason,
            })
        })
    }

    /// The status as numbers, for hosts that build their own objects (one crossing of
    /// the wasm boundary): for each profile its [`header`] (state, reason, calls in
    /// flight, which values follow) and the values present — only what differs from a
    /// profile that was never used; then the totals: available, inCooldown, disabled,
    /// unavailableReason (-1: none), nextAvailableAt (NaN: none); then the number of
    /// model-scoped rests and [`PAIR_COLUMNS`] for each: profile, model, state,
    /// cooldownUntil, errorCount, reason code (-1: none); last [`Status::changes_at`]
    /// (infinite: none). [`Status::from_columns`] reads it back. `out` is cleared and reused.
    pub fn write_columns(&self, now: f64, out: &mut Vec<f64>) -> Result<(), Error> {
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        // Written into the spare capacity, not zeroed first: zeroing room for the longest
        // status cost as much as writing it. The buffer stays in the module's memory, which
        // never shrinks, so it is not sized for every value of every profile (6 numbers, 48
        // bytes a profile, a quarter of the pool's own) until a status needs more than
        // STATUS_ROOM_COLUMNS a profile; it grows at most twice in a pool's life, so memory
        // stays flat while the pool's history fills in.
        let n = self.len();
        let columns: usize = self
            .states()
            .iter()
            .zip(self.cooldowns_until())
            .map(|(st, &until)| 1 + row_values(st, until).iter().filter(|(_, v)| !v.is_nan()).count())
            .sum();
        let tail = STATUS_TOTALS + 1 + STATUS_TRAILER;
        let longest = columns + tail;
        if out.capacity() < longest {
            let typical = n * STATUS_ROOM_COLUMNS + tail;
            let room = if longest <= typical { typical } else { n * STATUS_MAX_COLUMNS + tail };
            // Freed before the larger one is taken (nothing in it is kept): growing it in
            // place would hold both at once.
            *out = Vec::new();
            out.reserve_exact(room);
        }
        out.clear();
        let spare = &mut out.spare_capacity_mut()[..longest];
        let mut k = 0;
        let mut totals = Totals::default();
        let mut changes_at = f64::INFINITY;
        let v1 = self.mode() == Mode::V1;
        for (st, &until) in self.states().iter().zip(self.cooldowns_until()) {
            let cooling = until > now; // false for NaN (no cooldown)
            let state = if !cooling {
                State::Available
            } else if v1 && matches!(st.reason, Some(Reason::Billing | Reason::AuthPermanent))
                || !v1 && st.cooling_long
            {
                State::Disabled
            } else {
                State::Cooldown
            };
            if cooling {
                totals.count_resting(state, st.reason, until);
                changes_at = changes_at.min(until);
            }
            let values = row_values(st, until);
            let mut h = state as u32
                | st.reason.map_or(0, |r| r.code() as u32 + 1) << header::REASON_SHIFT
                | u32::from(st.in_flight) << header::IN_FLIGHT_SHIFT;
            let mut m = k + 1;
            for (bit, v) in values {
                if !v.is_nan() {
                    h |= bit;
                    spare[m].write(v);
                    m += 1;
                }
            }
            spare[k].write(h as f64);
            k = m;
        }
        totals.available = n as u32 - totals.in_cooldown - totals.disabled;
        totals.finish();
        let rest = [
            totals.available as f64,
            totals.in_cooldown as f64,
            totals.disabled as f64,
            totals.unavailable_reason.map_or(-1.0, |r| r.code() as f64),
            totals.next_available_at.unwrap_or(f64::NAN),
            0.0, // the number of model-scoped rests, counted below
        ];
        for (slot, v) in spare[k..k + rest.len()].iter_mut().zip(rest) {
            slot.write(v);
        }
        k += rest.len();
        // SAFETY: every number before `k` was written above (each profile its header and
        // the values after it, then the totals), and `k <= longest <= out.capacity()`.
        unsafe { out.set_len(k) };
        let count_at = k - 1;
        let mut pairs = 0;
        for m in self.model_cooldowns(now) {
            pairs += 1;
            changes_at = changes_at.min(m.cooldown_until);
            out.extend_from_slice(&[
                m.profile as f64,
                m.model as f64,
                m.state as u8 as f64,
                m.cooldown_until,
                m.error_count as f64,
                m.reason.map_or(-1.0, |r| r.code() as f64),
            ]);
        }
        if pairs > 0 {
            out[count_at] = pairs as f64;
        }
        out.push(changes_at);
        Ok(())
    }

    /// The status of every profile and the totals at `now`.
    pub fn status(&self, now: f64) -> Result<Status, Error> {
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        let mut totals = Totals::default();
        let mut profiles = Vec::with_capacity(self.len());
        for idx in 0..self.len() as u32 {
            if let Some(p) = self.profile_status(idx, now) {
                totals.add(&p, self.cooldown_until(idx));
                profiles.push(p);
            }
        }
        totals.finish();
        let models: Vec<ModelCooldown> = self.model_cooldowns(now).collect();
        let changes_at = profiles
            .iter()
            .filter(|p| p.state != State::Available)
            .filter_map(|p| p.cooldown_until)
            .chain(models.iter().map(|m| m.cooldown_until))
            .reduce(f64::min);
        Ok(Status { profiles, totals, models, changes_at })
    }
}
