//! The numbers and rules of SPEC.md §2–§3 (and §6's status totals), pinned through the
//! core's public API.

use key_carousel::classify::{classify, ErrorFacts, Rules};
use key_carousel::status::header;
use key_carousel::{
    pair_id, Cooldowns, Kind, Pool, ProfileSpec, Reason, ReasonPolicy, Record, Schedule, Settings, State,
    Status, MAX_TIME_MS,
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
fn a_bursts_late_failures_count_once_also_after_a_short_rest_has_ended() {
    // 20 calls in flight on one key; the provider says `retry-after: 1`; the answers come
    // 300 ms apart, so most arrive after the 1 s rest is over (was: each second of them
    // counted as a new incident, and the next plain 429 rested the key for the 1 h cap).
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    for k in 0..20 {
        let f =
            p.fail(oa1, T0 + 100.0 + 300.0 * k as f64, Reason::RateLimit, Some(1_000.0), Some(T0)).unwrap();
        assert_eq!((f.late, f.cooldown_ms), (k > 0, if k == 0 { Some(1_000.0) } else { None }), "answer {k}");
    }
    assert_eq!(p.state(oa1).unwrap().error_count, 1);
    // A call that began after that rest is a new incident: the second step of the ladder.
    let f = p.fail(oa1, T0 + 10_000.0, Reason::RateLimit, None, Some(T0 + 9_000.0)).unwrap();
    assert_eq!((f.late, f.cooldown_ms, f.error_count), (false, Some(5.0 * MIN), 2));
    // The same for a key's rest for one model.
    let gpt4 = p.model_index("gpt-4o").unwrap();
    let oa2 = idx(&p, "oa2");
    let f = p.fail_for(oa2, T0 + 100.0, Reason::RateLimit, Some(1_000.0), Some(T0), Some(gpt4)).unwrap();
    assert_eq!((f.model_scoped, f.cooldown_ms), (true, Some(1_000.0)));
    let f = p.fail_for(oa2, T0 + 2_000.0, Reason::RateLimit, Some(1_000.0), Some(T0), Some(gpt4)).unwrap();
    assert_eq!((f.model_scoped, f.late, f.cooldown_ms, f.error_count), (true, true, None, 1));
}

#[test]
fn a_model_that_does_not_exist_neither_widens_nor_counts_towards_widening() {
    let mut p = pool(Settings::v2());
    let (gpt4, mini, typo) = (
        p.model_index("gpt-4o").unwrap(),
        p.model_index("gpt-4o-mini").unwrap(),
        p.model_index("gpt-4o-typo").unwrap(),
    );
    let (oa1, oa2) = (idx(&p, "oa1"), idx(&p, "oa2"));
    // oa1: a 429 for gpt-4o at 08:00 (over by 10:00), then a client's typo answered 404:
    // the typo rests oa1 for that name only (was: the whole key, for every model).
    let f = p.fail_for(oa1, T0, Reason::RateLimit, None, None, Some(gpt4)).unwrap();
    assert!(f.model_scoped);
    let f = p.fail_for(oa1, T0 + 2.0 * HOUR, Reason::ModelNotFound, None, None, Some(typo)).unwrap();
    assert_eq!((f.model_scoped, f.widened, f.cooldown_ms), (true, false, Some(MIN)));
    assert_eq!(p.profile_status(oa1, T0 + 2.0 * HOUR).unwrap().state, State::Available);
    // oa2: the typo first; a 429 for gpt-4o later is still gpt-4o's only.
    p.fail_for(oa2, T0, Reason::ModelNotFound, None, None, Some(typo)).unwrap();
    let f = p.fail_for(oa2, T0 + 10.0 * HOUR, Reason::RateLimit, None, None, Some(gpt4)).unwrap();
    assert_eq!((f.model_scoped, f.widened), (true, false));
    // Two real models failing still widen.
    let f = p.fail_for(oa2, T0 + 10.0 * HOUR + 1.0, Reason::Timeout, None, None, Some(mini)).unwrap();
    assert_eq!((f.model_scoped, f.widened), (false, true));
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
    s.policy.set(Reason::Format, ReasonPolicy::new(true, Schedule::Transient));
    s.policy.set(Reason::RateLimit, ReasonPolicy::new(true, Schedule::Long));
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

/// The status columns: a header per profile, then only the values it has.
#[test]
fn status_columns_hold_only_what_each_profile_has() {
    let mut p = pool(Settings::v2());
    let mut cols = vec![];
    // Never used: one number per profile (its header, 0), then the totals and no rests.
    p.write_columns(T0, &mut cols).unwrap();
    assert_eq!(cols[..8], [0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, -1.0]);
    assert!(cols[8].is_nan(), "no next available time");
    assert_eq!(cols[9], 0.0, "no model-scoped rests");
    assert_eq!(cols[10..], [f64::INFINITY], "nothing rests, so no status change to come");
    assert_eq!(Status::from_columns(&cols, 4, T0), Some(p.status(T0).unwrap()));

    let a = p.acquire(T0, None).unwrap().unwrap();
    p.succeed(a, T0 + 1.0, Some(T0)).unwrap();
    fail(&mut p, "an1", T0 + 2.0, Reason::RateLimit);
    let now = T0 + 3.0;
    p.write_columns(now, &mut cols).unwrap();
    let h = |i: usize| cols[i] as u32;
    // oa1: picked and succeeded; lastUsed and lastSuccess follow its header.
    assert_eq!(h(0), header::LAST_USED | header::LAST_SUCCESS);
    let st = p.state(a).unwrap();
    assert_eq!(cols[1..3], [st.last_used, st.last_success]);
    assert_eq!(h(3), 0, "oa2");
    // an1: cooling for a minute after a rate limit, its first failure.
    let code = (Reason::RateLimit.code() as u32 + 1) << header::REASON_SHIFT;
    let values = header::COOLDOWN_UNTIL | header::ERROR_COUNT | header::LAST_FAILURE;
    assert_eq!(h(4), State::Cooldown as u32 | code | values);
    assert_eq!(cols[5..8], [T0 + 2.0 + MIN, 1.0, T0 + 2.0]);
    assert_eq!(h(8), 0, "fb");
    assert_eq!(cols[9..12], [3.0, 1.0, 0.0], "available, in cooldown, disabled");
    assert_eq!(cols[cols.len() - 1], T0 + 2.0 + MIN, "the status changes when an1's rest ends");
    assert_eq!(Status::from_columns(&cols, 4, now), Some(p.status(now).unwrap()));
}

/// The status buffer stays in the module's memory, which never shrinks: it takes room for 4
/// numbers a profile (a used key has 3: its header, lastUsed and lastSuccess), not for every
/// value of every profile (6 numbers each: 48 bytes a profile) until a status needs more;
/// then it takes room for all, once. So it grows at most twice, and memory stays flat while
/// the pool's history fills in.
#[test]
fn the_status_buffer_takes_room_for_a_typical_status_then_for_all() {
    use key_carousel::status::STATUS_ROOM_COLUMNS;
    let n = 1000;
    let specs: Vec<ProfileSpec> = (0..n).map(|i| spec(&format!("k{i}"), "openai", Kind::Primary)).collect();
    let mut p = Pool::with_profiles(Settings::v2(), &specs).unwrap();
    let mut cols = vec![];
    p.write_columns(T0, &mut cols).unwrap();
    let tail = 5 + 1 + 1; // totals, the pair count, the trailer
    assert_eq!(cols.len(), n + tail, "a profile never used: its header");
    let typical = n * STATUS_ROOM_COLUMNS + tail;
    assert!((typical..typical + 8).contains(&cols.capacity()), "room for {} numbers", cols.capacity());
    let address = cols.as_ptr();
    // Every key used once: its header, lastUsed and lastSuccess, in the same buffer.
    for _ in 0..n {
        let a = p.acquire(T0, None).unwrap().unwrap();
        p.succeed(a, T0 + 1.0, Some(T0)).unwrap();
    }
    p.write_columns(T0 + 2.0, &mut cols).unwrap();
    assert_eq!(cols.len(), 3 * n + tail);
    assert_eq!(cols.as_ptr(), address, "the same buffer");
    assert_eq!(Status::from_columns(&cols, n, T0 + 2.0), Some(p.status(T0 + 2.0).unwrap()));
    // Every key failed too (cooldownUntil, errorCount, lastFailure): room for all, once.
    for i in 0..n as u32 {
        p.fail(i, T0 + 3.0, Reason::RateLimit, None, None).unwrap();
    }
    p.write_columns(T0 + 4.0, &mut cols).unwrap();
    assert_eq!(cols.len(), 6 * n + tail);
    let full = cols.capacity();
    assert!((6 * n + tail..6 * n + tail + 8).contains(&full), "room for {full} numbers");
    p.write_columns(T0 + 5.0, &mut cols).unwrap();
    assert_eq!(cols.capacity(), full, "no further growth");
    assert_eq!(Status::from_columns(&cols, n, T0 + 5.0), Some(p.status(T0 + 5.0).unwrap()));
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
    let err = Pool::with_profiles(Settings::v2(), &[spec("a\u{3000}", "openai", Kind::Primary)]).unwrap_err();
    assert_eq!(err.to_string(), "profiles[0].id: must not start or end with whitespace");
    let err = Pool::with_profiles(Settings::v2(), &[spec("a", " openai", Kind::Primary)]).unwrap_err();
    assert_eq!(err.to_string(), "profiles[0].provider: must not start or end with whitespace");
}

/// The pool's own saved state comes back at its next write (the store merges, then the
/// pool absorbs the result): an event must win over the pool's earlier record even in the
/// same millisecond or after the clock stepped back.
#[test]
fn an_event_wins_over_the_pools_own_earlier_record_in_the_same_ms_or_after_a_step_back() {
    type Step = fn(&mut Pool, u32, f64);
    let clear: Step = |p, i, t| p.clear_cooldown(i, t).unwrap();
    let succeed: Step = |p, i, t| p.succeed(i, t, None).unwrap();
    for (name, step) in [("clear_cooldown", clear), ("succeed", succeed)] {
        for back in [0.0, 1000.0] {
            let mut p = pool(Settings::v2());
            let i = idx(&p, "oa1");
            fail(&mut p, "oa1", T0, Reason::RateLimit);
            let saved = p.export().profiles;
            step(&mut p, i, T0 - back);
            p.import(saved.iter().map(|(id, r)| (id.as_str(), *r)), T0 - back).unwrap();
            assert!(!p.is_cooling(i, T0 - back).unwrap(), "{name} {back} ms back: the cooldown came back");
            // The failure after it, in the same ms, wins in turn.
            let saved = p.export().profiles;
            fail(&mut p, "oa1", T0 - back, Reason::RateLimit);
            p.import(saved.iter().map(|(id, r)| (id.as_str(), *r)), T0 - back).unwrap();
            assert!(
                p.is_cooling(i, T0 - back).unwrap(),
                "{name} {back} ms back: the failure after it was lost"
            );
        }
    }
}

#[test]
fn settings_are_set_before_the_first_profile_only() {
    let mut p = Pool::new(Settings::v2());
    assert!(p.set_settings(Settings::v1()), "an empty pool takes new settings");
    p.add("a", "openai", Kind::Primary, 0).unwrap();
    assert!(!p.set_settings(Settings::v2()), "a pool with a profile keeps its settings");
    assert_eq!(p.settings().mode, key_carousel::Mode::V1);
    let mut p = Pool::new(Settings::v2());
    p.model_index("gpt-4o").unwrap();
    assert!(!p.set_settings(Settings::v1()), "nor does one with an interned model");
    let mut p = Pool::new(Settings::v2());
    let other = Record { error_count: 1, last_failure: Some(T0), ..Record::default() };
    p.import([("elsewhere", other)], T0).unwrap();
    assert!(!p.set_settings(Settings::v1()), "nor one holding another process's records");
    assert_eq!(p.settings().mode, key_carousel::Mode::V2);
}

// ── v2's additions (issue 8) ───────────────────────────────────────────────────────

fn picks(p: &mut Pool, n: usize, now: f64) -> Vec<String> {
    (0..n).map(|_| p.acquire(now, None).unwrap().map(|i| p.id(i).unwrap().to_string()).unwrap()).collect()
}

#[test]
fn weights_share_picks_in_proportion_and_weight_one_is_plain_round_robin() {
    let mut p = pool(Settings::v2());
    p.set_weights(&[3, 1, 1, 1]).unwrap();
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for id in picks(&mut p, 10_000, T0) {
        *count.entry(id).or_default() += 1;
    }
    // oa1 serves 3 of every 5 primary picks; the fallback none while primaries are available.
    assert_eq!(count["oa1"], 6_000);
    assert_eq!((count["oa2"], count["an1"], count.get("fb")), (2_000, 2_000, None));
    // The weight-3 key counts as three keys picked least recently first: no long bursts.
    let mut p = pool(Settings::v2());
    p.set_weights(&[3, 1, 1, 1]).unwrap();
    assert_eq!(picks(&mut p, 10, T0), ["oa1", "oa1", "oa1", "oa2", "an1", "oa1", "oa1", "oa1", "oa2", "an1"]);
    let mut p = pool(Settings::v2());
    p.set_weights(&[1, 1, 1, 1]).unwrap();
    assert_eq!(picks(&mut p, 4, T0), ["oa1", "oa2", "an1", "oa1"]);
    let err = p.set_weights(&[1, 0, 1, 1]).unwrap_err();
    assert_eq!(err.to_string(), "profiles[1].weight: must be a whole number from 1 to 1000");
    assert_eq!(p.set_weights(&[1, 1, 1, 1001]).unwrap_err().field, "fallbackModels[0].weight");
}

#[test]
fn priority_takes_the_first_healthy_key_and_returns_to_it() {
    let mut p = pool(Settings::v2());
    p.set_strategy(key_carousel::Strategy::Priority);
    assert_eq!(picks(&mut p, 3, T0), ["oa1", "oa1", "oa1"]);
    fail(&mut p, "oa1", T0, Reason::RateLimit);
    assert_eq!(picks(&mut p, 2, T0 + 1.0), ["oa2", "oa2"]);
    assert_eq!(picks(&mut p, 1, T0 + MIN), ["oa1"]);
}

#[test]
fn a_model_scoped_rest_keeps_the_key_for_other_models_and_a_second_model_widens_it() {
    let mut p = pool(Settings::v2());
    let (gpt4, mini) = (p.model_index("gpt-4o").unwrap(), p.model_index("gpt-4o-mini").unwrap());
    let oa1 = idx(&p, "oa1");
    let openai = p.provider_index("openai");
    let f = p.fail_for(oa1, T0, Reason::RateLimit, None, None, Some(gpt4)).unwrap();
    assert_eq!((f.cooldown_ms, f.model_scoped, f.widened), (Some(MIN), true, false));
    // gpt-4o calls skip oa1; other calls still get it.
    assert_eq!(p.acquire_for(T0, openai, Some(gpt4), None).unwrap(), Some(idx(&p, "oa2")));
    assert_eq!(p.acquire_for(T0, openai, Some(mini), None).unwrap(), Some(oa1));
    let st = p.status(T0).unwrap();
    assert_eq!(st.profiles[oa1 as usize].state, State::Available);
    assert_eq!(st.models.len(), 1);
    assert_eq!((st.models[0].profile, st.models[0].model, st.models[0].remaining_ms), (oa1, gpt4, MIN));
    // A billing failure is the key's, whatever the model.
    assert!(!p.fail_for(idx(&p, "an1"), T0, Reason::Billing, None, None, Some(gpt4)).unwrap().model_scoped);
    // A second model failing on oa1 within the failure window rests the whole key.
    let f = p.fail_for(oa1, T0 + 10.0, Reason::Timeout, None, None, Some(mini)).unwrap();
    assert_eq!((f.cooldown_ms, f.model_scoped, f.widened), (Some(MIN), false, true));
    assert_eq!(p.profile_status(oa1, T0 + 10.0).unwrap().state, State::Cooldown);
    // Everything rests: a gpt-4o call waits for the first key free of both rests: oa1,
    // whose own rest (from T0 + 10) ends after its gpt-4o rest (from T0).
    fail(&mut p, "oa2", T0 + 20.0, Reason::RateLimit);
    fail(&mut p, "an1", T0 + 20.0, Reason::RateLimit);
    fail(&mut p, "fb", T0 + 20.0, Reason::RateLimit);
    assert_eq!(p.acquire_for(T0 + 30.0, openai, Some(gpt4), None).unwrap(), None);
    assert_eq!(p.wait_ms_for(T0 + 30.0, Some(gpt4)).unwrap(), Some(MIN + 10.0 - 30.0));
}

#[test]
fn a_sticky_pick_stays_while_healthy_and_moves_when_the_key_rests() {
    let mut p = pool(Settings::v2());
    let (oa1, oa2, fb) = (idx(&p, "oa1"), idx(&p, "oa2"), idx(&p, "fb"));
    let openai = p.provider_index("openai");
    for _ in 0..3 {
        assert_eq!(p.acquire_for(T0, openai, None, Some(oa2)).unwrap(), Some(oa2));
    }
    fail(&mut p, "oa2", T0, Reason::RateLimit);
    assert_eq!(p.acquire_for(T0, openai, None, Some(oa2)).unwrap(), Some(oa1));
    fail(&mut p, "oa1", T0, Reason::RateLimit);
    fail(&mut p, "an1", T0, Reason::RateLimit);
    assert_eq!(p.acquire_for(T0, openai, None, Some(oa1)).unwrap(), Some(fb));
    // Once the primaries recover, a session on the fallback goes back to them (to the
    // one picked least recently).
    assert_eq!(p.acquire_for(T0 + MIN, openai, None, Some(fb)).unwrap(), Some(oa2));
}

#[test]
fn ladders_replace_the_schedules() {
    let mut s = Settings::v2();
    s.cooldowns = key_carousel::Cooldowns::gentle();
    let mut p = pool(s);
    let mut now = T0;
    let mut got = vec![];
    for _ in 0..4 {
        let cd = fail(&mut p, "oa1", now, Reason::ServerError).unwrap();
        got.push(cd);
        now += cd;
    }
    assert_eq!(got, vec![30_000.0, MIN, 5.0 * MIN, 5.0 * MIN]);
    assert_eq!(fail(&mut p, "oa2", T0, Reason::Billing), Some(5.0 * HOUR));
    assert!(p.set_ladder(
        Schedule::Long,
        Some(key_carousel::Ladder::geometric("l", HOUR, 3.0, 8.0 * HOUR).unwrap())
    ));
    let mut now = T0;
    let mut got = vec![];
    for _ in 0..3 {
        let cd = fail(&mut p, "an1", now, Reason::Billing).unwrap();
        got.push(cd);
        now += cd;
    }
    assert_eq!(got, vec![HOUR, 3.0 * HOUR, 8.0 * HOUR]);
}

/// Ids and model names are kept end to end in one string: each reads back whole, in any
/// script, and a name that is a prefix or a join of others is still its own.
#[test]
fn ids_and_model_names_read_back_whole() {
    let ids = ["a", "ab", "é", "日本", "b", "a\u{301}", "😀x"];
    let specs: Vec<ProfileSpec> = ids.iter().map(|id| spec(id, "openai", Kind::Primary)).collect();
    let mut p = Pool::with_profiles(Settings::v2(), &specs).unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(p.id(i as u32), Some(*id));
        assert_eq!(p.index_of(id), Some(i as u32));
    }
    assert_eq!(p.id(ids.len() as u32), None);
    assert_eq!(p.index_of("aab"), None);
    assert_eq!(p.index_of(""), None);
    let err = Pool::with_profiles(
        Settings::v2(),
        &[spec("日本", "o", Kind::Primary), spec("日本", "o", Kind::Primary)],
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "profiles[1].id: \"日本\" is already used by profiles[0]");
    let models = ["gpt-4o", "gpt-4o-mini", "gpt", "クロード"];
    let got: Vec<u32> = models.iter().map(|m| p.model_index(m).unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    for (m, name) in models.iter().enumerate() {
        assert_eq!(p.model_name(m as u32), Some(*name));
        assert_eq!(p.model_index(name).unwrap(), m as u32, "interned once");
    }
}

#[test]
fn a_rest_that_ended_is_reported_with_its_own_reason_when_the_next_failure_comes_first() {
    // The rate-limit rest ends on the clock; nobody looks; then a billing failure starts a
    // new rest. The ended rest was for rate_limit (before: the new failure's billing).
    let mut p = pool(Settings::v2());
    p.track_recoveries(true);
    let a = idx(&p, "oa1");
    p.fail(a, T0, Reason::RateLimit, None, None).unwrap();
    assert_eq!(p.take_recovered(T0).unwrap(), vec![]);
    p.fail(a, T0 + 2.0 * MIN, Reason::Billing, None, None).unwrap();
    assert_eq!(p.take_recovered(T0 + 2.0 * MIN).unwrap(), vec![(a, u32::MAX, Some(Reason::RateLimit))]);
    // A rest ended by clear_cooldown keeps its reason too.
    p.clear_cooldown(a, T0 + 3.0 * MIN).unwrap();
    p.fail(a, T0 + 3.0 * MIN, Reason::Timeout, None, None).unwrap();
    assert_eq!(p.take_recovered(T0 + 3.0 * MIN).unwrap(), vec![(a, u32::MAX, Some(Reason::Billing))]);
}

#[test]
fn a_pools_weights_add_up_to_at_most_2_pow_24() {
    let mut p = pool(Settings::v2());
    let err = p.set_weights(&[1000, 1000, 1000, 1]).map(|_| ()).err();
    assert_eq!(err, None, "a small total is fine");
    let specs: Vec<ProfileSpec> =
        (0..16_778).map(|i| spec(&format!("k{i}"), "openai", Kind::Primary)).collect();
    let mut big = Pool::with_profiles(Settings::v2(), &specs).unwrap();
    let err = big.set_weights(&vec![1000; specs.len()]).unwrap_err();
    assert_eq!(err.field, "profiles");
    assert_eq!(
        err.to_string(),
        "profiles: the weights add up to 16778000, more than 16777216 (each unit keeps 8 bytes)"
    );
    // All weights 1 keep no numbers: any size is fine.
    big.set_weights(&vec![1; specs.len()]).unwrap();
}

#[test]
fn a_rest_that_would_end_past_2_pow_53_ends_there_and_survives_export_and_import() {
    let max = key_carousel::MAX_TIME_MS;
    let now = max - 30_000.0;
    let mut p = pool(Settings::v2());
    let oa1 = idx(&p, "oa1");
    let f = p.fail(oa1, now, Reason::Billing, None, None).unwrap();
    assert_eq!((f.cooldown_ms, p.cooldown_until(oa1)), (Some(30_000.0), max));
    let exported = p.export();
    let mut q = pool(Settings::v2());
    q.import(exported.profiles.iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
    assert_eq!(q.cooldown_until(idx(&q, "oa1")), max, "kept through the columns of a store");
}

/// A pool of 40,000 keys `k0`, `k1`, …, and how many models' views fit its budget (104).
fn pool_at_the_views_budget() -> (Pool, usize) {
    use key_carousel::selection::VIEW_BUDGET;
    let n = 40_000;
    let specs: Vec<ProfileSpec> = (0..n).map(|i| spec(&format!("k{i}"), "openai", Kind::Primary)).collect();
    (Pool::with_profiles(Settings::v2(), &specs).unwrap(), VIEW_BUDGET / n)
}

#[test]
fn model_views_stay_within_their_budget_past_it_a_new_models_failure_rests_the_key() {
    let (mut p, fits) = pool_at_the_views_budget();
    assert_eq!(fits, 104);
    // k0 fails for one model after another (a client's made-up names: model_not_found,
    // which rests the pair only): each model's rest needs a view while it lasts.
    for k in 0..fits {
        let m = p.model_index(&format!("m{k}")).unwrap();
        let f = p.fail_for(0, T0, Reason::ModelNotFound, None, None, Some(m)).unwrap();
        assert!(f.model_scoped && !f.widened, "model {k}");
    }
    assert!(!p.is_cooling(0, T0).unwrap());
    // One more model has no room: its failure rests k0 itself, as past 4,096 names.
    let m = p.model_index("one-too-many").unwrap();
    let f = p.fail_for(0, T0, Reason::ModelNotFound, None, None, Some(m)).unwrap();
    assert!(f.widened);
    assert!(p.is_cooling(0, T0).unwrap());
    // A model that has a view already still rests for itself only.
    let m0 = p.model_index("m0").unwrap();
    let f = p.fail_for(1, T0, Reason::ModelNotFound, None, None, Some(m0)).unwrap();
    assert!(f.model_scoped && !f.widened);
    assert!(!p.is_cooling(1, T0).unwrap());
}

#[test]
fn a_stores_model_rests_past_the_views_budget_are_kept_as_they_came_not_indexed() {
    use key_carousel::snapshot::pair_id;
    let (mut p, fits) = pool_at_the_views_budget();
    // Another process's state (or a file anyone wrote): k0 rests for one model after another.
    let rest = Record {
        error_count: 1,
        last_failure: Some(T0),
        cooldown_until: Some(T0 + 60_000.0),
        reason: Some(Reason::ModelNotFound),
        updated_at: Some(T0),
        cooldown_started_at: Some(T0),
        ..Record::default()
    };
    let ids: Vec<String> = (0..fits + 2).map(|k| pair_id("k0", &format!("m{k}"))).collect();
    let unknown = p.import(ids.iter().map(|id| (id.as_str(), rest)), T0).unwrap();
    assert_eq!(unknown, 0, "every record names a profile of the pool");
    // The rests that fit the budget are indexed: a call for such a model skips k0.
    let m0 = p.model_index("m0").unwrap();
    assert_ne!(p.acquire_for(T0, Some(0), Some(m0), Some(0)).unwrap(), Some(0));
    assert_eq!(p.pairs().len(), fits, "a pair per model that fits, no more");
    // The two past it are not (k0 serves those models here), and are kept as they came:
    // this pool's next write carries them on.
    let over = p.model_index(&format!("m{}", fits + 1)).unwrap();
    assert_eq!(p.acquire_for(T0, Some(0), Some(over), Some(0)).unwrap(), Some(0));
    let exported = p.export();
    for id in &ids[fits..] {
        assert_eq!(exported.profiles.get(id), Some(&rest.normalized()), "{id:?}");
    }
    // The same records again change nothing, and a rest that has ended needs no view.
    assert_eq!(p.import(ids.iter().map(|id| (id.as_str(), rest)), T0).unwrap(), 0);
    assert_eq!(p.pairs().len(), fits);
    let ended = Record { cooldown_until: Some(T0 - 1.0), ..rest };
    let late = pair_id("k1", "m-ended");
    p.import([(late.as_str(), ended)], T0).unwrap();
    assert_eq!(p.pairs().len(), fits + 1, "merged into a pair of its own");
}

#[test]
fn rests_cut_counts_rests_ended_early_or_shortened_not_by_the_clock() {
    let mut p = pool(Settings::v2());
    let (a, b) = (idx(&p, "oa1"), idx(&p, "oa2"));
    assert_eq!(p.rests_cut(), 0);
    p.fail(a, T0, Reason::RateLimit, None, None).unwrap(); // 1 min
    p.succeed(b, T0, None).unwrap(); // b was not resting
    assert_eq!(p.rests_cut(), 0);
    p.succeed(a, T0 + 1.0, None).unwrap(); // markSuccess ends a's rest
    assert_eq!(p.rests_cut(), 1);
    p.fail(a, T0 + 2.0, Reason::RateLimit, None, None).unwrap();
    p.clear_cooldown(a, T0 + 3.0).unwrap();
    p.clear_cooldown(a, T0 + 4.0).unwrap(); // nothing left to end
    assert_eq!(p.rests_cut(), 2);
    p.fail(a, T0 + 5.0, Reason::RateLimit, None, None).unwrap();
    assert!(!p.is_cooling(a, T0 + 5.0 + 2.0 * MIN).unwrap(), "over by the clock");
    assert_eq!(p.rests_cut(), 2);
}

// Edges that the model tests cannot see: limits at their exact value, the status totals with
// v1's meaning, rests shortened by a merged state, Retry-After 0, the code table. Each test was
// first written against a deliberately broken core (mutation testing) that the suite let pass.

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
