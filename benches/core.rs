//! Micro-benchmark of the core alone (no JS, no wasm): `cargo bench --bench core`.
//! Prints a table; regressions in the core show here without the noise of the binding.
//! For a figure that does not depend on the machine's load, count instructions:
//! `valgrind --tool=callgrind target/release/deps/core-*` (see README, Performance).

use std::hint::black_box;
use std::time::Instant;

use key_carousel::{Kind, Pool, ProfileSpec, Reason, Settings};

fn pool(n: usize) -> Pool {
    let mut p = Pool::new(Settings::v2());
    p.reserve(n);
    for i in 0..n {
        let provider = if i % 4 == 0 { "anthropic" } else { "openai" };
        p.add_profile(
            &ProfileSpec { id: format!("key-{i}"), provider: provider.into(), kind: Kind::Primary },
            i,
        )
        .unwrap();
    }
    p
}

/// Best of 5 rounds of `iters` calls, in ns per call.
fn time(iters: u32, mut f: impl FnMut(u32)) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for i in 0..iters {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    println!(
        "{:>9}  {:>16}  {:>22}  {:>14}  {:>16}",
        "profiles", "build (ms)", "acquire+succeed (ns)", "+fail (ns)", "status (µs)"
    );
    for n in [3usize, 100, 1_000, 10_000, 100_000] {
        let t = Instant::now();
        let mut p = black_box(pool(n));
        let build = t.elapsed().as_secs_f64() * 1e3;
        let now = 1.7e12;
        let hot = time(1_000_000, |_| {
            let i = p.acquire(now, None).unwrap().unwrap();
            p.succeed(i, now, Some(now)).unwrap();
        });
        // A failure with a zero Retry-After: the profile rests 0 ms, so the pool never drains.
        let mut t = now;
        let fail = time(200_000, |_| {
            t += 1.0;
            let i = p.acquire(t, None).unwrap().unwrap();
            p.fail(i, t, Reason::RateLimit, Some(0.0), Some(t)).unwrap();
        });
        let mut cols = Vec::new();
        let status = time(if n >= 10_000 { 50 } else { 5_000 }, |_| {
            p.write_columns(now, &mut cols).unwrap();
            black_box(&cols);
        }) / 1e3;
        println!("{n:>9}  {build:>16.2}  {hot:>22.1}  {fail:>14.1}  {status:>16.2}");
    }
}
