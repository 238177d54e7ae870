//! Fuzzing of the core's inputs with proptest: every value that crosses the wasm boundary
//! into the core — names (ids, providers), cooldown settings, policy bytes, stored records
//! in column form with their ids, times, Retry-After headers, error facts — built from
//! arbitrary bytes and from hostile values. Every input gives `Ok` or `Err`, never a panic
//! (in the wasm build a panic aborts: a trap that kills the instance), and whatever is
//! accepted keeps the pool's invariants. (Stored JSON is parsed by the JS layer, which hands
//! the core these columns; tests/node/fuzz.test.mjs and hostile-input.test.mjs fuzz that.)
//!
//! Cases per property: 2,000, or `KC_FUZZ_CASES` (`npm run fuzz` raises it).

use key_carousel::classify::{classify, is_timeout_message, ErrorFacts, Rules};
use key_carousel::config::{check_name, check_time, cooldowns_from, MAX_TIME_MS};
use key_carousel::retry::{parse_reset, parse_retry_after, parse_retry_after_ms};
use key_carousel::{
    merge, Kind, Mode, Policy, Pool, ProfileSpec, Reason, ReasonPolicy, Record, Settings, Status,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("KC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Eight bytes at a time as f64 bit patterns: every NaN, infinity, subnormal and -0.
fn floats(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Strings cut at NUL bytes, invalid UTF-8 replaced (as TextEncoder does with lone surrogates).
fn strings(bytes: &[u8]) -> Vec<String> {
    bytes.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// Names built to be refused, or to collide: empty, padded, control characters, too long,
/// prototype names, the same text in NFC and NFD, a replacement character from a lone
/// surrogate, a BOM.
fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", " ", " a", "a ", "a\tb", "\u{7}", "\u{0}", "__proto__", "constructor", "toString",
            "e\u{301}", "\u{e9}", "a\u{fffd}", "\u{feff}a", "openai", "openai-0000abcd",
            "fallback-openai-m1", "\u{1F600}", "\u{85}", "\u{2028}",
        ])
        .prop_map(str::to_string),
        1 => (1usize..400, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
        2 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A column value of a plausible record near 1.7e12 (or a small count, a reason code, a flag),
/// sometimes a hostile one.
fn column_near() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 1.7e12..1.7e12 + 2e8,
        2 => (0u32..12).prop_map(f64::from),
        1 => prop::sample::select(vec![-1.0, 0.5, f64::NAN, f64::INFINITY, 4294967295.0, 4294967296.0, MAX_TIME_MS + 2.0]),
    ]
}

fn arbitrary_time() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => any::<f64>(),
        2 => prop::sample::select(vec![
            0.0, -0.0, -1.0, MAX_TIME_MS, MAX_TIME_MS + 2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
            1.7e12, f64::MIN_POSITIVE, 5e-324, f64::MAX,
        ]),
        3 => (0u64..=(1u64 << 53)).prop_map(|t| t as f64),
    ]
}

/// A byte that is mostly a lower-case letter, sometimes a NUL (a cut), sometimes anything.
fn name_byte() -> impl Strategy<Value = u8> {
    prop_oneof![40 => 0x61u8..0x7b, 4 => Just(0u8), 2 => Just(b'-'), 1 => any::<u8>()]
}

/// Settings as the binding receives them: four optional cooldowns (any f64, bit patterns
/// included) and nine policy bytes (mostly valid), and the mode.
fn settings() -> impl Strategy<Value = (Result<Settings, String>, bool)> {
    let cooldown = prop_oneof![
        8 => Just(None),
        8 => (0u32..100_000_000).prop_map(|v| Some(f64::from(v))),
        1 => arbitrary_time().prop_map(Some),
        1 => prop::collection::vec(any::<u8>(), 8).prop_map(|b| Some(floats(&b)[0])),
    ];
    let policy_byte = prop_oneof![60 => 0u8..6, 1 => any::<u8>()];
    (prop::array::uniform4(cooldown), prop::collection::vec(policy_byte, 9), any::<bool>()).prop_map(
        |(cd, bytes, v1)| {
            let build = || -> Result<Settings, String> {
                let cooldowns = cooldowns_from(cd).map_err(|e| e.to_string())?;
                let mut policy = if v1 { Policy::v1() } else { Policy::v2() };
                for (r, b) in Reason::ALL.iter().zip(&bytes) {
                    policy.set(
                        *r,
                        ReasonPolicy::from_byte(*b).ok_or_else(|| format!("policy.{r}: invalid policy"))?,
                    );
                }
                Ok(Settings {
                    cooldowns,
                    policy,
                    mode: if v1 { Mode::V1 } else { Mode::V2 },
                    ..Settings::v2()
                })
            };
            (build(), v1)
        },
    )
}

