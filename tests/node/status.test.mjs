// Cooldown schedules, disabled profiles, FailoverError, Retry-After headers, markSuccess/clearCooldown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, FailoverError, AllProfilesExhaustedError } from "key-carousel";
import { T0, SEC, MIN, HOUR, keys, manualClock, statusOf, httpError, rejection } from "./helpers.mjs";

test("2. cooldowns expire on the clock and climb the transient schedule; the failure window resets it", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });

  pool.markFailure("k0", "rate_limit");
  let k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "cooldown");
  assert.equal(k0.cooldownUntil, T0 + 60_000);
  assert.equal(k0.remainingMs, 60_000);

  clock.now = T0 + 59_999;
  assert.equal(pool.isInCooldown("k0"), true);
  assert.equal(statusOf(pool, "k0").remainingMs, 1);
  clock.now = T0 + 60_001;
  assert.equal(pool.isInCooldown("k0"), false);
  k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "available");
  assert.equal(k0.cooldownUntil, undefined);
  assert.equal(k0.remainingMs, 0);
  assert.equal(k0.errorCount, 1);

  // Each failure after the previous cooldown ended, within the 24 h window, climbs one step.
  const expected = [5 * MIN, 25 * MIN, HOUR, HOUR];
  expected.forEach((ms, i) => {
    pool.markFailure("k0", "rate_limit");
    const s = statusOf(pool, "k0");
    assert.equal(s.errorCount, i + 2, `errorCount after failure ${i + 2}`);
    assert.equal(s.cooldownUntil - clock.now, ms, `cooldown after failure ${i + 2}`);
    clock.now = s.cooldownUntil + 1;
  });

  // A failure more than 24 h after the last one starts over at 1 min.
  const lastFailure = statusOf(pool, "k0").lastFailure;
  clock.now = lastFailure + 24 * HOUR + 1;
  pool.markFailure("k0", "rate_limit");
  k0 = statusOf(pool, "k0");
  assert.equal(k0.errorCount, 1);
  assert.equal(k0.cooldownUntil - clock.now, 60_000);
  // The other key was never touched.
  assert.equal(statusOf(pool, "k1").errorCount, 0);
});

test("3. billing (402) disables a key for 5 h, counted as disabled not in cooldown; next time 10 h", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn });
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(402, "Payment Required");
    return profileId;
  });
  assert.equal(res.profileId, "k1");
  assert.equal(res.attempts[0].reason, "billing");
  assert.equal(res.attempts[0].cooldownMs, 5 * HOUR);

  let k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "disabled");
  assert.equal(k0.reason, "billing");
  assert.equal(k0.cooldownUntil, T0 + 5 * HOUR);
  assert.equal(k0.errorCount, 1);
  assert.equal(pool.isInCooldown("k0"), true);

  pool.markFailure("k1", "rate_limit");
  const s = pool.getStatus();
  assert.equal(statusOf(pool, "k1").state, "cooldown");
  assert.equal(s.totalAvailable, 1);
  assert.equal(s.totalInCooldown, 1, "disabled profiles are not counted in totalInCooldown");
  assert.equal(s.totalDisabled, 1);

  clock.now = T0 + 5 * HOUR + 1;
  assert.equal(statusOf(pool, "k0").state, "available");
  pool.markFailure("k0", "billing");
  k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "disabled");
  assert.equal(k0.errorCount, 2);
  assert.equal(k0.cooldownUntil - clock.now, 10 * HOUR);
});

test("7. a FailoverError thrown by the task carries its reason and retryAfterMs", async (t) => {
  await t.test("reason billing disables the profile", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(2), clock: clock.fn });
    const res = await pool.run(({ profileId }) => {
      if (profileId === "k0") throw new FailoverError("x", { reason: "billing" });
      return "ok";
    });
    assert.equal(res.profileId, "k1");
    assert.deepEqual(
      res.attempts.map((a) => [a.profileId, a.reason, a.error]),
      [["k0", "billing", "x"]],
    );
    const k0 = statusOf(pool, "k0");
    assert.equal(k0.state, "disabled");
    assert.equal(k0.cooldownUntil, T0 + 5 * HOUR);
  });

  await t.test("retryAfterMs replaces the schedule's step", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(2), clock: clock.fn });
    const res = await pool.run(({ profileId }) => {
      if (profileId === "k0") throw new FailoverError("slow down", { reason: "rate_limit", retryAfterMs: 1234 });
      return "ok";
    });
    assert.equal(res.profileId, "k1");
    assert.equal(res.attempts[0].reason, "rate_limit");
    assert.equal(res.attempts[0].cooldownMs, 1234);
    assert.equal(res.attempts[0].retryAfterMs, 1234);
    const k0 = statusOf(pool, "k0");
    assert.equal(k0.state, "cooldown");
    assert.equal(k0.cooldownUntil, T0 + 1234);
  });
});

