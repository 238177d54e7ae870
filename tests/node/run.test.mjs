// run(): rotation, waiting for cooldowns, maxWaitMs, aborts, provider preference, round-robin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, AllProfilesExhaustedError, FailoverError } from "key-carousel";
import { T0, MIN, keys, manualClock, rejection, statusOf, tooManyRequests, httpError, tick } from "./helpers.mjs";

test("1. a 429 on the first key rotates to the second; the first cools down for 1 min", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const seen = [];
  const res = await pool.run(async ({ profileId, apiKey }) => {
    seen.push(profileId);
    if (profileId === "k0") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
    return `ok with ${apiKey}`;
  });

  assert.deepEqual(seen, ["k0", "k1"]);
  assert.equal(res.value, "ok with key-openai-1-0123456789");
  assert.equal(res.profileId, "k1");
  assert.equal(res.provider, "openai");
  assert.equal(res.attempts.length, 1);
  assert.equal(res.attempts[0].profileId, "k0");
  assert.equal(res.attempts[0].reason, "rate_limit");
  assert.equal(res.attempts[0].error, "Too Many Requests");
  assert.equal(res.attempts[0].cooldownMs, 60_000);

  const s = pool.getStatus();
  const [k0, k1] = s.profiles;
  assert.equal(k0.id, "k0");
  assert.equal(k0.state, "cooldown");
  assert.equal(k0.cooldownUntil, T0 + 60_000);
  assert.equal(k0.errorCount, 1);
  assert.equal(k0.reason, "rate_limit");
  assert.equal(k0.lastFailure, T0);
  assert.equal(k1.state, "available");
  assert.equal(k1.errorCount, 0);
  assert.equal(k1.lastSuccess, T0);
  assert.equal(s.totalAvailable, 1);
  assert.equal(s.totalInCooldown, 1);
  assert.equal(s.unavailableReason, null);
  assert.equal(pool.isInCooldown("k0"), true);
  assert.equal(pool.isInCooldown("k1"), false);
});

test("4. when every key cools down, run waits for the soonest recovery and uses that key", async () => {
  const pool = new Pool({ profiles: keys(3) }); // real clock: run really waits
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 80 });
  pool.markFailure("k1", "rate_limit", { retryAfterMs: 30 });
  pool.markFailure("k2", "rate_limit", { retryAfterMs: 60 });
  assert.equal(pool.getStatus().totalAvailable, 0);

  const k1Until = statusOf(pool, "k1").cooldownUntil;
  assert.ok(k1Until < statusOf(pool, "k2").cooldownUntil && k1Until < statusOf(pool, "k0").cooldownUntil);

  const calls = [];
  const start = performance.now();
  const res = await pool.run(({ profileId }) => {
    calls.push([profileId, Date.now()]);
    return profileId;
  });
  const elapsed = performance.now() - start;

  assert.deepEqual(calls.map((c) => c[0]), ["k1"]);
  assert.ok(calls[0][1] >= k1Until, `the task ran ${k1Until - calls[0][1]} ms before k1 recovered`);
  assert.equal(res.value, "k1");
  assert.equal(res.profileId, "k1");
  assert.deepEqual(res.attempts, []);
  assert.ok(elapsed < 1000, `run waited far too long: ${elapsed.toFixed(1)} ms`);
  assert.equal(statusOf(pool, "k1").state, "available");
});

test("4 (extra). run waits for a cooldown longer than setTimeout's limit (2^31-1 ms) instead of giving up", async () => {
  const DAY = 24 * 60 * MIN;
  // A 30-day billing backoff is a valid configuration (cooldowns up to 2^53 ms are accepted).
  const pool = new Pool({ profiles: keys(1), cooldowns: { billingBackoffMs: 30 * DAY, billingMaxMs: 30 * DAY } });
  pool.markFailure("k0", "billing");
  const ac = new AbortController();
  const reason = new Error("the caller stops waiting");
  const timer = setTimeout(() => ac.abort(reason), 300);
  let calls = 0;
  const err = await rejection(pool.run(() => calls++, { signal: ac.signal }));
  clearTimeout(timer);
  assert.equal(calls, 0);
  assert.equal(err, reason, `run should still be waiting when the caller aborts; it threw ${err?.name}: ${JSON.stringify(err?.message)}`);
});

