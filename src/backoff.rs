//! Cooldown schedules: how long a profile rests after its n-th failure.
//!
//! Two ladders, one per reason class. By default they are v1's: the transient one
//! (`min(cap, 60 s × 5^(n−1))`: 1 min, 5 min, 25 min, 1 h) and the long one for billing
//! and revoked keys (`min(billingMaxMs, billingBackoffMs × 2^(n−1))`: 5 h, 10 h, 20 h,
//! 24 h). Either can be replaced by a [`Ladder`]: a list of steps, or base × factor
//! with a cap.

use crate::config::{ConfigError, MAX_TIME_MS};
use crate::reason::Schedule;
use crate::text::{cat, num};

/// One minute, the first step of the transient ladder.
pub const TRANSIENT_BASE_MS: f64 = 60_000.0;

/// The most steps a [`Ladder::Steps`] can have.
pub const MAX_STEPS: usize = 10;

/// A custom cooldown ladder: the rest after the n-th failure in a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ladder {
    /// The n-th failure rests `steps[min(n, len) − 1]`; the last step repeats.
    Steps {
        /// How many of `steps` are used: 1 to [`MAX_STEPS`].
        len: u8,
        /// The rests in ms, not decreasing; those past `len` are ignored.
        steps: [f64; MAX_STEPS],
    },
    /// The n-th failure rests `min(cap_ms, base_ms × factor^(n−1))`.
    Geometric {
        /// The first rest, in ms.
        base_ms: f64,
        /// What each failure in a row multiplies the rest by (≥ 1).
        factor: f64,
        /// The longest rest, in ms (≥ `base_ms`).
        cap_ms: f64,
    },
}

/// What is wrong with a duration in ms (NaN, infinite, negative or past 2^53), if anything.
pub(crate) fn ms_problem(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("must be a number, got NaN")
    } else if v.is_infinite() {
        Some("must be finite")
    } else if v < 0.0 {
        Some("must be non-negative")
    } else if v > MAX_TIME_MS {
        Some("must be at most 2^53 ms")
    } else {
        None
    }
}

impl Ladder {
    /// The "gentle" preset's transient ladder: 30 s, 1 min, 5 min.
    pub const GENTLE: Ladder =
        Ladder::Steps { len: 3, steps: [30_000.0, 60_000.0, 300_000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] };

    /// A ladder of steps in ms: 1 to [`MAX_STEPS`] of them, each finite, ≥ 0 and not
    /// shorter than the one before. `field` names it in errors (`schedules.transient`).
    pub fn steps(field: &str, steps: &[f64]) -> Result<Ladder, ConfigError> {
        if steps.is_empty() || steps.len() > MAX_STEPS {
            return Err(ConfigError::new(field, "must have 1 to 10 steps"));
        }
        let mut out = [0.0; MAX_STEPS];
        for (i, &v) in steps.iter().enumerate() {
            let shorter = i > 0 && v < out[i - 1];
            if let Some(p) = ms_problem(v).or(shorter.then_some("must not be shorter than the step before")) {
                return Err(ConfigError::new(cat(&[field, "[", &num(i as u64), "]"]), p));
            }
            out[i] = v;
        }
        Ok(Ladder::Steps { len: steps.len() as u8, steps: out })
    }

    /// `min(cap_ms, base_ms × factor^(n−1))`: base and cap finite ms with base ≤ cap,
    /// factor finite and ≥ 1.
    pub fn geometric(field: &str, base_ms: f64, factor: f64, cap_ms: f64) -> Result<Ladder, ConfigError> {
        let problem = if let Some(p) = ms_problem(base_ms) {
            ("baseMs", p)
        } else if let Some(p) = ms_problem(cap_ms) {
            ("capMs", p)
        } else if !(factor.is_finite() && factor >= 1.0) {
            ("factor", "must be a finite number >= 1")
        } else if cap_ms < base_ms {
            ("capMs", "must not be less than baseMs")
        } else {
            return Ok(Ladder::Geometric { base_ms, factor, cap_ms });
        };
        Err(ConfigError::new(cat(&[field, ".", problem.0]), problem.1))
    }

    /// Whether the ladder is one [`Ladder::steps`] or [`Ladder::geometric`] accept (for
    /// ladders built from their parts, e.g. by the wasm binding after the JS layer
    /// checked them and named the fields).
    pub fn is_valid(&self) -> bool {
        match *self {
            Ladder::Steps { len, steps } => {
                let mut prev = 0.0;
                for &v in steps.get(..len as usize).unwrap_or(&[]) {
                    if ms_problem(v).is_some() || v < prev {
                        return false;
                    }
                    prev = v;
                }
                len > 0 && len as usize <= MAX_STEPS
            }
            Ladder::Geometric { base_ms, factor, cap_ms } => {
                ms_problem(base_ms).is_none()
                    && ms_problem(cap_ms).is_none()
                    && factor.is_finite()
                    && factor >= 1.0
                    && base_ms <= cap_ms
            }
        }
    }

