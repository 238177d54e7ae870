//! Edges of SPEC §3 and §6 that the model tests cannot see: limits at their exact value,
//! the status totals with v1's meaning, rests shortened by a merged state, Retry-After 0,
//! and code rules without a status. Each test was first written against a deliberately
//! broken core (mutation testing) that the rest of the suite let pass.

use key_carousel::classify::{classify, ErrorFacts, Rules};
use key_carousel::{
    pair_id, Cooldowns, Kind, Pool, ProfileSpec, Reason, Record, Schedule, Settings, State, Status,
    MAX_TIME_MS,
};

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

/// Another process's later rest of `until`, as a store hands it back.
fn later_rest(at: f64, until: f64) -> Record {
    Record {
        error_count: 1,
        last_failure: Some(at),
        cooldown_until: Some(until),
        reason: Some(Reason::RateLimit),
        updated_at: Some(at),
        cooldown_started_at: Some(at),
        ..Record::default()
    }
}

/// A merged state that shortens a running rest must count in `rests_cut`, or the runs waiting for that rest (JS:
/// pool.js #wakeIfCut, persist.js #import) sleep until the old, longer end.
#[test]
fn rests_cut_counts_a_rest_that_a_merged_state_shortens() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    p.fail(oa1, T0, Reason::RateLimit, None, None).unwrap(); // rests until T0 + 1 min
    assert_eq!(p.rests_cut(), 0);
    // Another process failed oa1 later with a Retry-After of 5 s: its rest wins the merge.
    p.import([("oa1", later_rest(T0 + 10.0, T0 + 5_010.0))], T0 + 20.0).unwrap();
    assert_eq!(p.cooldown_until(oa1), T0 + 5_010.0, "the later event wins");
    assert!(p.is_cooling(oa1, T0 + 20.0).unwrap(), "still resting, only shorter");
    assert_eq!(p.rests_cut(), 1, "a shortened rest is a cut rest");
}

#[test]
fn rests_cut_counts_a_model_rest_that_a_merged_state_shortens() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    let m = p.model_index("gpt-4o").unwrap();
    let f = p.fail_for(oa1, T0, Reason::RateLimit, None, None, Some(m)).unwrap();
    assert!(f.model_scoped);
    let id = pair_id("oa1", "gpt-4o");
    p.import([(id.as_str(), later_rest(T0 + 10.0, T0 + 5_010.0))], T0 + 20.0).unwrap();
    assert_eq!(p.pair_until(p.pair_of(oa1, m).unwrap()), T0 + 5_010.0);
    assert_eq!(p.rests_cut(), 1, "a shortened model rest is a cut rest");
}

/// `retry-after: 0` ("come back now") is the cooldown, 0 ms;
/// not the schedule's first step (SPEC §3 Retry-After).
#[test]
fn a_retry_after_of_zero_rests_the_key_zero_ms() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    let f = p.fail(oa1, T0, Reason::RateLimit, Some(0.0), None).unwrap();
    assert_eq!(f.cooldown_ms, Some(0.0));
    assert!(!p.is_cooling(oa1, T0).unwrap());
    assert_eq!(p.acquire(T0, None).unwrap(), Some(oa1));
}

/// The totals of SPEC §6 with v1's meaning:
/// disabled profiles are not "in cooldown", `unavailableReason` (and the next available
/// time) only when nothing is available, the reason of the LAST unavailable profile
/// (key-carousel 1.1.0's getStatus), the SOONEST recovery.
#[test]
fn status_totals_follow_v1() {
    let mut p = pool(Settings::v2());
    let (oa1, oa2, an1, fb) = (idx(&p, "oa1"), idx(&p, "oa2"), idx(&p, "an1"), idx(&p, "fb"));
    p.fail(an1, T0, Reason::RateLimit, None, None).unwrap();
    let t = p.status(T0).unwrap().totals;
    assert_eq!((t.available, t.in_cooldown, t.disabled), (3, 1, 0));
    assert_eq!(t.unavailable_reason, None, "something is available");
    assert_eq!(t.next_available_at, None, "something is available");

    p.fail(oa1, T0 + 1.0, Reason::Billing, None, None).unwrap(); // 5 h, disabled
    p.fail(oa2, T0 + 2.0, Reason::ServerError, Some(30_000.0), None).unwrap(); // 30 s
    p.fail(fb, T0 + 3.0, Reason::Auth, None, None).unwrap(); // 1 min, last in order
    let now = T0 + 4.0;
    let st = p.status(now).unwrap();
    assert_eq!(st.profiles[oa1 as usize].state, State::Disabled);
    let t = st.totals;
    assert_eq!((t.available, t.in_cooldown, t.disabled), (0, 3, 1));
    assert_eq!(t.unavailable_reason, Some(Reason::Auth), "the last unavailable profile's (fb)");
    assert_eq!(t.next_available_at, Some(T0 + 2.0 + 30_000.0), "the soonest: oa2");
    // The columns the wasm binding hands to JS say the same.
    let mut cols = vec![];
    p.write_columns(now, &mut cols).unwrap();
    assert_eq!(Status::from_columns(&cols, 4, now).unwrap().totals, t);
}

