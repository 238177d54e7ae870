//! Property tests of snapshots: the merge laws (commutative, associative, idempotent),
//! "merging never loses a failure", snapshot merges keeping every id, and export →
//! import round trips through the pool.

use std::collections::BTreeMap;

use key_carousel::{merge, Kind, Pool, ProfileSpec, Reason, Record, Settings, Snapshot, State};
use proptest::prelude::*;

/// Times from a small set, so that ties (the hard cases of a merge) are common.
fn t() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        2 => Just(None),
        3 => prop::sample::select(vec![0.0, 1.0, 2.0, 5.0, 1.7e12]).prop_map(Some),
        1 => (0u64..(1u64 << 53)).prop_map(|x| Some(x as f64)),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        (0u32..3, t(), t(), t()),
        (
            t(),
            proptest::option::of(prop::sample::select(vec![
                Reason::RateLimit,
                Reason::Billing,
                Reason::Auth,
            ])),
        ),
        (t(), any::<bool>(), t()),
    )
        .prop_map(
            |(
                (error_count, last_used, last_failure, last_success),
                (cooldown_until, reason),
                (updated_at, cooldown_long, cooldown_started_at),
            )| Record {
                error_count,
                last_used,
                last_failure,
                last_success,
                cooldown_until,
                reason,
                updated_at,
                cooldown_long,
                cooldown_started_at,
            },
        )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    proptest::collection::btree_map(prop::sample::select(vec!["a", "b", "c", "__proto__"]), record(), 0..4)
        .prop_map(|m| Snapshot { profiles: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect() })
}

/// The cooldown group of a record.
fn group(r: &Record) -> (Option<f64>, u32, Option<Reason>, bool, Option<f64>) {
    (r.cooldown_until, r.error_count, r.reason, r.cooldown_long, r.cooldown_started_at)
}