test("5. maxWaitMs (pool-wide and per run) gives up with AllProfilesExhaustedError", async (t) => {
  await t.test("pool option: every attempt failed and the soonest recovery is beyond maxWaitMs", async () => {
    const clock = manualClock();
    const pool = new Pool({
      profiles: [
        { id: "k0", provider: "openai", model: "gpt-4o", apiKey: "key-zero-0123456789" },
        { id: "k1", provider: "openai", model: "gpt-4o-mini", apiKey: "key-one-0123456789" },
      ],
      maxWaitMs: 1000,
      clock: clock.fn,
    });
    let calls = 0;
    const err = await rejection(
      pool.run(() => {
        calls++;
        throw tooManyRequests();
      }),
    );
    assert.equal(calls, 2);
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "AllProfilesExhaustedError");
    assert.equal(err.attempts.length, 2);
    assert.deepEqual(err.attempts.map((a) => a.profileId), ["k0", "k1"]);
    assert.deepEqual(err.attempts.map((a) => a.reason), ["rate_limit", "rate_limit"]);
    assert.equal(err.retryAt, T0 + 60_000);
    assert.equal(err.retryAfterMs, 60_000);
    assert.equal(
      err.message,
      "All LLM profiles exhausted after 2 attempt(s):\n" +
        "  k0 (openai/gpt-4o): rate_limit \u2014 Too Many Requests\n" +
        "  k1 (openai/gpt-4o-mini): rate_limit \u2014 Too Many Requests",
    );
  });

  await t.test("run option: maxWaitMs 0 on a pool that would wait forever", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(2), clock: clock.fn });
    pool.markFailure("k0", "rate_limit");
    clock.now += 10_000;
    pool.markFailure("k1", "rate_limit");
    let calls = 0;
    const err = await rejection(pool.run(() => calls++, { maxWaitMs: 0 }));
    assert.equal(calls, 0);
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.deepEqual(err.attempts, []);
    assert.equal(err.retryAt, T0 + 60_000);
    assert.equal(err.retryAfterMs, 50_000);
    assert.match(err.message, /^All LLM profiles exhausted after 0 attempt\(s\):/);
  });

  await t.test("run option overrides the pool's maxWaitMs, both ways", async () => {
    const pool = new Pool({ profiles: keys(1), maxWaitMs: 0 }); // real clock
    pool.markFailure("k0", "rate_limit", { retryAfterMs: 40 });
    const res = await pool.run(() => "waited", { maxWaitMs: 5000 });
    assert.equal(res.value, "waited");
    assert.equal(res.profileId, "k0");

    const patient = new Pool({ profiles: keys(1), maxWaitMs: 60 * MIN });
    patient.markFailure("k0", "rate_limit", { retryAfterMs: 5000 });
    let calls = 0;
    const err = await rejection(patient.run(() => calls++, { maxWaitMs: 10 }));
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.equal(calls, 0);
    assert.ok(err.retryAfterMs > 10 && err.retryAfterMs <= 5000, `retryAfterMs ${err.retryAfterMs}`);
  });
});