/// The pool's invariants at a valid time: status totals add up, every state agrees with
/// `is_cooling`, the status columns say the same, the wait is positive, the export's times
/// are valid.
fn check_invariants(pool: &mut Pool, now: f64) -> Result<(), TestCaseError> {
    let st = pool.status(now).unwrap();
    let n = pool.len();
    let t = st.totals;
    prop_assert_eq!((t.available + t.in_cooldown + t.disabled) as usize, n);
    for (i, p) in st.profiles.iter().enumerate() {
        let cooling = pool.is_cooling(i as u32, now).unwrap();
        prop_assert_eq!(cooling, p.remaining_ms > 0.0);
        prop_assert!(p.remaining_ms >= 0.0 && p.remaining_ms.is_finite());
    }
    let mut cols = Vec::new();
    pool.write_columns(now, &mut cols).unwrap();
    // Profiles, totals, then the count of model-scoped rests and their rows: as `status`.
    prop_assert_eq!(Status::from_columns(&cols, n, now), Some(st.clone()));
    if let Some(w) = pool.wait_ms(now).unwrap() {
        prop_assert!(w > 0.0 && w.is_finite(), "wait {}", w);
        prop_assert_eq!(t.available == 0, pool.acquire(now, None).unwrap().is_none());
    }
    for r in pool.export().profiles.values() {
        for x in [r.last_used, r.last_failure, r.last_success, r.updated_at, r.cooldown_started_at]
            .into_iter()
            .flatten()
        {
            prop_assert!(check_time(x), "exported time {}", x);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Configuration from arbitrary bytes: names, cooldowns, policy bytes, mode.
    #[test]
    fn configuration_from_arbitrary_bytes(
        name_bytes in prop::collection::vec(name_byte(), 0..160),
        (settings, _v1) in settings(),
        kinds in prop::collection::vec(any::<bool>(), 0..40),
        now in arbitrary_time(),
    ) {
        let names = strings(&name_bytes);
        let specs: Vec<ProfileSpec> = names
            .chunks(2)
            .zip(kinds.iter().chain(std::iter::repeat(&false)))
            .map(|(pair, &fallback)| ProfileSpec {
                id: pair[0].clone(),
                provider: pair.get(1).cloned().unwrap_or_default(),
                kind: if fallback { Kind::Fallback } else { Kind::Primary },
            })
            .collect();
        let settings = match settings {
            Ok(s) => s,
            Err(e) => {
                // Refused settings name their field.
                prop_assert!(e.starts_with("cooldowns.") || e.starts_with("policy."), "{}", e);
                return Ok(());
            }
        };
        match Pool::with_profiles(settings, &specs) {
            Err(e) => {
                prop_assert!(
                    e.field == "profiles"
                        || e.field.starts_with("profiles[")
                        || e.field.starts_with("fallbackModels["),
                    "field {:?}", e.field
                );
                prop_assert!(!e.problem.is_empty());
            }
            Ok(mut pool) => {
                // Every accepted name is one check_name accepts.
                for i in 0..pool.len() as u32 {
                    prop_assert!(check_name(String::new, pool.id(i).unwrap()).is_ok());
                    prop_assert!(check_name(String::new, pool.provider(i).unwrap()).is_ok());
                }
                let valid = check_time(now);
                prop_assert_eq!(pool.acquire(now, Some(0)).is_ok(), valid);
                prop_assert_eq!(pool.fail(0, now, Reason::RateLimit, Some(now), None).is_ok(), valid);
                prop_assert_eq!(pool.status(now).is_ok(), valid);
                if valid {
                    check_invariants(&mut pool, now)?;
                }
            }
        }
    }

    /// Hostile names: refused with the field's name, or accepted and kept apart byte for byte
    /// (NFC and NFD spellings are two ids; a replacement character is an ordinary one).
    #[test]
    fn configuration_from_hostile_names(names in prop::collection::vec((hostile_name(), hostile_name(), any::<bool>()), 1..12)) {
        let specs: Vec<ProfileSpec> = names
            .iter()
            .map(|(id, provider, fb)| ProfileSpec { id: id.clone(), provider: provider.clone(), kind: if *fb { Kind::Fallback } else { Kind::Primary } })
            .collect();
        match Pool::with_profiles(Settings::v2(), &specs) {
            Err(e) => {
                let list_index = |f: &str| f.split(['[', ']']).nth(1).and_then(|n| n.parse::<usize>().ok());
                prop_assert!(list_index(&e.field).is_some(), "field {:?}", e.field);
                prop_assert!(e.field.ends_with(".id") || e.field.ends_with(".provider"), "field {:?}", e.field);
            }
            Ok(pool) => {
                let mut ids: Vec<&str> = (0..pool.len() as u32).map(|i| pool.id(i).unwrap()).collect();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), specs.len(), "every id kept apart");
                for s in &specs {
                    prop_assert!(pool.index_of(&s.id).is_some());
                }
            }
        }
    }

    /// Stored state from arbitrary bytes: records as column bit patterns, their ids as text
    /// (some the pool's, some colliding after lossy decoding), imported at any time.
    #[test]
    fn snapshot_from_arbitrary_bytes(
        col_bytes in prop::collection::vec(any::<u8>(), 0..1100),
        near in prop::collection::vec(column_near(), 0..180),
        id_bytes in prop::collection::vec(name_byte(), 0..300),
        now in prop_oneof![3 => 1.7e12..1.7e12 + 1e8, 1 => arbitrary_time()],
        mode_v1 in any::<bool>(),
    ) {
        let settings = if mode_v1 { Settings::v1() } else { Settings::v2() };
        let spec = |id: &str, kind| ProfileSpec { id: id.into(), provider: "p".into(), kind };
        let mut pool = Pool::with_profiles(
            settings,
            &[spec("a", Kind::Primary), spec("b", Kind::Primary), spec("\u{fffd}", Kind::Primary), spec("f", Kind::Fallback)],
        ).unwrap();
        // Raw bit patterns, then numbers near the time of the import (cooldowns that hold).
        let mut cols = floats(&col_bytes);
        cols.truncate(cols.len() / Record::COLUMNS * Record::COLUMNS);
        cols.extend(near);
        let mut ids = strings(&id_bytes);
        ids.extend(["a", "b", "\u{fffd}", "f", "__proto__"].map(str::to_string));
        let records: Vec<(String, Record)> = cols
            .chunks_exact(Record::COLUMNS)
            .zip(ids.iter().cycle())
            .map(|(c, id)| (id.clone(), Record::from_columns(c.try_into().unwrap())))
            .collect();
        let result = pool.import(records.iter().map(|(id, r)| (id.as_str(), *r)), now);
        prop_assert_eq!(result.is_ok(), check_time(now));
        if result.is_err() {
            return Ok(());
        }
        check_invariants(&mut pool, now)?;
        // Importing what the pool exports changes nothing: the merge is idempotent.
        let once = pool.export();
        pool.import(once.profiles.iter().map(|(id, r)| (id.as_str(), *r)), now).unwrap();
        prop_assert_eq!(pool.export(), once);
        // And the pool still works.
        if let Some(i) = pool.acquire(now, None).unwrap() {
            pool.fail(i, now, Reason::ServerError, None, Some(now)).unwrap();
            pool.clear_cooldown(i, now).unwrap();
        }
        check_invariants(&mut pool, now)?;
    }

    /// Any nine numbers are a record: bad values dropped field by field; the column form
    /// round-trips; the merge laws hold on the whole input space, not only on sane records.
    #[test]
    fn records_from_arbitrary_columns_and_the_merge_laws(
        a in prop::collection::vec(any::<u8>(), 72),
        b in prop::collection::vec(any::<u8>(), 72),
        c in prop::collection::vec(any::<u8>(), 72),
    ) {
        let rec = |bytes: &[u8]| Record::from_columns(floats(bytes).as_slice().try_into().unwrap());
        let (a, b, c) = (rec(&a), rec(&b), rec(&c));
        for r in [&a, &b, &c] {
            let mut out = Vec::new();
            r.write_columns(&mut out);
            prop_assert_eq!(Record::from_columns(out.as_slice().try_into().unwrap()), *r);
        }
        prop_assert_eq!(merge(&a, &b), merge(&b, &a));
        prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
        prop_assert_eq!(merge(&a, &a), a.normalized());
    }

    /// Any time into every operation: a valid one works, any other is an error that changes
    /// nothing; indices past the end are errors.
    #[test]
    fn operations_at_arbitrary_times_and_indices(
        times in prop::collection::vec(arbitrary_time(), 1..30),
        idx in any::<u32>(),
        code in any::<u8>(),
        retry in prop::option::of(any::<f64>()),
    ) {
        let spec = |id: &str| ProfileSpec { id: id.into(), provider: "p".into(), kind: Kind::Primary };
        let mut pool = Pool::with_profiles(Settings::v2(), &[spec("a"), spec("b")]).unwrap();
        let reason = Reason::from_code(code % 9).unwrap();
        let mut last_valid = None;
        for &now in &times {
            let before = pool.export();
            let ok = check_time(now);
            prop_assert_eq!(pool.acquire(now, None).is_ok(), ok);
            prop_assert_eq!(pool.fail(idx % 2, now, reason, retry, Some(now)).is_ok(), ok);
            prop_assert_eq!(pool.succeed(idx % 2, now, None).is_ok(), ok);
            prop_assert!(pool.fail(idx | 2, 1.0, reason, None, None).is_err());
            prop_assert!(pool.succeed(idx | 2, 1.0, None).is_err());
            prop_assert!(pool.release(idx | 2).is_err());
            // Excluded profiles: indices past the end (and unsorted lists) are errors or
            // ignored, never a panic; a refused call hides nothing for the next one.
            let got = pool.acquire_excluding(now, None, None, None, &[idx | 2, 0]);
            prop_assert!(got.is_err());
            prop_assert!(pool.wait_ms_excluding(now, None, &[1, 0, idx]).is_ok() == ok);
            prop_assert_eq!(pool.acquire_excluding(now, None, None, None, &[1, 0]).ok(), ok.then_some(None));
            if ok {
                last_valid = Some(now);
                check_invariants(&mut pool, now)?;
            } else {
                prop_assert_eq!(pool.export(), before, "a bad time changes nothing");
            }
        }
        if let Some(now) = last_valid {
            let st = pool.status(now).unwrap();
            for p in st.profiles {
                // A cooldown is never longer than its cap (1 h transient, 24 h long, defaults).
                prop_assert!(p.remaining_ms <= 86_400_000.0, "remaining {}", p.remaining_ms);
            }
        }
    }

    /// Headers and error facts from arbitrary bytes: parsed to a finite, non-negative delay
    /// or nothing; classified to one of the nine reasons.
    #[test]
    fn headers_and_error_facts_from_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        now in arbitrary_time(),
        status in prop::option::of(arbitrary_time()),
    ) {
        let text = String::from_utf8_lossy(&bytes);
        for ms in [parse_retry_after(&text, now), parse_retry_after_ms(&text), parse_reset(&text, now)].into_iter().flatten() {
            prop_assert!(ms.is_finite() && ms >= 0.0, "{:?} -> {}", text, ms);
        }
        let parts = strings(&bytes);
        let get = |i: usize| parts.get(i).map_or("", String::as_str);
        let facts = ErrorFacts { status, message: get(0), name: get(1), code: get(2) };
        for rules in [Rules::V1, Rules::V2] {
            prop_assert!(Reason::ALL.contains(&classify(&facts, rules)));
        }
        let _ = is_timeout_message(&text);
    }
}

