//! Configuration and its validation: every value the pool is built from is checked
//! here, and every problem is reported as a [`ConfigError`] naming the field
//! (`profiles[2].id: must not be empty`).

use core::fmt;

use crate::prelude::*;

use crate::backoff::Cooldowns;
use crate::classify::Rules;
use crate::reason::Policy;

/// The longest id, provider or model name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// The latest time accepted as `now`: 2^53 ms (JS numbers are exact up to there).
pub const MAX_TIME_MS: f64 = 9_007_199_254_740_992.0;

/// A configuration value that cannot be used, with the path of the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the field, e.g. `profiles[2].id` or `cooldowns.billingMaxMs`.
    pub field: String,
    /// What is wrong with it, e.g. `must not be empty`.
    pub problem: String,
}

impl ConfigError {
    /// The error `field: problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

#[cfg(not(all(feature = "wasm", target_arch = "wasm32")))]
impl std::error::Error for ConfigError {}

/// How the pool behaves where v1 and v2 differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// key-carousel 2: a pick is recorded when a profile is acquired (concurrent calls
    /// spread), late failures of a lease do not escalate, `disabled` means "resting on
    /// the long schedule".
    V2,
    /// key-carousel 1.1.0, exactly: a pick is recorded at success, `disabled` follows the
    /// last failure reason, a timestamp of 0 counts as unset.
    V1,
}

/// In which order a group's available profiles are picked (v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The profile picked least recently first (never-picked first, then configuration
    /// order); a profile of weight w counts as w profiles (see [`crate::Pool::set_weights`]).
    #[default]
    RoundRobin,
    /// Always the first available profile in configuration order.
    Priority,
}

/// Everything about a pool except its profiles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The cooldown lengths, the failure window and any custom ladders.
    pub cooldowns: Cooldowns,
    /// What each failure reason does: rotate or not, which schedule, per model or not.
    pub policy: Policy,
    /// v1's or v2's behaviour where they differ.
    pub mode: Mode,
    /// v2 only: v1 mode always ranks by last success.
    pub strategy: Strategy,
}

impl Settings {
    /// v2's defaults.
    pub fn v2() -> Settings {
        Settings {
            cooldowns: Cooldowns::default(),
            policy: Policy::v2(),
            mode: Mode::V2,
            strategy: Strategy::RoundRobin,
        }
    }

    /// v1's defaults.
    pub fn v1() -> Settings {
        Settings { cooldowns: Cooldowns::default(), policy: Policy::v1(), mode: Mode::V1, ..Settings::v2() }
    }

    /// The classification rules of this mode.
    pub fn rules(&self) -> Rules {
        match self.mode {
            Mode::V1 => Rules::V1,
            Mode::V2 => Rules::V2,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::v2()
    }
}

/// The JS names of the cooldown fields, in [`cooldowns_from`]'s order.
pub const COOLDOWN_FIELDS: [&str; 4] =
    ["maxRateLimitCooldownMs", "billingBackoffMs", "billingMaxMs", "failureWindowMs"];

/// Builds [`Cooldowns`] from optional values (in [`COOLDOWN_FIELDS`] order), rejecting
/// negative, NaN and infinite ones.
pub fn cooldowns_from(values: [Option<f64>; 4]) -> Result<Cooldowns, ConfigError> {
    let mut out = [0.0; 4];
    let d = Cooldowns::default();
    let defaults =
        [d.max_rate_limit_cooldown_ms, d.billing_backoff_ms, d.billing_max_ms, d.failure_window_ms];
    for i in 0..4 {
        out[i] = match values[i] {
            None => defaults[i],
            Some(v) => match crate::backoff::ms_problem(v) {
                Some(problem) => return Err(ConfigError::new(cd_field(i), problem)),
                None => v,
            },
        };
    }
    Ok(Cooldowns {
        max_rate_limit_cooldown_ms: out[0],
        billing_backoff_ms: out[1],
        billing_max_ms: out[2],
        failure_window_ms: out[3],
        ..Cooldowns::default()
    })
}

/// The field of cooldown value `i` in errors: `cooldowns.<name>`.
#[cold]
#[inline(never)]
pub(crate) fn cd_field(i: usize) -> String {
    crate::text::cat(&["cooldowns.", COOLDOWN_FIELDS[i]])
}

/// Whether a profile is a primary (`profiles[i]`) or a fallback model (`fallbackModels[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A configured key: the preferred provider's group or the other primaries' (SPEC §2).
    Primary,
    /// A fallback model: the last group, picked only when no primary is available.
    Fallback,
}