test("6. the caller's abort propagates at once, untouched, and records no failure", async (t) => {
  await t.test("(a) abort while the task runs: run rejects with the task's rejection (signal.reason)", async () => {
    const pool = new Pool({ profiles: keys(2) });
    const ac = new AbortController();
    const reason = new Error("user cancelled");
    let calls = 0;
    const p = pool.run(
      ({ signal }) => {
        calls++;
        assert.equal(signal, ac.signal);
        return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
      },
      { signal: ac.signal },
    );
    assert.equal(statusOf(pool, "k0").inFlight, 1);
    ac.abort(reason);
    const err = await rejection(p);
    assert.equal(err, reason); // the very same object
    assert.equal(calls, 1);
    const s = pool.getStatus();
    for (const prof of s.profiles) {
      assert.equal(prof.state, "available");
      assert.equal(prof.errorCount, 0);
      assert.equal(prof.inFlight, 0);
      assert.equal(prof.lastFailure, undefined);
    }
    assert.equal(s.totalAvailable, 2);
  });

  await t.test("(a2) abort while the task runs, and the task answers anyway (an SDK's stream ends quietly on abort): run rejects with signal.reason, no success counted (was: resolved with the cut answer)", async () => {
    const pool = new Pool({ profiles: keys(1) });
    const successes = [];
    pool.on("success", (e) => successes.push(e));
    const ac = new AbortController();
    const reason = new Error("user cancelled");
    const p = pool.run(
      ({ signal }) => new Promise((resolve) => signal.addEventListener("abort", () => resolve("hel"), { once: true })),
      { signal: ac.signal },
    );
    ac.abort(reason);
    assert.equal(await rejection(p), reason);
    const k0 = statusOf(pool, "k0");
    assert.equal(k0.inFlight, 0);
    assert.equal(k0.lastSuccess, undefined);
    assert.equal(k0.errorCount, 0);
    assert.equal(pool.metrics().totals.successes, 0);
    assert.deepEqual(successes, []);
    // An answer that came before the abort is the caller's.
    const ok = await pool.run(() => "done", { signal: new AbortController().signal });
    assert.equal(ok.value, "done");
  });

  await t.test("(b) abort while waiting for a cooldown rejects promptly with signal.reason", async () => {
    const pool = new Pool({ profiles: keys(1) }); // real clock
    pool.markFailure("k0", "rate_limit"); // 60 s
    const ac = new AbortController();
    const reason = new Error("stop waiting");
    let calls = 0;
    const start = performance.now();
    setTimeout(() => ac.abort(reason), 20);
    const err = await rejection(pool.run(() => calls++, { signal: ac.signal }));
    const elapsed = performance.now() - start;
    assert.equal(err, reason);
    assert.equal(calls, 0);
    assert.ok(elapsed < 200, `abort took ${elapsed.toFixed(1)} ms`);
    assert.equal(statusOf(pool, "k0").errorCount, 1);
    assert.equal(statusOf(pool, "k0").inFlight, 0);
  });

  await t.test("(c) an already-aborted signal rejects without calling the task", async () => {
    const pool = new Pool({ profiles: keys(2) });
    const reason = new Error("too late");
    let calls = 0;
    const err = await rejection(pool.run(() => calls++, { signal: AbortSignal.abort(reason) }));
    assert.equal(err, reason);
    assert.equal(calls, 0);

    const ac = new AbortController();
    ac.abort();
    const err2 = await rejection(pool.run(() => calls++, { signal: ac.signal }));
    assert.equal(err2, ac.signal.reason);
    assert.equal(err2.name, "AbortError");
    assert.equal(calls, 0);
    assert.ok(pool.getStatus().profiles.every((p) => p.inFlight === 0 && p.errorCount === 0 && p.lastUsed === undefined));
  });

  await t.test("(d) a task that ignores the signal: run rejects with signal.reason 100 ms after the abort; the lease ends with the task, with no verdict (was: run waited for the task for good)", async () => {
    const pool = new Pool({ profiles: keys(2) });
    const ac = new AbortController();
    const reason = new Error("deadline");
    let finish;
    const start = performance.now();
    setTimeout(() => ac.abort(reason), 20);
    const err = await rejection(pool.run(() => new Promise((resolve) => (finish = resolve)), { signal: ac.signal }));
    const elapsed = performance.now() - start;
    assert.equal(err, reason);
    assert.ok(elapsed >= 100 && elapsed < 2000, `abort took ${elapsed.toFixed(1)} ms`);
    // The call is still in flight on k0 until the task ends; then its lease ends, and its
    // late success is not recorded (the caller gave up on it).
    assert.equal(statusOf(pool, "k0").inFlight, 1);
    finish("late");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(statusOf(pool, "k0").inFlight, 0);
    assert.equal(pool.metrics().totals.successes, 0);
    assert.equal(statusOf(pool, "k0").lastSuccess, undefined);
    // A task that listens to the signal still has its own error propagate, untouched.
    const ac2 = new AbortController();
    const own = new Error("the SDK's abort error");
    const p = pool.run(({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => setTimeout(() => reject(own), 30))), { signal: ac2.signal });
    ac2.abort(new Error("reason"));
    assert.equal(await rejection(p), own);
  });

  await t.test("(e) a reason of null is the reason, as fetch's: already aborted, during a task that ignores it, during a wait (was: an AbortError in its place)", async () => {
    const pool = new Pool({ profiles: keys(1) });
    const nullAbort = () => {
      const ac = new AbortController();
      ac.abort(null);
      return ac.signal;
    };
    let called = false;
    assert.equal(await rejection(pool.run(() => (called = true), { signal: nullAbort() })), null);
    assert.equal(called, false);
    const ac = new AbortController();
    const during = pool.run(() => new Promise(() => {}), { signal: ac.signal });
    ac.abort(null);
    assert.equal(await rejection(during), null);
    pool.markFailure("k0", "rate_limit");
    const ac2 = new AbortController();
    const waiting = pool.run(() => "never", { signal: ac2.signal });
    await tick();
    ac2.abort(null);
    assert.equal(await rejection(waiting), null);
  });
});