/// 10^6 stored records, 1 MB ids and ids that are only separators: imported without a panic,
/// every unknown id kept.
#[test]
fn huge_and_odd_snapshots() {
    let spec = |id: &str| ProfileSpec { id: id.into(), provider: "p".into(), kind: Kind::Primary };
    let mut pool = Pool::with_profiles(Settings::v2(), &[spec("a")]).unwrap();
    let r = Record {
        error_count: 1,
        cooldown_until: Some(1.7e12 + 60_000.0),
        last_failure: Some(1.7e12),
        ..Record::default()
    };
    let ids: Vec<String> = (0..1_000_000).map(|i| format!("other-{i}")).collect();
    let unknown = pool.import(ids.iter().map(|id| (id.as_str(), r)), 1.7e12).unwrap();
    assert_eq!(unknown, 1_000_000);
    let big = "x".repeat(1 << 20);
    let odd = ["", "\u{0}", "\u{0}\u{0}", big.as_str(), "a"];
    pool.import(odd.iter().map(|id| (*id, r)), 1.7e12).unwrap();
    let out = pool.export();
    assert_eq!(out.profiles.len(), 1_000_000 + odd.len());
    assert_eq!(pool.status(1.7e12).unwrap().totals.in_cooldown, 1, "\"a\" took the stored cooldown");
}

