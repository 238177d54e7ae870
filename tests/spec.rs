//! The numbers and rules of SPEC.md §2–§3, pinned through the core's public API.

use key_carousel::{Kind, Pool, ProfileSpec, Reason, ReasonPolicy, Schedule, Settings, State};

const T0: f64 = 1_700_000_000_000.0;
const MIN: f64 = 60_000.0;
const HOUR: f64 = 60.0 * MIN;

fn spec(id: &str, provider: &str, kind: Kind) -> ProfileSpec {
    ProfileSpec { id: id.into(), provider: provider.into(), kind }
}

fn pool(settings: Settings) -> Pool {
    Pool::with_profiles(
        settings,
        &[
            spec("oa1", "openai", Kind::Primary),
            spec("oa2", "openai", Kind::Primary),
            spec("an1", "anthropic", Kind::Primary),
            spec("fb", "openai", Kind::Fallback),
        ],
    )
    .unwrap()
}

fn idx(p: &Pool, id: &str) -> u32 {
    p.index_of(id).unwrap()
}

/// Fails `id` with `reason` at `now` (no lease) and returns the cooldown it started.
fn fail(p: &mut Pool, id: &str, now: f64, reason: Reason) -> Option<f64> {
    let i = idx(p, id);
    p.fail(i, now, reason, None, None).unwrap().cooldown_ms
}

#[test]
fn transient_schedule_step_by_step() {
    let mut p = pool(Settings::v2());
    let mut now = T0;
    let mut got = vec![];
    for _ in 0..6 {
        let cd = fail(&mut p, "oa1", now, Reason::RateLimit).unwrap();
        got.push(cd);
        now += cd; // the next failure comes right after the rest
    }
    assert_eq!(got, vec![MIN, 5.0 * MIN, 25.0 * MIN, HOUR, HOUR, HOUR]);
    assert_eq!(p.state(idx(&p, "oa1")).unwrap().error_count, 6);
}

#[test]
fn long_schedule_step_by_step_and_disabled() {
    let mut p = pool(Settings::v2());
    let mut now = T0;
    let mut got = vec![];
    for reason in [Reason::Billing, Reason::AuthPermanent, Reason::Billing, Reason::Billing, Reason::Billing]
    {
        let cd = fail(&mut p, "oa1", now, reason).unwrap();
        got.push(cd);
        let st = p.profile_status(idx(&p, "oa1"), now + 1.0).unwrap();
        assert_eq!(st.state, State::Disabled);
        now += cd;
    }
    assert_eq!(got, vec![5.0 * HOUR, 10.0 * HOUR, 20.0 * HOUR, 24.0 * HOUR, 24.0 * HOUR]);
}

#[test]
fn caps_are_configurable() {
    let mut s = Settings::v2();
    s.cooldowns.max_rate_limit_cooldown_ms = 2.0 * MIN;
    s.cooldowns.billing_backoff_ms = HOUR;
    s.cooldowns.billing_max_ms = 3.0 * HOUR;
    let mut p = pool(s);
    assert_eq!(fail(&mut p, "oa1", T0, Reason::Timeout), Some(MIN));
    assert_eq!(fail(&mut p, "oa1", T0 + MIN, Reason::Timeout), Some(2.0 * MIN));
    assert_eq!(fail(&mut p, "oa2", T0, Reason::Billing), Some(HOUR));
    assert_eq!(fail(&mut p, "oa2", T0 + HOUR, Reason::Billing), Some(2.0 * HOUR));
    assert_eq!(fail(&mut p, "oa2", T0 + 3.0 * HOUR, Reason::Billing), Some(3.0 * HOUR));
}