test("8. provider preference, then other providers, then fallback models", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: [
      { id: "o0", provider: "openai", model: "gpt-4o", apiKey: "openai-key-0-abcdefgh" },
      { id: "a0", provider: "anthropic", model: "claude-sonnet", apiKey: "anthropic-key-0-abcdefgh" },
      { id: "a1", provider: "anthropic", model: "claude-sonnet", apiKey: "anthropic-key-1-abcdefgh" },
      { id: "o1", provider: "openai", model: "gpt-4o", apiKey: "openai-key-1-abcdefgh" },
    ],
    fallbackModels: [
      { provider: "anthropic", model: "claude-haiku" }, // borrows a0's key
      { provider: "mistral", model: "mistral-small" }, // no key, no mistral profile: skipped
      { provider: "google", model: "gemini-flash", apiKey: "google-key-abcdefgh" },
    ],
    clock: clock.fn,
  });
  const ids = pool.getStatus().profiles.map((p) => p.id);
  assert.deepEqual(ids, ["o0", "a0", "a1", "o1", "fallback-anthropic-claude-haiku", "fallback-google-gemini-flash"]);
  assert.throws(() => pool.isInCooldown("fallback-mistral-mistral-small"), RangeError);

  const ctxs = [];
  const task = (ctx) => {
    ctxs.push(ctx);
    return ctx.profileId;
  };
  const pick = async () => (await pool.run(task, { provider: "anthropic" })).profileId;

  assert.equal(await pick(), "a0");
  assert.equal(await pick(), "a1");
  assert.equal(await pick(), "a0");

  pool.markFailure("a0", "rate_limit");
  pool.markFailure("a1", "rate_limit");
  assert.equal(await pick(), "o0");
  assert.equal(await pick(), "o1");

  pool.markFailure("o0", "rate_limit");
  pool.markFailure("o1", "rate_limit");
  const fb = await pool.run(task, { provider: "anthropic" });
  assert.equal(fb.profileId, "fallback-anthropic-claude-haiku");
  assert.equal(fb.provider, "anthropic");
  assert.equal(fb.model, "claude-haiku");
  const fbCtx = ctxs.at(-1);
  assert.equal(fbCtx.model, "claude-haiku");
  assert.equal(fbCtx.apiKey, "anthropic-key-0-abcdefgh"); // borrowed from the first anthropic profile
  const fbStatus = statusOf(pool, "fallback-anthropic-claude-haiku");
  assert.deepEqual([fbStatus.provider, fbStatus.model], ["anthropic", "claude-haiku"]);

  pool.markFailure("fallback-anthropic-claude-haiku", "rate_limit");
  const g = await pool.run(task, { provider: "anthropic" });
  assert.equal(g.profileId, "fallback-google-gemini-flash");
  assert.equal(ctxs.at(-1).apiKey, "google-key-abcdefgh");
  assert.equal(ctxs.at(-1).model, "gemini-flash");

  // Once the preferred provider's keys recover, they win again.
  clock.now += 60_001;
  assert.equal(await pick(), "a1");
});