/// What a Rust user can build from public fields and the binding never sends: checked or
/// made harmless, never a panic (an audit of the crate's API: each of these panicked or
/// misbehaved before).
#[test]
fn public_values_the_binding_would_refuse_neither_panic_nor_misbehave() {
    use key_carousel::{Cooldowns, Ladder, Schedule};
    const T: f64 = 1_700_000_000_000.0;
    let spec = |id: &str| ProfileSpec { id: id.into(), provider: "p".into(), kind: Kind::Primary };
    let mut pool = Pool::with_profiles(Settings::v2(), &[spec("a"), spec("b")]).unwrap();
    // Unknown indices: NaN, as the other accessors answer None.
    assert!(pool.cooldown_until(7).is_nan());
    assert!(pool.pair_until(0).is_nan());
    // Ladders out of shape: refused, and harmless if built anyway.
    let long = Ladder::Steps { len: 11, steps: [1_000.0; 10] };
    let empty = Ladder::Steps { len: 0, steps: [1_000.0; 10] };
    assert!(!long.is_valid() && !empty.is_valid());
    assert_eq!((long.cap(), long.step(20), empty.cap(), empty.step(1)), (1_000.0, 1_000.0, 1_000.0, 1_000.0));
    assert!(!pool.set_ladder(Schedule::Transient, Some(long)));
    let f = pool.fail(0, T, Reason::RateLimit, Some(5_000_000.0), None).unwrap();
    assert_eq!(f.cooldown_ms, Some(3_600_000.0), "v1's ladder is kept");
    // Settings out of range: an error naming the field.
    let bad = |cooldowns: Cooldowns| {
        Pool::with_profiles(Settings { cooldowns, ..Settings::v2() }, &[spec("a")]).err().map(|e| e.field)
    };
    let nan = Cooldowns { billing_max_ms: f64::NAN, ..Cooldowns::default() };
    assert_eq!(bad(nan).as_deref(), Some("cooldowns.billingMaxMs"));
    let negative = Cooldowns { failure_window_ms: -1.0, ..Cooldowns::default() };
    assert_eq!(bad(negative).as_deref(), Some("cooldowns.failureWindowMs"));
    assert_eq!(
        bad(Cooldowns { transient: Some(empty), ..Cooldowns::default() }).as_deref(),
        Some("schedules.transient")
    );
    // A Retry-After of infinity is the cap, not the first step.
    let f = pool.fail(1, T, Reason::RateLimit, Some(f64::INFINITY), None).unwrap();
    assert_eq!(f.cooldown_ms, Some(3_600_000.0));
    // Records with times out of range: dropped field by field, as the columns reader does.
    let mut p2 = Pool::with_profiles(Settings::v2(), &[spec("a")]).unwrap();
    let forever = Record {
        error_count: 1,
        cooldown_until: Some(f64::INFINITY),
        updated_at: Some(0.0),
        ..Record::default()
    };
    p2.import([("a", forever)], T).unwrap();
    assert!(!p2.is_cooling(0, T).unwrap(), "an infinite rest is not imported");
    let weird = Record { last_used: Some(-1e18), ..Record::default() };
    p2.import([("a", weird)], T).unwrap();
    assert_eq!(p2.record(0).unwrap().last_used, None);
    let none = Record { updated_at: Some(0.0), ..Record::default() };
    assert_eq!(merge(&forever, &none), merge(&none, &forever), "commutative");
}