    /// The longest rest of the ladder (what a Retry-After is clamped to).
    pub fn cap(&self) -> f64 {
        match *self {
            // (A ladder built from its parts with a `len` out of 1..=MAX_STEPS, which
            // `is_valid` refuses, still answers without panicking.)
            Ladder::Steps { len, steps } => steps[(len as usize).clamp(1, MAX_STEPS) - 1],
            Ladder::Geometric { cap_ms, .. } => cap_ms,
        }
    }

    /// The rest after the `n`-th failure in a row (`n` ≥ 1).
    pub fn step(&self, n: u32) -> f64 {
        let k = n.max(1) - 1;
        match *self {
            Ladder::Steps { len, steps } => steps[(k as usize).min((len as usize).clamp(1, MAX_STEPS) - 1)],
            Ladder::Geometric { base_ms, factor, cap_ms } => {
                cap_ms.min(base_ms * powi(factor, k.min(i32::MAX as u32)))
            }
        }
    }
}

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
    /// Replaces v1's transient ladder (and its cap `max_rate_limit_cooldown_ms`).
    pub transient: Option<Ladder>,
    /// Replaces v1's long ladder (and `billing_backoff_ms`, `billing_max_ms`).
    pub long: Option<Ladder>,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns {
            max_rate_limit_cooldown_ms: 3_600_000.0,
            billing_backoff_ms: 18_000_000.0,
            billing_max_ms: 86_400_000.0,
            failure_window_ms: 86_400_000.0,
            transient: None,
            long: None,
        }
    }
}

impl Cooldowns {
    /// The "gentle" preset: transient rests of 30 s, 1 min, 5 min; v1's long ladder.
    pub fn gentle() -> Cooldowns {
        Cooldowns { transient: Some(Ladder::GENTLE), ..Cooldowns::default() }
    }

    /// What is wrong with these settings, naming the field (`cooldowns.billingMaxMs`,
    /// `schedules.transient`), if anything: what [`crate::config::cooldowns_from`] and
    /// [`Ladder::steps`]/[`Ladder::geometric`] refuse.
    pub fn problem(&self) -> Option<ConfigError> {
        let values = [
            self.max_rate_limit_cooldown_ms,
            self.billing_backoff_ms,
            self.billing_max_ms,
            self.failure_window_ms,
        ];
        for (i, &v) in values.iter().enumerate() {
            if let Some(p) = ms_problem(v) {
                return Some(ConfigError::new(crate::config::cd_field(i), p));
            }
        }
        for (field, ladder) in [("schedules.transient", &self.transient), ("schedules.long", &self.long)] {
            if ladder.as_ref().is_some_and(|l| !l.is_valid()) {
                return Some(ConfigError::new(
                    field,
                    "is not a ladder Ladder::steps or Ladder::geometric accepts",
                ));
            }
        }
        None
    }

    fn ladder(&self, schedule: Schedule) -> Option<&Ladder> {
        match schedule {
            Schedule::Transient => self.transient.as_ref(),
            Schedule::Long => self.long.as_ref(),
            Schedule::None => None,
        }
    }

    /// The cap of a schedule: the longest cooldown it (or a Retry-After on it) can set.
    pub fn cap(&self, schedule: Schedule) -> f64 {
        if let Some(l) = self.ladder(schedule) {
            return l.cap();
        }
        match schedule {
            Schedule::Transient => self.max_rate_limit_cooldown_ms,
            Schedule::Long => self.billing_max_ms,
            Schedule::None => 0.0,
        }
    }

    /// The cooldown after the `error_count`-th failure in a row (`error_count` ≥ 1).
    ///
    /// v1's ladders clamp the exponent as v1 does (3 for transient, 10 for long), so the
    /// result is finite for every count.
    pub fn step_ms(&self, schedule: Schedule, error_count: u32) -> f64 {
        if let Some(l) = self.ladder(schedule) {
            return l.step(error_count);
        }
        let n = error_count.max(1) - 1;
        match schedule {
            Schedule::Transient => {
                let exp = n.min(3);
                self.max_rate_limit_cooldown_ms.min(TRANSIENT_BASE_MS * powi(5.0, exp))
            }
            Schedule::Long => {
                let exp = n.min(10);
                self.billing_max_ms.min(self.billing_backoff_ms * powi(2.0, exp))
            }
            Schedule::None => 0.0,
        }
    }

    /// The cooldown to apply: the provider's `retry_after_ms` when it gave one (clamped to
    /// the schedule's cap; an infinite one is the cap), else the schedule's step.
    pub fn cooldown_ms(&self, schedule: Schedule, error_count: u32, retry_after_ms: Option<f64>) -> f64 {
        match (schedule, retry_after_ms) {
            (Schedule::None, _) => 0.0,
            (_, Some(ms)) if ms >= 0.0 => ms.min(self.cap(schedule)),
            _ => self.step_ms(schedule, error_count),
        }
    }
}