test("9. round-robin: sequential runs go k0, k1, k2, k0, ... (least recently picked first)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn });
  const order = [];
  for (let i = 0; i < 7; i++) {
    const res = await pool.run(({ profileId }) => profileId);
    order.push(res.profileId);
    clock.now += 1000;
  }
  assert.deepEqual(order, ["k0", "k1", "k2", "k0", "k1", "k2", "k0"]);

  // k1 fails (503) and cools down: the run falls over to k2, then k0 and k2 take turns.
  const order2 = [];
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k1") throw httpError(503, "Service Unavailable");
    return profileId;
  });
  assert.equal(res.profileId, "k2");
  assert.deepEqual(res.attempts.map((a) => [a.profileId, a.reason]), [["k1", "server_error"]]);
  for (let i = 0; i < 3; i++) order2.push((await pool.run(({ profileId }) => profileId)).profileId);
  assert.deepEqual(order2, ["k0", "k2", "k0"]);
});

test("with a clock that stands still, a 429 after clearCooldown or markSuccess rests the key again (was: taken for the cleared rest's incident seen late: no rest, and the run called the key 32 times)", async () => {
  const clock = manualClock(); // never moves
  const pool = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
  const rests = [];
  pool.on("cooldown", (e) => rests.push(e.cooldownMs));
  const limited = () => Promise.reject(tooManyRequests());
  const first = await rejection(pool.run(limited));
  assert.equal(first.attempts.length, 1);
  for (const end of [() => pool.clearCooldown("k0"), () => pool.markSuccess("k0")]) {
    end();
    assert.equal(statusOf(pool, "k0").state, "available");
    const again = await rejection(pool.run(limited));
    assert.equal(again.name, "AllProfilesExhaustedError");
    assert.equal(again.attempts.length, 1, "one call, then the key rests"); // was 32
    assert.equal(statusOf(pool, "k0").state, "cooldown");
  }
  assert.equal(rests.length, 3);
});

test("with a clock that stands still, a 429 after a rest of 0 ms (Retry-After: 0) rests the key (was: taken for that rest's incident seen late: no rest, and the run called the key 32 times)", async (t) => {
  await t.test("after markFailure with retryAfterMs: 0", async () => {
    const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, maxWaitMs: 0 });
    pool.markFailure("k0", "rate_limit", { retryAfterMs: 0 });
    assert.equal(statusOf(pool, "k0").state, "available", "a rest of 0 ms is none");
    let calls = 0;
    const err = await rejection(pool.run(() => (calls++, Promise.reject(tooManyRequests()))));
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.equal(calls, 1, "one call, then the key rests"); // was 32
    const s = statusOf(pool, "k0");
    assert.equal(s.state, "cooldown");
    assert.equal(s.errorCount, 2);
    assert.equal(s.remainingMs, 5 * MIN, "the second step of the schedule");
  });
  await t.test("within one run: a FailoverError with retryAfterMs: 0, then a 429", async () => {
    const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, maxWaitMs: 0 });
    const reasons = [];
    const err = await rejection(
      pool.run(() => {
        reasons.push(reasons.length === 0 ? "zero" : "429");
        return Promise.reject(reasons.length === 1 ? new FailoverError("busy", { reason: "rate_limit", retryAfterMs: 0 }) : tooManyRequests());
      }),
    );
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.deepEqual(reasons, ["zero", "429"]); // was 32 calls
    assert.equal(statusOf(pool, "k0").state, "cooldown");
  });
});

