//! Status: what each profile looks like at a given time (available, cooling down or
//! disabled), and the pool's totals, with v1's meaning.

use crate::config::{check_time, Mode};
use crate::pool::{Error, Pool};
use crate::reason::Reason;

/// Numbers per profile in [`Pool::write_columns`].
pub const STATUS_COLUMNS: usize = 8;
/// Numbers after the profiles in [`Pool::write_columns`] (then the pair count).
pub const STATUS_TOTALS: usize = 5;
/// Numbers per resting pair in [`Pool::write_columns`].
pub const PAIR_COLUMNS: usize = 6;

/// The state of a profile at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Available = 0,
    /// Resting after a transient failure.
    Cooldown = 1,
    /// Resting on the long schedule (billing, revoked key).
    Disabled = 2,
}

impl State {
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
    pub state: State,
    /// The recorded end of the last cooldown, even if it has passed (as v1 reports it).
    pub cooldown_until: Option<f64>,
    /// Time left until the profile is available (0 when it is).
    pub remaining_ms: f64,
    pub error_count: u32,
    pub last_used: Option<f64>,
    pub last_failure: Option<f64>,
    pub last_success: Option<f64>,
    pub reason: Option<Reason>,
    pub in_flight: u32,
}

/// A model-scoped rest: the profile is unavailable to calls naming that model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelCooldown {
    pub profile: u32,
    /// The model's index ([`Pool::model_name`]).
    pub model: u32,
    /// `Cooldown`, or `Disabled` on the long schedule.
    pub state: State,
    pub cooldown_until: f64,
    pub remaining_ms: f64,
    pub error_count: u32,
    pub reason: Option<Reason>,
}

/// The status of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Primaries in configuration order, then fallback models.
    pub profiles: Vec<ProfileStatus>,
    pub totals: Totals,
    /// The model-scoped rests in progress, by pair creation order. They do not count in
    /// the totals: the profile is available to other models.
    pub models: Vec<ModelCooldown>,
}

/// The pool-wide part of a status.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Totals {
    pub available: u32,
    /// Cooling on the transient schedule (disabled profiles are not counted, as in v1).
    pub in_cooldown: u32,
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
        match state {
            State::Available => self.available += 1,
            State::Cooldown => self.in_cooldown += 1,
            State::Disabled => self.disabled += 1,
        }
        if state != State::Available {
            self.unavailable_reason = reason;
            self.next_available_at = Some(self.next_available_at.map_or(until, |t| t.min(until)));
        }
    }

    /// Applies the "only when nothing is available" rules; call after the last `add`.
    pub fn finish(&mut self) {
        if self.available > 0 {
            self.unavailable_reason = None;
            self.next_available_at = None;
        }
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
    /// the wasm boundary): [`STATUS_COLUMNS`] per profile — state, cooldownUntil,
    /// errorCount, lastUsed, lastFailure, lastSuccess, reason code (-1: none), inFlight —
    /// then the totals: available, inCooldown, disabled, unavailableReason (-1: none),
    /// nextAvailableAt; then the number of model-scoped rests and [`PAIR_COLUMNS`] for
    /// each: profile, model, state, cooldownUntil, errorCount, reason code. Absent times
    /// are NaN. `out` is cleared and reused.
    pub fn write_columns(&self, now: f64, out: &mut Vec<f64>) -> Result<(), Error> {
        if !check_time(now) {
            return Err(Error::BadTime(now));
        }
        let n = self.len();
        out.clear();
        out.resize(n * STATUS_COLUMNS, 0.0);
        let mut totals = Totals::default();
        let v1 = self.mode() == Mode::V1;
        for ((idx, row), st) in out.chunks_exact_mut(STATUS_COLUMNS).enumerate().zip(self.states()) {
            let until = self.cooldown_until(idx as u32);
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
            totals.count(state, st.reason, until);
            row.copy_from_slice(&[
                state as u8 as f64,
                until,
                st.error_count as f64,
                st.last_used,
                st.last_failure,
                st.last_success,
                st.reason.map_or(-1.0, |r| r.code() as f64),
                st.in_flight as f64,
            ]);
        }
        totals.finish();
        out.extend_from_slice(&[
            totals.available as f64,
            totals.in_cooldown as f64,
            totals.disabled as f64,
            totals.unavailable_reason.map_or(-1.0, |r| r.code() as f64),
            totals.next_available_at.unwrap_or(f64::NAN),
            0.0,
        ]);
        let count_at = out.len() - 1;
        let mut pairs = 0;
        for m in self.model_cooldowns(now) {
            pairs += 1;
            out.extend_from_slice(&[
                m.profile as f64,
                m.model as f64,
                m.state as u8 as f64,
                m.cooldown_until,
                m.error_count as f64,
                m.reason.map_or(-1.0, |r| r.code() as f64),
            ]);
        }
        out[count_at] = pairs as f64;
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
        Ok(Status { profiles, totals, models: self.model_cooldowns(now).collect() })
    }
}