#[test]
fn failure_window_restarts_the_count() {
    let mut p = pool(Settings::v2());
    assert_eq!(fail(&mut p, "oa1", T0, Reason::RateLimit), Some(MIN));
    assert_eq!(fail(&mut p, "oa1", T0 + MIN, Reason::RateLimit), Some(5.0 * MIN));
    // 24 h after the last failure: still inside the window (strictly older restarts).
    let last = T0 + MIN;
    assert_eq!(fail(&mut p, "oa1", last + 24.0 * HOUR, Reason::RateLimit), Some(25.0 * MIN));
    let last = last + 24.0 * HOUR;
    assert_eq!(fail(&mut p, "oa1", last + 24.0 * HOUR + 1.0, Reason::RateLimit), Some(MIN));
    assert_eq!(p.state(idx(&p, "oa1")).unwrap().error_count, 1);
}

#[test]
fn no_extension_during_a_cooldown() {
    let mut p = pool(Settings::v2());
    assert_eq!(fail(&mut p, "oa1", T0, Reason::RateLimit), Some(MIN));
    // markFailure during the rest counts, but the rest ends when it was going to.
    assert_eq!(fail(&mut p, "oa1", T0 + 10.0, Reason::RateLimit), None);
    assert_eq!(fail(&mut p, "oa1", T0 + 20.0, Reason::Billing), None);
    let i = idx(&p, "oa1");
    assert_eq!(p.cooldown_until(i), T0 + MIN);
    assert_eq!(p.state(i).unwrap().error_count, 3);
    assert_eq!(p.profile_status(i, T0 + 30.0).unwrap().state, State::Cooldown);
}

#[test]
fn a_burst_of_late_failures_counts_once() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    // 20 concurrent calls on the same key: all acquired before any fails.
    let leases: Vec<u32> = (0..20).map(|_| oa1).collect();
    for (k, &i) in leases.iter().enumerate() {
        let f = p.fail(i, T0 + 100.0 + k as f64, Reason::RateLimit, None, Some(T0)).unwrap();
        assert_eq!(f.late, k > 0);
        assert_eq!(f.cooldown_ms, if k == 0 { Some(MIN) } else { None });
    }
    assert_eq!(p.state(oa1).unwrap().error_count, 1);
    assert_eq!(p.cooldown_until(oa1), T0 + 100.0 + MIN);
    // A success of a call from before the rest does not end it.
    p.succeed(oa1, T0 + 200.0, Some(T0)).unwrap();
    assert!(p.is_cooling(oa1, T0 + 300.0).unwrap());
}

#[test]
fn retry_after_sets_the_cooldown_clamped_to_the_cap() {
    let mut p = pool(Settings::v2());
    let i = idx(&p, "oa1");
    assert_eq!(p.fail(i, T0, Reason::RateLimit, Some(7_000.0), None).unwrap().cooldown_ms, Some(7_000.0));
    let j = idx(&p, "oa2");
    assert_eq!(p.fail(j, T0, Reason::RateLimit, Some(5.0 * HOUR), None).unwrap().cooldown_ms, Some(HOUR));
    let k = idx(&p, "an1");
    assert_eq!(
        p.fail(k, T0, Reason::Billing, Some(48.0 * HOUR), None).unwrap().cooldown_ms,
        Some(24.0 * HOUR)
    );
}

#[test]
fn success_clears_the_cooldown_and_keeps_the_count() {
    let mut p = pool(Settings::v2());
    let i = idx(&p, "oa1");
    fail(&mut p, "oa1", T0, Reason::ServerError);
    p.succeed(i, T0 + 5.0, None).unwrap();
    assert!(!p.is_cooling(i, T0 + 6.0).unwrap());
    let st = *p.state(i).unwrap();
    assert_eq!((st.error_count, st.last_success, st.last_used), (1, T0 + 5.0, T0 + 5.0));
    fail(&mut p, "oa1", T0 + 10.0, Reason::ServerError);
    p.clear_cooldown(i, T0 + 11.0).unwrap();
    assert!(!p.is_cooling(i, T0 + 12.0).unwrap());
    assert_eq!(p.state(i).unwrap().error_count, 0);
}

