//! Cooldown schedules: how long a profile rests after its n-th failure.
//!
//! Two ladders, as in v1: the transient one (`min(cap, 60 s × 5^(n−1))`: 1 min, 5 min,
//! 25 min, 1 h) and the long one for billing and revoked keys
//! (`min(billingMaxMs, billingBackoffMs × 2^(n−1))`: 5 h, 10 h, 20 h, 24 h).

use crate::reason::Schedule;

/// One minute, the first step of the transient ladder.
pub const TRANSIENT_BASE_MS: f64 = 60_000.0;

/// The cooldown settings, all in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cooldowns {
    /// Cap of the transient ladder (default 1 h).
    pub max_rate_limit_cooldown_ms: f64,
    /// First step of the long ladder (default 5 h).
    pub billing_backoff_ms: f64,
    /// Cap of the long ladder (default 24 h).
    pub billing_max_ms: f64,
    /// A failure older than this restarts errorCount from 0 (default 24 h).
    pub failure_window_ms: f64,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns {
            max_rate_limit_cooldown_ms: 3_600_000.0,
            billing_backoff_ms: 18_000_000.0,
            billing_max_ms: 86_400_000.0,
            failure_window_ms: 86_400_000.0,
        }
    }
}

impl Cooldowns {
    /// The cap of a schedule: the longest cooldown it (or a Retry-After on it) can set.
    pub fn cap(&self, schedule: Schedule) -> f64 {
        match schedule {
            Schedule::Transient => self.max_rate_limit_cooldown_ms,
            Schedule::Long => self.billing_max_ms,
            Schedule::None => 0.0,
        }
    }

    /// The cooldown after the `error_count`-th failure in a row (`error_count` ≥ 1).
    ///
    /// The exponent is clamped as in v1 (3 for transient, 10 for long), so the result is
    /// finite for every count.
    pub fn step_ms(&self, schedule: Schedule, error_count: u32) -> f64 {
        let n = error_count.max(1) - 1;
        match schedule {
            Schedule::Transient => {
                let exp = n.min(3) as i32;
                self.max_rate_limit_cooldown_ms.min(TRANSIENT_BASE_MS * 5f64.powi(exp))
            }
            Schedule::Long => {
                let exp = n.min(10) as i32;
                self.billing_max_ms.min(self.billing_backoff_ms * 2f64.powi(exp))
            }
            Schedule::None => 0.0,
        }
    }

    /// The cooldown to apply: the provider's `retry_after_ms` when it gave one (clamped to
    /// the schedule's cap), else the schedule's step.
    pub fn cooldown_ms(&self, schedule: Schedule, error_count: u32, retry_after_ms: Option<f64>) -> f64 {
        match (schedule, retry_after_ms) {
            (Schedule::None, _) => 0.0,
            (_, Some(ms)) if ms.is_finite() && ms >= 0.0 => ms.min(self.cap(schedule)),
            _ => self.step_ms(schedule, error_count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MIN: f64 = 60_000.0;
    const HOUR: f64 = 60.0 * MIN;

    #[test]
    fn transient_ladder() {
        let c = Cooldowns::default();
        let got: Vec<f64> = (1..=6).map(|n| c.step_ms(Schedule::Transient, n)).collect();
        assert_eq!(got, vec![MIN, 5.0 * MIN, 25.0 * MIN, HOUR, HOUR, HOUR]);
    }

    #[test]
    fn long_ladder() {
        let c = Cooldowns::default();
        let got: Vec<f64> = (1..=5).map(|n| c.step_ms(Schedule::Long, n)).collect();
        assert_eq!(got, vec![5.0 * HOUR, 10.0 * HOUR, 20.0 * HOUR, 24.0 * HOUR, 24.0 * HOUR]);
    }

    #[test]
    fn caps_apply() {
        let c = Cooldowns {
            max_rate_limit_cooldown_ms: 2.0 * MIN,
            billing_max_ms: 7.0 * HOUR,
            ..Default::default()
        };
        assert_eq!(c.step_ms(Schedule::Transient, 1), MIN);
        assert_eq!(c.step_ms(Schedule::Transient, 2), 2.0 * MIN);
        assert_eq!(c.step_ms(Schedule::Long, 2), 7.0 * HOUR);
        // A cap above the 4th step does not let the ladder grow past 60 s × 5³ (v1's clamp).
        let big = Cooldowns { max_rate_limit_cooldown_ms: 100.0 * HOUR, ..Default::default() };
        assert_eq!(big.step_ms(Schedule::Transient, 50), 125.0 * MIN);
        assert_eq!(c.step_ms(Schedule::Long, u32::MAX), 7.0 * HOUR);
    }

    #[test]
    fn retry_after_replaces_the_step_and_is_clamped() {
        let c = Cooldowns::default();
        assert_eq!(c.cooldown_ms(Schedule::Transient, 3, Some(7_000.0)), 7_000.0);
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(10.0 * HOUR)), HOUR);
        assert_eq!(c.cooldown_ms(Schedule::Long, 1, Some(30.0 * HOUR)), 24.0 * HOUR);
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(f64::NAN)), MIN);
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(-5.0)), MIN);
        assert_eq!(c.cooldown_ms(Schedule::None, 1, Some(5.0)), 0.0);
    }
}