/** Runs a 2-key pool whose first key throws `err`; returns what the user sees about k0. */
async function cooldownAfter(err) {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw err;
    return "ok";
  });
  assert.equal(res.profileId, "k1");
  assert.equal(res.attempts.length, 1);
  const k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "cooldown");
  return { until: k0.cooldownUntil - T0, attempt: res.attempts[0] };
}
const e429 = (headers) => httpError(429, "Too Many Requests", { headers });

test("13. Retry-After and rate-limit reset headers set the cooldown (clamped to the cap)", async (t) => {
  await t.test("retry-after: 7 as Headers, plain object and Map", async () => {
    for (const headers of [
      new Headers({ "retry-after": "7" }),
      { "retry-after": "7" },
      new Map([["retry-after", "7"]]),
    ]) {
      const kind = headers.constructor.name;
      const { until, attempt } = await cooldownAfter(e429(headers));
      assert.equal(until, 7 * SEC, `${kind}: cooldownUntil - now`);
      assert.equal(attempt.cooldownMs, 7 * SEC, `${kind}: attempts[0].cooldownMs`);
      assert.equal(attempt.retryAfterMs, 7 * SEC, `${kind}: attempts[0].retryAfterMs`);
      assert.equal(attempt.reason, "rate_limit");
    }
  });

  await t.test("retry-after-ms: 1500", async () => {
    const { until, attempt } = await cooldownAfter(e429({ "retry-after-ms": "1500" }));
    assert.equal(until, 1500);
    assert.equal(attempt.cooldownMs, 1500);
  });

  await t.test("a wait under 1 s (retry-after: 0, a date already past, retry-after-ms: 20, a reset in 12ms) rests the key 1 s", async () => {
    const past = new Date(T0 - 30 * SEC).toUTCString();
    for (const headers of [{ "retry-after": "0" }, { "retry-after": past }, { "retry-after-ms": "20" }, { "x-ratelimit-reset-requests": "12ms", "x-ratelimit-reset-tokens": "20ms" }]) {
      const { until, attempt } = await cooldownAfter(e429(headers));
      assert.equal(until, SEC, JSON.stringify(headers));
      assert.equal(attempt.retryAfterMs, SEC);
    }
    // One key: a run does not call it again at once, 429 after 429, up its schedule (it was
    // 32 calls in one run, the error count 32, the next plain 429 an hour's rest).
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
    let calls = 0;
    const err = await rejection(pool.run(() => {
      calls++;
      throw e429({ "retry-after": "0" });
    }));
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.equal(calls, 1);
    assert.equal(err.retryAfterMs, SEC);
    assert.equal(statusOf(pool, "k0").errorCount, 1);
    // A FailoverError's own retryAfterMs is the caller's: taken as it is.
    const own = await cooldownAfter(new FailoverError("slow down", { reason: "rate_limit", retryAfterMs: 250 }));
    assert.equal(own.until, 250);
  });

  await t.test("x-ratelimit-reset-requests: 6m0s", async () => {
    const { until, attempt } = await cooldownAfter(e429({ "x-ratelimit-reset-requests": "6m0s" }));
    assert.equal(until, 6 * MIN);
    assert.equal(attempt.cooldownMs, 6 * MIN);
  });

  await t.test("x-ratelimit-*: the later reset of the limits used up, else the later of all", async () => {
    const both = { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s" };
    assert.equal((await cooldownAfter(e429(both))).until, 30 * SEC, "both used up: the key is back when both are");
    const tokens = { ...both, "x-ratelimit-remaining-requests": "5" };
    assert.equal((await cooldownAfter(e429(tokens))).until, 30 * SEC);
    const requests = { ...both, "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "45s" };
    assert.equal((await cooldownAfter(e429(requests))).until, SEC, "only the request limit used up: its reset");
    const neither = { ...requests, "x-ratelimit-remaining-requests": "5" };
    assert.equal((await cooldownAfter(e429(neither))).until, 45 * SEC, "neither used up: the later reset");
    // A server error's rest is the schedule's, whatever the rate-limit headers say.
    const { until } = await cooldownAfter(httpError(500, "Internal Server Error", { headers: both }));
    assert.equal(until, MIN);
  });

  await t.test("x-ratelimit-reset-* of any limit (was: only -requests and -tokens), in Headers, a plain object and a Map", async () => {
    const perLimit = {
      "X-RateLimit-Remaining-Tokens-Minute": "0",
      "X-RateLimit-Reset-Tokens-Minute": "11.5",
      "x-ratelimit-remaining-requests-day": "14000",
      "x-ratelimit-reset-requests-day": "33011",
    };
    for (const headers of [new Headers(perLimit), perLimit, new Map(Object.entries(perLimit))]) {
      const kind = headers.constructor.name;
      assert.equal((await cooldownAfter(e429(headers))).until, 11.5 * SEC, `${kind}: the minute's token limit, used up`);
    }
    assert.equal((await cooldownAfter(e429({ "x-ratelimit-reset-input-tokens": "5s" }))).until, 5 * SEC);
    // A bare x-ratelimit-reset is a time since the epoch for some providers: not read.
    assert.equal((await cooldownAfter(e429({ "x-ratelimit-reset": "5" }))).until, MIN);
  });

  await t.test("headers on a cause as deep as classification reads (was: the first cause only)", async () => {
    const sdk = e429({ "retry-after": "17" });
    const wrap = (cause) => new Error("the agent's step failed", { cause });
    for (const [depth, err] of [[1, wrap(sdk)], [2, wrap(wrap(sdk))], [4, wrap(wrap(wrap(wrap(sdk))))]]) {
      const { until, attempt } = await cooldownAfter(err);
      assert.equal(attempt.reason, "rate_limit", `depth ${depth}`);
      assert.equal(until, 17 * SEC, `depth ${depth}: the SDK error's retry-after`);
      assert.equal(attempt.retryAfterMs, 17 * SEC, `depth ${depth}`);
    }
    // On the cause's response, as an SDK that keeps the Response has it.
    const onResponse = wrap(Object.assign(new Error("429 Too Many Requests"), { status: 429, response: { headers: new Headers({ "retry-after": "9" }) } }));
    assert.equal((await cooldownAfter(onResponse)).until, 9 * SEC);
    // A cause that is its own cause (a cycle) ends the walk.
    const cyclic = wrap(null);
    cyclic.cause = cyclic;
    cyclic.status = 429;
    assert.equal((await cooldownAfter(cyclic)).until, MIN);
  });

  await t.test("a retry-after beyond the cap is clamped to 1 h", async () => {
    const { until, attempt } = await cooldownAfter(e429({ "retry-after": "99999" }));
    assert.equal(until, HOUR);
    assert.equal(attempt.cooldownMs, HOUR);
  });

  await t.test("an HTTP-date retry-after 30 s ahead of the pool's clock", async () => {
    const date = new Date(T0 + 30 * SEC).toUTCString();
    const { until, attempt } = await cooldownAfter(e429({ "retry-after": date }));
    assert.equal(until, 30 * SEC);
    assert.equal(attempt.cooldownMs, 30 * SEC);
  });
});

test("13 (extra). header names are case-insensitive in every shape: Retry-After in a plain object and a Map", async () => {
  for (const headers of [{ "Retry-After": "7" }, new Map([["Retry-After", "7"]])]) {
    const { until, attempt } = await cooldownAfter(e429(headers));
    assert.equal(until, 7 * SEC, `${headers.constructor.name} with "Retry-After": cooldownUntil - now`);
    assert.equal(attempt.cooldownMs, 7 * SEC, `${headers.constructor.name} with "Retry-After": attempts[0].cooldownMs`);
  }
});

test("13 (extra). an HTTP-date Retry-After is a point in time: a call that took 5 s still recovers at that date", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const date = new Date(T0 + 30 * SEC).toUTCString();
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") {
      clock.now += 5 * SEC; // the request took 5 s; the provider says "come back at T0 + 30 s"
      throw e429({ "retry-after": date });
    }
    return "ok";
  });
  assert.equal(res.profileId, "k1");
  assert.equal(statusOf(pool, "k0").cooldownUntil, T0 + 30 * SEC, "k0 recovers at the date the provider gave");
  assert.equal(res.attempts[0].cooldownMs, 25 * SEC);
});

