//! Failure reasons and the policy that says what each reason does to a profile.
//!
//! A [`Reason`] is what went wrong with one call; a [`ReasonPolicy`] says whether the
//! pool rotates to another profile after it and which cooldown [`Schedule`] it uses.

/// Why a call on a profile failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    /// Too many requests (HTTP 429).
    RateLimit = 0,
    /// The provider failed or is overloaded (HTTP 503, 529; v2: any 5xx, a dropped connection).
    ServerError = 1,
    /// The key was refused (HTTP 401, invalid API key).
    Auth = 2,
    /// The key is not allowed (HTTP 403): revoked or without permission; long schedule by default.
    AuthPermanent = 3,
    /// Out of credit or quota (HTTP 402, or a 429 about quota); long schedule by default.
    Billing = 4,
    /// The call timed out (v2: HTTP 408).
    Timeout = 5,
    /// The model does not exist (HTTP 404).
    ModelNotFound = 6,
    /// A bad request (HTTP 400, context too long): the request's fault, not the key's.
    Format = 7,
    /// Anything else.
    Unknown = 8,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 9] = [
        Reason::RateLimit,
        Reason::ServerError,
        Reason::Auth,
        Reason::AuthPermanent,
        Reason::Billing,
        Reason::Timeout,
        Reason::ModelNotFound,
        Reason::Format,
        Reason::Unknown,
    ];

    /// The wire name (`"rate_limit"`, …), as v1 spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimit => "rate_limit",
            Reason::ServerError => "server_error",
            Reason::Auth => "auth",
            Reason::AuthPermanent => "auth_permanent",
            Reason::Billing => "billing",
            Reason::Timeout => "timeout",
            Reason::ModelNotFound => "model_not_found",
            Reason::Format => "format",
            Reason::Unknown => "unknown",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The numeric code used across the wasm boundary.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`Reason::code`]; `None` for an out-of-range code.
    pub fn from_code(code: u8) -> Option<Reason> {
        Reason::ALL.get(code as usize).copied()
    }

    /// The schedule v1 uses for this reason (billing and auth_permanent are long).
    pub const fn default_schedule(self) -> Schedule {
        match self {
            Reason::Billing | Reason::AuthPermanent => Schedule::Long,
            _ => Schedule::Transient,
        }
    }
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which cooldown ladder a failure climbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Schedule {
    /// 1 min × 5^(n−1), capped (rate limits, server errors, …).
    Transient = 0,
    /// 5 h × 2^(n−1), capped at 24 h; the profile is reported `disabled`.
    Long = 1,
    /// No cooldown and no error count: the failure is not the key's fault.
    None = 2,
}

impl Schedule {
    /// Inverse of `schedule as u8`; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Schedule> {
        match code {
            0 => Some(Schedule::Transient),
            1 => Some(Schedule::Long),
            2 => Some(Schedule::None),
            _ => None,
        }
    }
}

/// What one reason does: rotate to the next profile (or rethrow), which schedule, and
/// whether a failure of a call that names a model rests the key for that model only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonPolicy {
    /// Try the next profile after the failure; false: the error is rethrown at once.
    pub rotate: bool,
    /// Which cooldown ladder the failure climbs.
    pub schedule: Schedule,
    /// Model-scoped: when the call names a model, the key rests for that model only
    /// (see [`crate::Pool::fail_for`]). v2's default for `rate_limit`, `timeout` and
    /// `model_not_found`.
    pub per_model: bool,
}

impl ReasonPolicy {
    /// Key-scoped policy.
    pub const fn new(rotate: bool, schedule: Schedule) -> ReasonPolicy {
        ReasonPolicy { rotate, schedule, per_model: false }
    }

    /// Packs into one byte for the wasm boundary: bit 0 = rotate, bits 1–2 = schedule,
    /// bit 3 = per model.
    pub const fn to_byte(self) -> u8 {
        (self.rotate as u8) | ((self.schedule as u8) << 1) | ((self.per_model as u8) << 3)
    }

    /// Inverse of [`ReasonPolicy::to_byte`]; `None` for an invalid byte.
    pub fn from_byte(b: u8) -> Option<ReasonPolicy> {
        if b >> 4 != 0 {
            return None;
        }
        Some(ReasonPolicy {
            rotate: b & 1 == 1,
            schedule: Schedule::from_code((b >> 1) & 3)?,
            per_model: b & 8 != 0,
        })
    }
}

/// The policy of every reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy(pub [ReasonPolicy; 9]);

impl Policy {
    /// v2's default: `format` (a bad request, the request's fault) neither rotates nor
    /// cools the key; every other reason rotates on its v1 schedule; `rate_limit`,
    /// `timeout` and `model_not_found` of a call that names a model rest the key for that
    /// model only.
    pub fn v2() -> Policy {
        let mut p = Policy::v1();
        p.0[Reason::Format as usize] = ReasonPolicy::new(false, Schedule::None);
        for r in [Reason::RateLimit, Reason::Timeout, Reason::ModelNotFound] {
            p.0[r as usize].per_model = true;
        }
        p
    }

    /// v1's behaviour: every reason rotates; billing and auth_permanent use the long schedule.
    pub fn v1() -> Policy {
        let mut arr = [ReasonPolicy::new(true, Schedule::Transient); 9];
        for r in Reason::ALL {
            arr[r as usize].schedule = r.default_schedule();
        }
        Policy(arr)
    }

    /// The policy of a reason.
    pub fn get(&self, r: Reason) -> ReasonPolicy {
        self.0[r as usize]
    }

    /// Replaces the policy of a reason.
    pub fn set(&mut self, r: Reason, p: ReasonPolicy) {
        self.0[r as usize] = p;
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::v2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
        assert_eq!(Reason::parse("RATE_LIMIT"), None);
        assert_eq!(Reason::from_code(9), None);
    }

    #[test]
    fn policy_bytes_round_trip() {
        for b in 0u8..=255 {
            if let Some(p) = ReasonPolicy::from_byte(b) {
                assert_eq!(p.to_byte(), b);
            }
        }
        assert_eq!(ReasonPolicy::from_byte(0b110), None); // schedule 3
        assert_eq!(ReasonPolicy::from_byte(0b1_0000), None);
        assert!(ReasonPolicy::from_byte(0b1001).unwrap().per_model);
    }

    #[test]
    fn default_policies() {
        let v2 = Policy::v2();
        assert!(!v2.get(Reason::Format).rotate);
        assert_eq!(v2.get(Reason::Format).schedule, Schedule::None);
        assert_eq!(v2.get(Reason::Billing).schedule, Schedule::Long);
        assert_eq!(v2.get(Reason::AuthPermanent).schedule, Schedule::Long);
        let scoped: Vec<Reason> = Reason::ALL.into_iter().filter(|&r| v2.get(r).per_model).collect();
        assert_eq!(scoped, vec![Reason::RateLimit, Reason::Timeout, Reason::ModelNotFound]);
        assert!(Reason::ALL.iter().all(|&r| !Policy::v1().get(r).per_model));
        let v1 = Policy::v1();
        assert!(v1.get(Reason::Format).rotate);
        assert_eq!(v1.get(Reason::Format).schedule, Schedule::Transient);
    }
}