fn at_least(merged: Option<f64>, input: Option<f64>) -> bool {
    match (merged, input) {
        (_, None) => true,
        (Some(m), Some(i)) => m >= i,
        (None, Some(_)) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative(a in record(), b in record()) {
        prop_assert_eq!(merge(&a, &b), merge(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in record(), b in record(), c in record()) {
        prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent(a in record(), b in record()) {
        // merge(a, a) only fills in updatedAt; a merged record merges with itself to itself.
        prop_assert_eq!(merge(&a, &a), a.normalized());
        let m = merge(&a, &b);
        prop_assert_eq!(merge(&m, &m), m);
        prop_assert_eq!(merge(&m, &a), m);
        prop_assert_eq!(merge(&m, &b), m);
    }

    #[test]
    fn merging_never_loses_a_failure(a in record(), b in record()) {
        let m = merge(&a, &b);
        for input in [&a, &b] {
            prop_assert!(at_least(m.last_failure, input.last_failure));
            prop_assert!(at_least(m.last_success, input.last_success));
            prop_assert!(at_least(m.last_used, input.last_used));
        }
        // A cooldown whose event is the latest survives, with its whole group.
        let ev = |r: &Record| r.event_time().unwrap_or(-1.0);
        for (x, y) in [(&a, &b), (&b, &a)] {
            if ev(x) > ev(y) {
                prop_assert_eq!(group(&m), group(x));
            }
        }
        // Whatever wins, the merged group is one of the inputs' groups, never a mix.
        prop_assert!(group(&m) == group(&a) || group(&m) == group(&b));
    }

    #[test]
    fn snapshot_merge_laws_and_every_id_kept(a in snapshot(), b in snapshot(), c in snapshot()) {
        let ab = a.merge(&b);
        prop_assert_eq!(&ab, &b.merge(&a));
        prop_assert_eq!(ab.merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(ab.merge(&ab), ab.clone());
        for id in a.profiles.keys().chain(b.profiles.keys()) {
            prop_assert!(ab.profiles.contains_key(id), "id {} dropped", id);
        }
        prop_assert!(ab.profiles.keys().all(|id| a.profiles.contains_key(id) || b.profiles.contains_key(id)));
    }
}

// ---- through the pool ------------------------------------------------------------------

fn specs() -> Vec<ProfileSpec> {
    let s = |id: &str, provider: &str, kind| ProfileSpec { id: id.into(), provider: provider.into(), kind };
    vec![
        s("a", "openai", Kind::Primary),
        s("b", "openai", Kind::Primary),
        s("c", "anthropic", Kind::Primary),
        s("fb", "openai", Kind::Fallback),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Succeed(usize),
    Fail(usize, Reason),
    MarkFailure(usize, Reason),
    MarkSuccess(usize),
    Clear(usize),
    Advance(f64),
}

fn op() -> impl Strategy<Value = Op> {
    let reason = (0u8..9).prop_map(|c| Reason::from_code(c).unwrap());
    prop_oneof![
        4 => Just(Op::Acquire),
        2 => any::<usize>().prop_map(Op::Succeed),
        3 => (any::<usize>(), reason.clone()).prop_map(|(k, r)| Op::Fail(k, r)),
        1 => (any::<usize>(), reason).prop_map(|(k, r)| Op::MarkFailure(k, r)),
        1 => any::<usize>().prop_map(Op::MarkSuccess),
        1 => any::<usize>().prop_map(Op::Clear),
        3 => (0u32..200_000).prop_map(|d| Op::Advance(d as f64)),
    ]
}

fn drive(settings: Settings, ops: &[Op], start: f64) -> (Pool, f64) {
    let mut pool = Pool::with_profiles(settings, &specs()).unwrap();
    let mut now = start;
    let mut leases: Vec<(u32, f64)> = vec![];
    let n = pool.len();
    for op in ops {
        match *op {
            Op::Acquire => {
                if let Some(i) = pool.acquire(now, None).unwrap() {
                    leases.push((i, now));
                }
            }
            Op::Succeed(k) if !leases.is_empty() => {
                let (i, t) = leases.remove(k % leases.len());
                pool.succeed(i, now, Some(t)).unwrap();
            }
            Op::Fail(k, r) if !leases.is_empty() => {
                let (i, t) = leases.remove(k % leases.len());
                pool.fail(i, now, r, None, Some(t)).unwrap();
            }
            Op::Succeed(_) | Op::Fail(..) => {}
            Op::MarkFailure(k, r) => {
                pool.fail((k % n) as u32, now, r, None, None).unwrap();
            }
            Op::MarkSuccess(k) => pool.succeed((k % n) as u32, now, None).unwrap(),
            Op::Clear(k) => pool.clear_cooldown((k % n) as u32, now).unwrap(),
            Op::Advance(d) => now += d,
        }
    }
    (pool, now)
}

/// Whether a pool keeps a record of an id it does not have at `now`: some time in it is at
/// most 30 days old (one without times counts as of time 0).
fn fresh(r: &Record, now: f64) -> bool {
    let month = 30.0 * 24.0 * 3_600_000.0;
    [r.last_used, r.last_failure, r.last_success, r.cooldown_until, r.updated_at, r.cooldown_started_at]
        .into_iter()
        .flatten()
        .any(|t| t >= now - month)
        || now - month <= 0.0
}

fn normalized(s: &Snapshot) -> Snapshot {
    Snapshot { profiles: s.profiles.iter().map(|(k, r)| (k.clone(), r.normalized())).collect() }
}

fn import(pool: &mut Pool, s: &Snapshot, now: f64) -> usize {
    pool.import(s.profiles.iter().map(|(k, r)| (k.as_str(), *r)), now).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn export_import_round_trip(
        v1 in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..40),
        extra in proptest::collection::btree_map("[x-z]{1,3}", record(), 0..3),
    ) {
        let settings = if v1 { Settings::v1() } else { Settings::v2() };
        let (mut first, now) = drive(settings, &ops, 1.7e12);
        let extras = Snapshot { profiles: extra.into_iter().collect::<BTreeMap<_, _>>() };
        prop_assert_eq!(import(&mut first, &extras, now), extras.profiles.len());
        let saved = first.export();
        // Unknown ids are kept and re-exported, until every time in their record is over
        // 30 days old.
        for (id, r) in &extras.profiles {
            prop_assert_eq!(saved.profiles.contains_key(id), fresh(r, now), "{}", id);
        }
        let mut second = Pool::with_profiles(settings, &specs()).unwrap();
        import(&mut second, &saved, now);
        prop_assert_eq!(second.export(), normalized(&saved));
        // What a user sees is the same, except calls in flight (those are not persisted).
        let (s1, s2) = (first.status(now).unwrap(), second.status(now).unwrap());
        for (p1, p2) in s1.profiles.iter().zip(&s2.profiles) {
            prop_assert_eq!(p1.state, p2.state);
            prop_assert_eq!(p1.cooldown_until, p2.cooldown_until);
            prop_assert_eq!(p1.error_count, p2.error_count);
            prop_assert_eq!((p1.last_used, p1.last_failure, p1.last_success), (p2.last_used, p2.last_failure, p2.last_success));
            prop_assert_eq!(p1.reason, p2.reason);
        }
        prop_assert_eq!(s1.totals.available, s2.totals.available);
        prop_assert_eq!(first.clone().wait_ms(now).unwrap(), second.clone().wait_ms(now).unwrap());
        // Importing again changes nothing.
        import(&mut second, &saved, now);
        prop_assert_eq!(second.export(), normalized(&saved));
    }

    #[test]
    fn importing_two_snapshots_is_importing_their_merge(
        ops in proptest::collection::vec(op(), 0..30),
        a in snapshot(),
        b in snapshot(),
    ) {
        let (mut one, now) = drive(Settings::v2(), &ops, 1.7e12);
        // Records as a writer whose clock is not ahead of this one's makes them: a pool drops
        // a stored cooldownStartedAt later than its now, record by record, before it merges
        // (Record::begun_by). Dropping the latest start makes it the earliest, so with such a
        // start the order of the last tie-break changes, and importing a then b can differ from
        // importing merge(a, b) (by that start alone, when every other field ties).
        let sane = |s: &Snapshot| Snapshot {
            profiles: s.profiles.iter().map(|(id, r)| (id.clone(), r.begun_by(now))).collect(),
        };
        let (a, b) = (sane(&a), sane(&b));
        let mut two = one.clone();
        import(&mut one, &a, now);
        import(&mut one, &b, now);
        // Of the records of ids the pool does not have, the stale ones are not taken in:
        // each snapshot without them.
        let taken = |s: &Snapshot| Snapshot {
            profiles: s
                .profiles
                .iter()
                .filter(|(id, r)| two.index_of(id).is_some() || fresh(r, now))
                .map(|(id, r)| (id.clone(), *r))
                .collect(),
        };
        let merged = taken(&a).merge(&taken(&b));
        import(&mut two, &merged, now);
        prop_assert_eq!(one.export(), two.export());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The wasm binding imports a snapshot in parts (a bounded copy in the module's memory)
    /// and re-ranks once after the last: that must be the whole import, order included.
    #[test]
    fn importing_in_parts_then_reranking_is_importing_whole(
        ops in proptest::collection::vec(op(), 0..30),
        theirs in proptest::collection::vec(op(), 0..30),
        other in snapshot(),
        cuts in proptest::collection::vec(0usize..8, 0..4),
    ) {
        let (mut whole, now) = drive(Settings::v2(), &ops, 1.7e12);
        let mut parts = whole.clone();
        // Another process's state (its clock not ahead of this one's), and records of its own.
        let (mine, _) = drive(Settings::v2(), &theirs, 1.7e12);
        let mut stored: Vec<(String, Record)> = mine.export().profiles.into_iter().collect();
        stored.extend(other.profiles.iter().map(|(id, r)| (id.clone(), r.begun_by(now))));
        let unknown = whole.import(stored.iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(stored.len())).collect();
        bounds.extend([0, stored.len()]);
        bounds.sort_unstable();
        let (mut unknown_parts, mut rerank) = (0, false);
        for w in bounds.windows(2) {
            let part = parts.import_part(stored[w[0]..w[1]].iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
            unknown_parts += part.unknown;
            rerank |= part.rerank;
        }
        if rerank {
            parts.rerank();
        }
        prop_assert_eq!(unknown_parts, unknown);
        prop_assert_eq!(parts.export(), whole.export());
        // The same picks from here on: the round-robin order was rebuilt the same way.
        for i in 0..6 {
            let t = now + i as f64;
            prop_assert_eq!(parts.acquire(t, None).unwrap(), whole.acquire(t, None).unwrap());
        }
    }
}

#[test]
fn a_restarted_pool_skips_the_key_that_was_cooling() {
    let now = 1.7e12;
    let (mut first, _) = drive(Settings::v2(), &[], now);
    let a = first.index_of("a").unwrap();
    first.fail(a, now, Reason::RateLimit, None, None).unwrap();
    let saved = first.export();
    let mut second = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut second, &saved, now + 1.0);
    assert_eq!(second.profile_status(a, now + 1.0).unwrap().state, State::Cooldown);
    assert_eq!(second.acquire(now + 1.0, None).unwrap(), second.index_of("b"));
}

#[test]
fn a_restarted_pool_continues_the_round_robin() {
    let now = 1.7e12;
    let mut first = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    assert_eq!(first.acquire(now, None).unwrap(), Some(0)); // a
    assert_eq!(first.acquire(now + 1.0, None).unwrap(), Some(1)); // b
    let mut second = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut second, &first.export(), now + 2.0);
    // c was never picked, then a (least recently), then b.
    let picks: Vec<_> = (0..3).map(|i| second.acquire(now + 3.0 + i as f64, None).unwrap()).collect();
    assert_eq!(picks, vec![Some(2), Some(0), Some(1)]);
}

#[test]
fn a_record_of_an_unknown_id_is_forgotten_30_days_after_its_last_time() {
    const DAY: f64 = 86_400_000.0;
    assert_eq!(key_carousel::FORGET_AFTER_MS, 30.0 * DAY);
    let t0 = 1.7e12;
    let failed = Record { error_count: 1, last_failure: Some(t0), ..Record::default() };
    let stored =
        |r: Record| Snapshot { profiles: BTreeMap::from([("gone".to_string(), r), ("a".to_string(), r)]) };
    let empty = Snapshot::default();

    // Kept up to 30 days after its last time, then forgotten at the next import.
    let mut pool = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut pool, &stored(failed), t0 + 30.0 * DAY);
    assert!(pool.export().profiles.contains_key("gone"));
    import(&mut pool, &empty, t0 + 30.0 * DAY + 1.0);
    assert!(!pool.export().profiles.contains_key("gone"));
    // Not taken in once stale; the pool's own profile takes its record whatever its age.
    let mut late = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut late, &stored(failed), t0 + 30.0 * DAY + 1.0);
    let saved = late.export();
    assert!(!saved.profiles.contains_key("gone"));
    assert_eq!(saved.profiles["a"].last_failure, Some(t0));

    // A rest counts by its end: kept while it runs and 30 days after.
    let resting = Record { cooldown_until: Some(t0 + 40.0 * DAY), cooldown_long: true, ..failed };
    let mut pool = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut pool, &stored(resting), t0 + 35.0 * DAY);
    import(&mut pool, &empty, t0 + 70.0 * DAY);
    assert!(pool.export().profiles.contains_key("gone"));
    import(&mut pool, &empty, t0 + 70.0 * DAY + 1.0);
    assert!(!pool.export().profiles.contains_key("gone"));

    // A later record of the id after it went stale replaces it rather than merging with it.
    let mut pool = Pool::with_profiles(Settings::v2(), &specs()).unwrap();
    import(&mut pool, &stored(Record { last_used: Some(t0), ..failed }), t0);
    let later = Record { error_count: 0, last_success: Some(t0 + 40.0 * DAY), ..Record::default() };
    import(&mut pool, &stored(later), t0 + 40.0 * DAY);
    assert_eq!(pool.export().profiles["gone"], later.normalized());
}

/// A model's history on a key (a pair) is forgotten once every time it holds is more than
/// 30 days, and more than the failure window, old: the pool writes it no more, and a pool
/// reading an old state does not take it in (nor intern the model's name). Before, a model
/// named once by a failing call (a gateway passing a typo on) stayed in the state for good,
/// and counted toward the 4,096 names in every process that read it (found by an audit).
#[test]
fn a_models_history_on_a_key_is_forgotten_past_thirty_days_and_the_failure_window() {
    use key_carousel::{pair_id, FORGET_AFTER_MS};
    let spec = ProfileSpec { id: "a".into(), provider: "p".into(), kind: Kind::Primary };
    let t0 = 1.7e12;
    let id = pair_id("a", "typo-model");
    let failed = |settings: Settings| {
        let mut pool = Pool::with_profiles(settings, std::slice::from_ref(&spec)).unwrap();
        let m = pool.model_index("typo-model").unwrap();
        pool.fail_for(0, t0, Reason::ModelNotFound, None, None, Some(m)).unwrap();
        pool
    };
    let mut pool = failed(Settings::v2());
    let stored = pool.export();
    assert!(stored.profiles[&id].last_failure == Some(t0), "{:?}", stored.profiles.get(&id));
    let records = || stored.profiles.iter().map(|(k, v)| (k.as_str(), *v));

    // A day short of the horizon: kept, and read back by another pool.
    let early = t0 + FORGET_AFTER_MS - 86_400_000.0;
    pool.import(std::iter::empty(), early).unwrap();
    assert_eq!(pool.export().profiles[&id].last_failure, Some(t0));
    let mut other = Pool::with_profiles(Settings::v2(), std::slice::from_ref(&spec)).unwrap();
    other.import(records(), early).unwrap();
    assert!(other.find_model("typo-model").is_some());

    // Past it: the pair's history is gone (an empty record, which the JS layer does not
    // write), and a fresh pool reading the old state does not take the name in.
    let late = t0 + FORGET_AFTER_MS + 3_600_000.0; // past the rest's end too
    pool.import(std::iter::empty(), late).unwrap();
    let r = pool.export().profiles[&id];
    assert_eq!((r.error_count, r.last_failure, r.cooldown_until, r.reason), (0, None, None, None));
    let mut fresh = Pool::with_profiles(Settings::v2(), std::slice::from_ref(&spec)).unwrap();
    fresh.import(records(), late).unwrap();
    assert_eq!(fresh.find_model("typo-model"), None);
    assert!(!fresh.export().profiles.contains_key(&id));

    // A failure window longer than 30 days keeps the history for the window.
    let mut settings = Settings::v2();
    settings.cooldowns.failure_window_ms = 2.0 * FORGET_AFTER_MS;
    let mut long = failed(settings);
    long.import(std::iter::empty(), late).unwrap();
    assert_eq!(long.export().profiles[&id].last_failure, Some(t0));
    long.import(std::iter::empty(), t0 + 2.0 * FORGET_AFTER_MS + 3_600_000.0).unwrap();
    assert_eq!(long.export().profiles[&id].last_failure, None);
}