/// `base` to the power `exp` by squaring: what `f64::powi` computes (compiler-rt's
/// `__powidf2`), which core lacks (the WebAssembly build is no_std).
fn powi(mut base: f64, mut exp: u32) -> f64 {
    let mut r = 1.0;
    loop {
        if exp & 1 == 1 {
            r *= base;
        }
        exp >>= 1;
        if exp == 0 {
            return r;
        }
        base *= base;
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
        // A provider that says "much later" gets the cap, not the first step.
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(f64::INFINITY)), HOUR);
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(-5.0)), MIN);
        assert_eq!(c.cooldown_ms(Schedule::None, 1, Some(5.0)), 0.0);
    }

    #[test]
    fn ladders_of_steps() {
        let c = Cooldowns::gentle();
        let got: Vec<f64> = (1..=5).map(|n| c.step_ms(Schedule::Transient, n)).collect();
        assert_eq!(got, vec![30_000.0, MIN, 5.0 * MIN, 5.0 * MIN, 5.0 * MIN]);
        // The long ladder stays v1's; a Retry-After is clamped to the ladder's last step.
        assert_eq!(c.step_ms(Schedule::Long, 1), 5.0 * HOUR);
        assert_eq!(c.cooldown_ms(Schedule::Transient, 1, Some(HOUR)), 5.0 * MIN);
        let one = Ladder::steps("schedules.long", &[HOUR]).unwrap();
        assert_eq!(one.step(u32::MAX), HOUR);
        assert_eq!(one.step(0), HOUR);
    }

    #[test]
    fn geometric_ladders() {
        let l = Ladder::geometric("schedules.transient", 10_000.0, 3.0, 200_000.0).unwrap();
        let got: Vec<f64> = (1..=5).map(|n| l.step(n)).collect();
        assert_eq!(got, vec![10_000.0, 30_000.0, 90_000.0, 200_000.0, 200_000.0]);
        assert_eq!(l.step(u32::MAX), 200_000.0); // factor^huge is infinite: the cap
        let flat = Ladder::geometric("x", 5.0, 1.0, 5.0).unwrap();
        assert_eq!(flat.step(1_000_000), 5.0);
        assert_eq!(l.cap(), 200_000.0);
    }

    #[test]
    fn ladder_errors_name_the_field() {
        let e = |r: Result<Ladder, crate::config::ConfigError>| r.unwrap_err().to_string();
        assert_eq!(
            e(Ladder::steps("schedules.transient", &[])),
            "schedules.transient: must have 1 to 10 steps"
        );
        assert_eq!(
            e(Ladder::steps("schedules.transient", &[1.0; 11])),
            "schedules.transient: must have 1 to 10 steps"
        );
        assert_eq!(
            e(Ladder::steps("schedules.transient", &[5.0, f64::NAN])),
            "schedules.transient[1]: must be a number, got NaN"
        );
        assert_eq!(
            e(Ladder::steps("schedules.long", &[5.0, 4.0])),
            "schedules.long[1]: must not be shorter than the step before"
        );
        assert_eq!(e(Ladder::steps("s", &[-1.0])), "s[0]: must be non-negative");
        assert_eq!(e(Ladder::geometric("s", 1.0, 0.5, 9.0)), "s.factor: must be a finite number >= 1");
        assert_eq!(e(Ladder::geometric("s", 10.0, 2.0, 9.0)), "s.capMs: must not be less than baseMs");
        assert_eq!(e(Ladder::geometric("s", f64::INFINITY, 2.0, 9.0)), "s.baseMs: must be finite");
    }

    #[test]
    fn is_valid_agrees_with_the_constructors() {
        let steps = |v: &[f64]| {
            let mut a = [0.0; MAX_STEPS];
            a[..v.len()].copy_from_slice(v);
            Ladder::Steps { len: v.len() as u8, steps: a }
        };
        for v in [&[][..], &[1.0, 0.5], &[f64::NAN], &[-1.0], &[1e300], &[0.0, 0.0, 5.0]] {
            assert_eq!(steps(v).is_valid(), Ladder::steps("s", v).is_ok(), "{v:?}");
        }
        for (b, f, c) in [
            (1.0, 2.0, 5.0),
            (1.0, 0.9, 5.0),
            (5.0, 2.0, 1.0),
            (f64::NAN, 2.0, 1.0),
            (1.0, f64::INFINITY, 2.0),
        ] {
            let g = Ladder::Geometric { base_ms: b, factor: f, cap_ms: c };
            assert_eq!(g.is_valid(), Ladder::geometric("g", b, f, c).is_ok(), "{b} {f} {c}");
        }
    }

    #[test]
    fn powi_is_std_powi_to_the_bit() {
        for base in [0.0, 1.0, 1.5, 2.0, 5.0, 1.000_1, 3.7, 1e-3, 10.0, 1e300, f64::INFINITY] {
            for exp in [0u32, 1, 2, 3, 7, 10, 31, 64, 1_000, i32::MAX as u32] {
                let (got, want) = (powi(base, exp), base.powi(exp as i32));
                assert_eq!(got.to_bits(), want.to_bits(), "{base}^{exp}: {got} != {want}");
            }
        }
    }
}