impl Kind {
    /// The name of the configuration list this kind comes from.
    pub fn list(self) -> &'static str {
        match self {
            Kind::Primary => "profiles",
            Kind::Fallback => "fallbackModels",
        }
    }
}

/// One profile as the core sees it: no API key (keys stay with the host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileSpec {
    /// Unique in the pool and stable across restarts: it keys the profile's snapshot record.
    pub id: String,
    /// The provider's name (`openai`), which a call may prefer.
    pub provider: String,
    /// Primary or fallback model.
    pub kind: Kind,
}

/// Checks an id, provider or model name: non-empty, at most [`MAX_NAME_LEN`] bytes,
/// no control characters, no whitespace at either end.
pub fn check_name(field: impl FnOnce() -> String, value: &str) -> Result<(), ConfigError> {
    match name_problem(value) {
        None => Ok(()),
        Some(problem) => Err(name_error(field(), problem)),
    }
}

/// What is wrong with a name, if anything (see [`check_name`]).
pub(crate) fn name_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > MAX_NAME_LEN {
        Some("must be at most 256 bytes long")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        Some("must not start or end with whitespace")
    } else {
        None
    }
}

/// Out of line and cold: a pool's construction is what a cold start runs, and V8 compiles
/// each wasm function whole at its first call, error paths included.
#[cold]
#[inline(never)]
fn name_error(field: String, problem: &'static str) -> ConfigError {
    ConfigError::new(field, problem)
}

/// Checks a time in ms since the Unix epoch: finite, 0 ≤ t ≤ 2^53.
pub fn check_time(t: f64) -> bool {
    t.is_finite() && (0.0..=MAX_TIME_MS).contains(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_errors_name_the_field() {
        let e = cooldowns_from([None, None, Some(-1.0), None]).unwrap_err();
        assert_eq!(e.to_string(), "cooldowns.billingMaxMs: must be non-negative");
        let e = cooldowns_from([Some(f64::NAN), None, None, None]).unwrap_err();
        assert_eq!(e.to_string(), "cooldowns.maxRateLimitCooldownMs: must be a number, got NaN");
        let e = cooldowns_from([None, Some(f64::INFINITY), None, None]).unwrap_err();
        assert_eq!(e.field, "cooldowns.billingBackoffMs");
        let c = cooldowns_from([None, None, None, Some(0.0)]).unwrap();
        assert_eq!(c.failure_window_ms, 0.0);
        assert_eq!(c.billing_max_ms, 86_400_000.0);
    }

    #[test]
    fn names() {
        let f = || "profiles[2].id".to_string();
        assert!(check_name(f, "key-1").is_ok());
        assert_eq!(check_name(f, "").unwrap_err().to_string(), "profiles[2].id: must not be empty");
        assert!(check_name(f, "a\nb").is_err());
        assert!(check_name(f, " a").is_err());
        assert!(check_name(f, &"x".repeat(257)).is_err());
        assert!(check_name(f, &"x".repeat(256)).is_ok());
    }

    #[test]
    fn times() {
        assert!(check_time(0.0));
        assert!(check_time(MAX_TIME_MS));
        assert!(!check_time(-1.0));
        assert!(!check_time(f64::NAN));
        assert!(!check_time(f64::INFINITY));
        assert!(!check_time(MAX_TIME_MS * 2.0));
    }
}