test("a reason that rests nothing ({ rotate: true, schedule: 'none' }): a run tries each key once, then gives up (was: the same keys again, up to 32 calls with one key)", async (t) => {
  const failing = (seen) => ({ profileId }) => {
    seen.push(profileId);
    return Promise.reject(httpError(500, "Internal Server Error"));
  };
  const policy = { server_error: { rotate: true, schedule: "none" } };

  await t.test("one key: one call", async () => {
    const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, policy });
    const seen = [];
    const err = await rejection(pool.run(failing(seen)));
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.deepEqual(seen, ["k0"]);
    assert.equal(err.retryAt, undefined, "nothing rests: no time to come back at");
    assert.equal(statusOf(pool, "k0").state, "available");
    // The next run calls it again: the exclusion is the run's, not the pool's.
    const ok = await pool.run(({ profileId }) => profileId);
    assert.equal(ok.value, "k0");
  });

  await t.test("the preferred provider's key, then the other provider's, then the fallback model, each once", async () => {
    const profiles = [
      { id: "oa", provider: "openai", apiKey: "key-openai-0-0123456789" },
      { id: "an0", provider: "anthropic", apiKey: "key-anthropic-0-0123456789" },
      { id: "an1", provider: "anthropic", apiKey: "key-anthropic-1-0123456789" },
    ];
    const pool = new Pool({ profiles, fallbackModels: [{ provider: "openai", model: "gpt-4o-mini" }], clock: manualClock().fn, policy });
    const seen = [];
    const err = await rejection(pool.run(failing(seen), { provider: "openai" }));
    assert.equal(err.name, "AllProfilesExhaustedError");
    assert.deepEqual(seen, ["oa", "an0", "an1", "fallback-openai-gpt-4o-mini"]);
  });

  await t.test("a key that recovers from a rest is tried again; one that failed with no rest is not", async () => {
    const clock = manualClock();
    const warnings = [];
    const pool = new Pool({ profiles: keys(2), clock: clock.fn, policy, logger: { warn: (m) => warnings.push(m) } });
    const seen = [];
    const run = pool.run(({ profileId }) => {
      seen.push(profileId);
      if (profileId === "k0") return Promise.reject(httpError(500, "boom")); // rests nothing
      if (seen.length === 2) return Promise.reject(tooManyRequests()); // k1 rests 1 min
      return "ok";
    });
    await tick(30); // the run waits for k1's rest: one wait of a minute (k0 is not waited for)
    assert.deepEqual(
      warnings.filter((m) => m.includes("waiting")),
      ["[key-carousel] All profiles in cooldown, waiting 60s"],
    );
    clock.now += MIN;
    pool.clearCooldown("k1"); // wakes it
    const res = await run;
    assert.deepEqual(seen, ["k0", "k1", "k1"]);
    assert.equal(res.profileId, "k1");
  });

  await t.test("the other keys rest longer than maxWaitMs: retryAt is theirs", async () => {
    const pool = new Pool({ profiles: keys(2), clock: manualClock().fn, policy, maxWaitMs: 1000 });
    pool.markFailure("k1", "rate_limit");
    const err = await rejection(pool.run(() => Promise.reject(httpError(500, "boom"))));
    assert.equal(err.attempts.length, 1);
    assert.equal(err.retryAfterMs, MIN);
    assert.equal(err.retryAt, statusOf(pool, "k1").cooldownUntil);
  });

  await t.test("a session moves off its failed key and does not come back to it within the run", async () => {
    const pool = new Pool({ profiles: keys(3), clock: manualClock().fn, policy });
    const first = await pool.run(({ profileId }) => profileId, { session: "s" });
    const seen = [];
    const err = await rejection(pool.run(failing(seen), { session: "s" }));
    assert.equal(err.attempts.length, 3);
    assert.equal(seen[0], first.value);
    assert.equal(new Set(seen).size, 3);
  });

  await t.test("a model-scoped reason with no rest: the same", async () => {
    const pool = new Pool({ profiles: keys(2), clock: manualClock().fn, policy: { model_not_found: { rotate: true, schedule: "none", scope: "model" } } });
    const seen = [];
    const err = await rejection(
      pool.run(({ profileId }) => {
        seen.push(profileId);
        return Promise.reject(httpError(404, "model not found"));
      }, { model: "gpt-x" }),
    );
    assert.equal(err.name, "AllProfilesExhaustedError");
    assert.deepEqual(seen, ["k0", "k1"]);
  });
});