/// "Within the failure window" includes its last millisecond, as
/// for the error count (spec.rs failure_window_restarts_the_count: strictly older restarts).
#[test]
fn a_second_model_failing_at_the_windows_last_ms_widens() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    let (a, b) = (p.model_index("a").unwrap(), p.model_index("b").unwrap());
    assert!(p.fail_for(oa1, T0, Reason::RateLimit, None, None, Some(a)).unwrap().model_scoped);
    let f = p.fail_for(oa1, T0 + 24.0 * HOUR, Reason::RateLimit, None, None, Some(b)).unwrap();
    assert!(f.widened, "exactly 24 h later is still inside the window");
    let mut q = pool(Settings::v2());
    let (a, b) = (q.model_index("a").unwrap(), q.model_index("b").unwrap());
    assert!(q.fail_for(oa1, T0, Reason::RateLimit, None, None, Some(a)).unwrap().model_scoped);
    let f = q.fail_for(oa1, T0 + 24.0 * HOUR + 1.0, Reason::RateLimit, None, None, Some(b)).unwrap();
    assert!(!f.widened && f.model_scoped, "1 ms later is outside");
}

/// Weights adding up to exactly 2^24 are accepted ("at most").
#[test]
fn weights_adding_up_to_exactly_2_pow_24_are_accepted() {
    let specs: Vec<ProfileSpec> =
        (0..16_778).map(|i| spec(&format!("k{i}"), "openai", Kind::Primary)).collect();
    let mut big = Pool::with_profiles(Settings::v2(), &specs).unwrap();
    let mut w = vec![1000; specs.len()];
    *w.last_mut().unwrap() = 216; // 16,777 × 1000 + 216 = 16,777,216
    assert_eq!(w.iter().map(|&x| u64::from(x)).sum::<u64>(), 1 << 24);
    big.set_weights(&w).unwrap();
    *w.last_mut().unwrap() = 217;
    assert!(big.set_weights(&w).is_err());
}

/// At most 4,096 distinct model names (MAX_MODELS).
#[test]
fn a_pool_interns_at_most_4096_models() {
    let mut p = pool(Settings::v2());
    for m in 0..4096 {
        assert_eq!(p.model_index(&format!("m{m}")).unwrap(), m);
    }
    let e = p.model_index("one-too-many").unwrap_err();
    assert_eq!(e.to_string(), "model: more than 4096 distinct models");
    assert_eq!(p.model_index("m7").unwrap(), 7, "known names still resolve");
}

/// A cooldown value of exactly 2^53 ms is accepted; only values
/// past it are refused.
#[test]
fn a_cooldown_of_exactly_2_pow_53_ms_is_accepted() {
    let c = Cooldowns { billing_max_ms: MAX_TIME_MS, ..Cooldowns::default() };
    assert!(Pool::with_profiles(
        Settings { cooldowns: c, ..Settings::v2() },
        &[spec("a", "x", Kind::Primary)]
    )
    .is_ok());
    let c = Cooldowns { billing_max_ms: MAX_TIME_MS * 2.0, ..Cooldowns::default() };
    assert!(Pool::with_profiles(
        Settings { cooldowns: c, ..Settings::v2() },
        &[spec("a", "x", Kind::Primary)]
    )
    .is_err());
}