#[test]
fn format_cools_nothing_by_default_and_policy_changes_it() {
    let mut p = pool(Settings::v2());
    assert_eq!(fail(&mut p, "oa1", T0, Reason::Format), None);
    assert_eq!(p.state(idx(&p, "oa1")).unwrap().error_count, 0);
    let mut s = Settings::v2();
    s.policy.set(Reason::Format, ReasonPolicy { rotate: true, schedule: Schedule::Transient });
    s.policy.set(Reason::RateLimit, ReasonPolicy { rotate: true, schedule: Schedule::Long });
    let mut p = pool(s);
    assert_eq!(fail(&mut p, "oa1", T0, Reason::Format), Some(MIN));
    assert_eq!(fail(&mut p, "oa2", T0, Reason::RateLimit), Some(5.0 * HOUR));
    assert_eq!(p.profile_status(idx(&p, "oa2"), T0).unwrap().state, State::Disabled);
}

#[test]
fn groups_round_robin_and_tiebreak() {
    let mut p = pool(Settings::v2());
    let anth = p.provider_index("anthropic");
    let openai = p.provider_index("openai");
    let pick =
        |p: &mut Pool, now: f64, pref| p.acquire(now, pref).unwrap().map(|i| p.id(i).unwrap().to_string());
    // No preference: all primaries round-robin, configuration order breaks ties.
    assert_eq!(pick(&mut p, T0, None).as_deref(), Some("oa1"));
    assert_eq!(pick(&mut p, T0, None).as_deref(), Some("oa2"));
    assert_eq!(pick(&mut p, T0, None).as_deref(), Some("an1"));
    assert_eq!(pick(&mut p, T0, None).as_deref(), Some("oa1"));
    // Preferred provider first, whatever the round-robin says elsewhere.
    assert_eq!(pick(&mut p, T0, anth).as_deref(), Some("an1"));
    assert_eq!(pick(&mut p, T0, anth).as_deref(), Some("an1"));
    assert_eq!(pick(&mut p, T0, openai).as_deref(), Some("oa2"));
    // anthropic resting: other primaries; all primaries resting: the fallback.
    fail(&mut p, "an1", T0, Reason::RateLimit);
    assert_eq!(pick(&mut p, T0, anth).as_deref(), Some("oa1"));
    fail(&mut p, "oa1", T0, Reason::RateLimit);
    fail(&mut p, "oa2", T0, Reason::RateLimit);
    assert_eq!(pick(&mut p, T0, anth).as_deref(), Some("fb"));
    fail(&mut p, "fb", T0, Reason::Timeout);
    assert_eq!(pick(&mut p, T0, None), None);
    assert_eq!(p.wait_ms(T0).unwrap(), Some(MIN));
    // After the rest, the least recently picked comes first.
    assert_eq!(pick(&mut p, T0 + MIN, None).as_deref(), Some("an1"));
}

#[test]
fn bad_times_and_indices_are_errors_and_change_nothing() {
    let mut p = pool(Settings::v2());
    for t in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
        assert!(p.acquire(t, None).is_err());
        assert!(p.status(t).is_err());
        assert!(p.fail(0, t, Reason::RateLimit, None, None).is_err());
        assert!(p.fail(0, T0, Reason::RateLimit, None, Some(t)).is_err());
    }
    assert!(p.fail(99, T0, Reason::RateLimit, None, None).is_err());
    assert!(p.succeed(99, T0, None).is_err());
    assert!(p.clear_cooldown(u32::MAX, T0).is_err());
    let st = p.status(T0).unwrap();
    assert_eq!(st.totals.available, 4);
    assert!(st.profiles.iter().all(|s| s.error_count == 0));
}

#[test]
fn config_errors_name_the_field() {
    let err = Pool::with_profiles(
        Settings::v2(),
        &[spec("a", "openai", Kind::Primary), spec("b", "", Kind::Primary)],
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "profiles[1].provider: must not be empty");
    let err = Pool::with_profiles(
        Settings::v2(),
        &[spec("a", "openai", Kind::Primary), spec("x", "o", Kind::Fallback), spec("a", "o", Kind::Fallback)],
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "fallbackModels[1].id: \"a\" is already used by profiles[0]");
    assert!(Pool::with_profiles(Settings::v2(), &[]).is_err());
}