test("17. markSuccess clears the cooldown but keeps errorCount; clearCooldown clears both", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn });

  pool.markFailure("k0", "rate_limit");
  assert.equal(pool.isInCooldown("k0"), true);
  clock.now += 1000;
  pool.markSuccess("k0");
  assert.equal(pool.isInCooldown("k0"), false);
  let k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "available");
  assert.equal(k0.cooldownUntil, undefined);
  assert.equal(k0.errorCount, 1);
  assert.equal(k0.lastSuccess, T0 + 1000);
  assert.equal(k0.lastUsed, T0 + 1000);
  // The kept count makes the next failure the second step.
  pool.markFailure("k0", "rate_limit");
  assert.equal(statusOf(pool, "k0").cooldownUntil - clock.now, 5 * MIN);
  assert.equal(statusOf(pool, "k0").errorCount, 2);

  pool.clearCooldown("k0");
  assert.equal(pool.isInCooldown("k0"), false);
  k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "available");
  assert.equal(k0.errorCount, 0);
  assert.equal(pool.getStatus().totalAvailable, 1);
  // A fresh start: the next failure is the first step again.
  pool.markFailure("k0", "rate_limit");
  assert.equal(statusOf(pool, "k0").cooldownUntil - clock.now, MIN);
  assert.equal(statusOf(pool, "k0").errorCount, 1);
});