/// A v2 call's success at the very ms its key's rest ends is not
/// an event (the rest ended on its own): the record's updatedAt stays the failure's, so it
/// cannot override another process's rest at the next merge.
#[test]
fn a_calls_success_when_the_rest_has_just_ended_is_not_an_event() {
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    p.fail(oa1, T0, Reason::RateLimit, None, None).unwrap();
    let end = T0 + MIN;
    assert!(!p.is_cooling(oa1, end).unwrap());
    p.succeed(oa1, end, Some(end)).unwrap();
    assert_eq!(p.record(oa1).unwrap().updated_at, Some(T0));
}

/// The v2 code table written out on its own: `classify::tests::codes_only_in_v2` reads its
/// expected reasons from CODE_RULES itself, so a wrong entry could never fail it. Expected values: README's error table
/// (UND_ERR_SOCKET, ECONNREFUSED, ECONNRESET: server_error; request_too_large: format) and
/// SPEC §3's meaning of each reason.
#[test]
fn every_known_error_code_maps_to_its_documented_reason() {
    use Reason::*;
    let table: &[(&str, Reason)] = &[
        ("ETIMEDOUT", Timeout),
        ("ECONNABORTED", Timeout),
        ("UND_ERR_CONNECT_TIMEOUT", Timeout),
        ("UND_ERR_HEADERS_TIMEOUT", Timeout),
        ("UND_ERR_BODY_TIMEOUT", Timeout),
        ("ECONNRESET", ServerError),
        ("ECONNREFUSED", ServerError),
        ("EPIPE", ServerError),
        ("UND_ERR_SOCKET", ServerError),
        ("EAI_AGAIN", ServerError),
        ("insufficient_quota", Billing),
        ("billing_hard_limit_reached", Billing),
        ("rate_limit_exceeded", RateLimit),
        ("rate_limit_error", RateLimit),
        ("invalid_api_key", Auth),
        ("authentication_error", Auth),
        ("permission_error", AuthPermanent),
        ("model_not_found", ModelNotFound),
        ("not_found_error", ModelNotFound),
        ("context_length_exceeded", Format),
        ("request_too_large", Format),
        ("overloaded_error", ServerError),
        ("api_error", ServerError),
        ("server_error", ServerError),
        ("timeout_error", Timeout),
        ("billing_error", Billing),
        ("RESOURCE_EXHAUSTED", RateLimit),
        ("API_KEY_INVALID", Auth),
    ];
    for &(code, want) in table {
        let facts = ErrorFacts { code, ..Default::default() };
        assert_eq!(classify(&facts, Rules::V2), want, "{code}");
    }
}

/// v1 (and backoff.rs's doc) clamp the long ladder's exponent at 10:
/// `billingBackoffMs × 2^min(n−1, 10)`. Only visible when billingMaxMs is large against
/// billingBackoffMs, which no Rust test sets.
#[test]
fn the_long_ladder_stops_doubling_at_2_pow_10_as_v1s() {
    let c = Cooldowns { billing_backoff_ms: MIN, billing_max_ms: 48.0 * HOUR, ..Cooldowns::default() };
    let got: Vec<f64> = (1..=13).map(|n| c.step_ms(Schedule::Long, n) / MIN).collect();
    assert_eq!(got, vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 1024.0, 1024.0]);
}

/// VIEW_BUDGET bounds views × profiles: a pool whose size divides it indexes exactly
/// VIEW_BUDGET / n model rests (the existing test's 40,000 keys leave a remainder, so `<=`
/// vs `<` never shows).
#[test]
fn a_pool_whose_size_divides_the_views_budget_indexes_exactly_budget_over_n_model_rests() {
    use key_carousel::selection::VIEW_BUDGET;
    let n = 1 << 16;
    let specs: Vec<ProfileSpec> = (0..n).map(|i| spec(&format!("k{i}"), "openai", Kind::Primary)).collect();
    let mut p = Pool::with_profiles(Settings::v2(), &specs).unwrap();
    let fits = VIEW_BUDGET / n;
    assert_eq!(fits * n, VIEW_BUDGET);
    for k in 0..fits {
        let m = p.model_index(&format!("m{k}")).unwrap();
        let f = p.fail_for(0, T0, Reason::ModelNotFound, None, None, Some(m)).unwrap();
        assert!(f.model_scoped && !f.widened, "model {k} of {fits} fits the budget");
    }
    let m = p.model_index("one-too-many").unwrap();
    assert!(p.fail_for(0, T0, Reason::ModelNotFound, None, None, Some(m)).unwrap().widened);
}
