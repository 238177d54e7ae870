// Events (pool.on/off), metrics() and "next available" times (retryAt, nextAvailableAt).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, AllProfilesExhaustedError, FailoverError, memoryStore } from "key-carousel";
import { T0, MIN, HOUR, keys, manualClock, rejection, statusOf, httpError, tooManyRequests, tick } from "./helpers.mjs";

const EVENTS = ["cooldown", "recover", "disabled", "success", "failure", "exhausted", "persist-error"];

/** Records every event of `pool` as [type, payload]. */
function record(pool) {
  const seen = [];
  for (const type of EVENTS) pool.on(type, (e) => seen.push([type, e]));
  return seen;
}

test("events: cooldown, failure and success of a run, with plain objects", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const seen = record(pool);
  await pool.run(({ profileId }) => {
    if (profileId === "k0") throw tooManyRequests();
    return "ok";
  }, { model: "gpt-4o", session: "s1" });
  assert.deepEqual(seen, [
    [
      "cooldown",
      { profileId: "k0", provider: "openai", model: "gpt-4o", scope: "model", reason: "rate_limit", until: T0 + MIN, cooldownMs: MIN, errorCount: 1 },
    ],
    ["failure", { profileId: "k0", provider: "openai", model: "gpt-4o", error: "Too Many Requests", reason: "rate_limit", cooldownMs: MIN }],
    ["success", { profileId: "k1", provider: "openai", model: "gpt-4o", attempts: 1, session: "s1" }],
  ]);
  for (const [, e] of seen) {
    assert.equal(Object.getPrototypeOf(e), Object.prototype);
    assert.ok(Object.isFrozen(e));
  }
});

test("a rest the clock steps back into recovers once (was: \"recover\" again when the clock came forward); a new rest recovers", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const seen = [];
  pool.on("recover", (e) => seen.push(`${e.profileId}${e.model ? `/${e.model}` : ""}@${e.at - T0}`));
  pool.markFailure("k0", "rate_limit", { retryAfterMs: MIN });
  pool.markFailure("k1", "rate_limit", { retryAfterMs: MIN, model: "gpt-4o" });
  clock.now = T0 + 70_000;
  pool.getStatus();
  assert.deepEqual(seen, ["k0@70000", "k1/gpt-4o@70000"]);
  clock.now = T0 + 30_000; // an NTP step back: the rests are on again
  assert.equal(pool.getStatus().profiles[0].state, "cooldown");
  clock.now = T0 + 70_000;
  pool.getStatus();
  assert.deepEqual(seen, ["k0@70000", "k1/gpt-4o@70000"], "each rest recovers once");
  // Stepped back into again, then ended early by clearCooldown: still once.
  clock.now = T0 + 30_000;
  pool.clearCooldown("k0");
  assert.deepEqual(seen, ["k0@70000", "k1/gpt-4o@70000"]);
  // A new rest is a new recovery.
  pool.markFailure("k0", "server_error", { retryAfterMs: 1000 });
  clock.now = T0 + 31_000;
  pool.getStatus();
  assert.deepEqual(seen, ["k0@70000", "k1/gpt-4o@70000", "k0@31000"]);
});

test("events: disabled for a long rest; recover when a run or the status first sees it over", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const seen = record(pool);
  pool.markFailure("k0", "billing");
  pool.markFailure("k1", "rate_limit", { model: "gpt-4o" });
  assert.deepEqual(seen.map(([t, e]) => [t, e.profileId, e.scope, e.reason, e.until]), [
    ["disabled", "k0", "key", "billing", T0 + 5 * HOUR],
    ["cooldown", "k1", "model", "rate_limit", T0 + MIN],
  ]);
  seen.length = 0;
  clock.now = T0 + MIN;
  assert.deepEqual(seen, []); // nothing looked yet: rests end on the clock, not on a timer
  pool.getStatus();
  assert.deepEqual(seen, [["recover", { profileId: "k1", provider: "openai", model: "gpt-4o", scope: "model", reason: "rate_limit", at: T0 + MIN }]]);
  pool.getStatus();
  assert.equal(seen.length, 1, "each rest recovers once");
  seen.length = 0;
  clock.now = T0 + 5 * HOUR;
  await pool.run(() => 1);
  assert.deepEqual(seen[0], ["recover", { profileId: "k0", provider: "openai", model: undefined, scope: "key", reason: "billing", at: T0 + 5 * HOUR }]);
  // Ended early: clearCooldown. The key's own rest was for server_error (its rest for
  // gpt-4o, over already, was for rate_limit).
  pool.markFailure("k1", "server_error");
  seen.length = 0;
  pool.clearCooldown("k1");
  assert.deepEqual(seen.map(([t, e]) => [t, e.profileId, e.scope, e.reason]), [["recover", "k1", "key", "server_error"]]);
  // Ended early: a success on the model the rest was for.
  pool.markFailure("k0", "timeout", { model: "gpt-4o" });
  seen.length = 0;
  pool.markSuccess("k0", { model: "gpt-4o" });
  assert.deepEqual(seen.map(([t, e]) => [t, e.profileId, e.scope, e.model, e.reason]), [["recover", "k0", "model", "gpt-4o", "timeout"]]);
});

test("events: exhausted, with retryAt; off removes a listener; unknown events are TypeErrors", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
  const exhausted = [];
  const listener = (e) => exhausted.push(e);
  pool.on("exhausted", listener);
  pool.markFailure("k0", "rate_limit");
  await rejection(pool.run(() => 1, { provider: "openai", label: "chat" }));
  assert.deepEqual(exhausted, [{ attempts: 0, label: "chat", provider: "openai", retryAt: T0 + MIN, retryAfterMs: MIN }]);
  assert.equal(pool.off("exhausted", listener), pool);
  await rejection(pool.run(() => 1));
  assert.equal(exhausted.length, 1);
  assert.throws(() => pool.on("cooled", () => {}), TypeError);
  assert.throws(() => pool.on("cooldown", "not a function"), TypeError);
  // Not a string: the TypeError says what it is, without calling its toString (which may
  // throw, or return a key) (was: String(type), so a throwing toString escaped).
  const hostile = { toString: () => { throw new Error("toString ran"); } };
  assert.throws(() => pool.on(hostile, () => {}), { name: "TypeError", message: /unknown event \(not a name: object\)/ });
  assert.throws(() => pool.off(null, () => {}), { name: "TypeError", message: /unknown event \(not a name: null\)/ });
});

test("events: a listener that throws or rejects is logged and breaks nothing", async () => {
  const errors = [];
  const pool = new Pool({ profiles: keys(2), clock: manualClock().fn, logger: { error: (m) => errors.push(m) } });
  const later = [];
  pool.on("failure", () => {
    throw new Error("listener bug");
  });
  pool.on("failure", async () => {
    throw new Error("async listener bug");
  });
  pool.on("failure", (e) => later.push(e.profileId));
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(500, "Internal error");
    return profileId;
  });
  assert.equal(res.value, "k1");
  assert.deepEqual(later, ["k0"]);
  await tick();
  assert.deepEqual(errors, [
    'key-carousel: a "failure" listener threw: listener bug',
    'key-carousel: a "failure" listener threw: async listener bug',
  ]);
  assert.equal(statusOf(pool, "k0").state, "cooldown");
});

test("events: a listener that throws a value with no string form (Object.create(null), a throwing toString) is logged and breaks nothing", async () => {
  const errors = [];
  const pool = new Pool({ profiles: keys(2), clock: manualClock().fn, logger: { error: (m) => errors.push(m) } });
  const later = [];
  const unprintable = Object.create(null);
  pool.on("failure", () => {
    throw unprintable;
  });
  pool.on("failure", () => Promise.reject({ toString: () => { throw new Error("no"); } })); // eslint-disable-line prefer-promise-reject-errors
  pool.on("failure", (e) => later.push(e.profileId));
  pool.on("success", () => {
    throw unprintable;
  });
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw tooManyRequests();
    return profileId;
  });
  assert.equal(res.value, "k1"); // was: the run rejected with "Cannot convert object to primitive value"
  assert.deepEqual(later, ["k0"]);
  await tick();
  assert.deepEqual(errors, [
    'key-carousel: a "failure" listener threw: ',
    'key-carousel: a "failure" listener threw: ',
    'key-carousel: a "success" listener threw: ',
  ]);
});

test("events: a rest of 0 ms (retryAfterMs: 0, a cap of 0) is no rest: no cooldown event, not counted, no recover owed", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, cooldowns: { maxRateLimitCooldownMs: 0 } });
  const seen = record(pool);
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 0 });
  pool.markFailure("k1", "rate_limit"); // the schedule's 1 min, capped to 0
  assert.deepEqual(seen.map(([type]) => type), []);
  const [m0, m1] = pool.metrics().profiles;
  assert.deepEqual([m0.cooldowns, m1.cooldowns], [0, 0]);
  assert.deepEqual([m0.failures.rate_limit, m1.failures.rate_limit], [1, 1]); // the failures still count
  assert.equal(statusOf(pool, "k0").state, "available");
  clock.now += HOUR;
  pool.getStatus();
  assert.deepEqual(seen, []);
});

test("retryAfterMs: 0 with the default cap is a rest of 0 ms (the provider's word), not the schedule's minute", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const seen = record(pool);
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 0 });
  assert.equal(statusOf(pool, "k0").state, "available");
  assert.deepEqual(seen.map(([type]) => type), []);
  // A task's own "retry after 0 ms": the next attempt may take the same key at once. (A
  // provider's `retry-after: 0` header is raised to 1 s: see status.test.mjs.)
  pool.markFailure("k1", "rate_limit"); // k1 rests its minute: only k0 is left
  let calls = 0;
  const res = await pool.run(async ({ profileId }) => {
    if (calls++ === 0) throw new FailoverError("429", { reason: "rate_limit", retryAfterMs: 0 });
    return profileId;
  });
  assert.equal(res.value, "k0");
  assert.equal(res.attempts.length, 1);
  const k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "available");
  // Counted, though the clock stands still: a rest of 0 ms begins no incident, so this
  // failure is not the markFailure's seen late.
  assert.equal(k0.errorCount, 2);
  assert.deepEqual(seen.map(([type, e]) => `${type} ${e.profileId}`), ["cooldown k1", "failure k0", "success k0"], "no cooldown of k0: its rest of 0 ms is none");
});

test("events: markFailure's cooldown names the model as run's does (\"unknown\" when neither the profile nor the call names one)", async () => {
  const pool = new Pool({ profiles: keys(3), clock: manualClock().fn });
  const seen = record(pool);
  pool.markFailure("k0", "rate_limit");
  await pool.run(({ profileId }) => {
    if (profileId === "k1") throw tooManyRequests();
    return profileId;
  });
  const models = seen.filter(([type]) => type === "cooldown").map(([, e]) => [e.profileId, e.model]);
  assert.deepEqual(models, [["k0", "unknown"], ["k1", "unknown"]]);
});

test("events: no payload ever holds a key, even when the error text does", async () => {
  const secret = "sk-live-abcdefghijklmnopqrstuvwxyz012345";
  const clock = manualClock();
  const failingStore = { name: "flaky", load: () => null, save: () => Promise.reject(new Error(`cannot save with ${secret}`)) };
  const pool = new Pool({
    profiles: [{ id: "a", provider: "openai", apiKey: secret }, ...keys(1)],
    clock: clock.fn,
    storage: failingStore,
    saveIntervalMs: 10_000,
    logger: {},
  });
  const seen = record(pool);
  await pool.run(({ apiKey }) => {
    if (apiKey === secret) throw httpError(401, `Incorrect API key provided: ${secret}`);
    return 1;
  });
  await pool.flush().catch(() => {});
  clock.now += 2 * MIN;
  pool.getStatus();
  assert.deepEqual([...new Set(seen.map(([t]) => t))].sort(), ["cooldown", "failure", "persist-error", "recover", "success"]);
  const text = JSON.stringify(seen);
  assert.ok(!text.includes(secret), text);
  assert.ok(!text.includes("abcdefghijkl"), text);
  const persist = seen.find(([t]) => t === "persist-error")[1];
  assert.equal(persist.store, "flaky");
  assert.equal(persist.operation, "save");
  assert.match(persist.error, /^cannot save with \[redacted\]$/);
  assert.ok(persist.attempt >= 1);
  await pool.close().catch(() => {});
});

test("metrics: successes, failures by reason, cooldowns, in-flight and exhausted runs", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, maxWaitMs: 0 });
  const fresh = pool.metrics();
  assert.deepEqual(fresh.totals, { successes: 0, failures: 0, cooldowns: 0, inFlight: 0, exhausted: 0 });
  assert.deepEqual(Object.keys(fresh.profiles[0].failures).length, 9);
  for (let i = 0; i < 4; i++) await pool.run(() => 1);
  await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(500, "boom");
    return 1;
  });
  pool.markFailure("k1", "rate_limit"); // rests k1 too
  pool.markFailure("k1", "rate_limit"); // during the rest: counted, no new rest
  await rejection(pool.run(() => 1));
  clock.now = T0 + MIN + 1; // both rests are over
  let release;
  const running = pool.run(() => new Promise((r) => (release = r)));
  const pending = pool.run(() => new Promise(() => {}));
  void pending;
  await tick();
  const m = pool.metrics();
  const k0 = m.profiles.find((p) => p.id === "k0");
  const k1 = m.profiles.find((p) => p.id === "k1");
  assert.equal(k0.successes, 2);
  assert.equal(k1.successes, 3);
  assert.equal(k0.failures.server_error, 1);
  assert.equal(k1.failures.rate_limit, 2);
  assert.equal(k0.failuresTotal + k1.failuresTotal, 3);
  assert.equal(k0.cooldowns, 1);
  assert.equal(k1.cooldowns, 1);
  assert.equal(m.totals.exhausted, 1);
  assert.equal(m.totals.inFlight, 2);
  assert.equal(k0.inFlight + k1.inFlight, 2);
  assert.equal(JSON.stringify(m).includes("key-openai"), false);
  release(1);
  await running;
  assert.equal(pool.metrics().totals.inFlight, 1);
});

test("next available: retryAt when the attempts ran out while keys rest; nothing when nothing rests", async () => {
  const clock = manualClock();
  // Every attempt fails with a 429 on a 1-key pool; after each failure but the last the
  // clock jumps to the end of the rest, so the run goes on at once.
  const pool = new Pool({ profiles: keys(1), clock: clock.fn });
  let calls = 0;
  pool.on("cooldown", (e) => {
    if (calls < 32) clock.now = e.until;
  });
  const err = await rejection(
    pool.run(() => {
      calls++;
      throw tooManyRequests();
    }),
  );
  assert.ok(err instanceof AllProfilesExhaustedError);
  assert.equal(calls, 32);
  const k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "cooldown");
  assert.equal(err.retryAt, k0.cooldownUntil);
  assert.equal(err.retryAfterMs, k0.remainingMs);
  assert.equal(err.retryAfterMs, HOUR); // the 32nd failure in a row: the cap

  // Failures that rest nothing (a policy without a schedule): no retryAt.
  const restless = new Pool({ profiles: keys(1), clock: manualClock().fn, policy: { server_error: { schedule: "none" } } });
  const err2 = await rejection(restless.run(() => Promise.reject(httpError(500, "boom"))));
  assert.equal(err2.attempts.length, 1); // the run does not call its failed key again
  assert.equal(err2.retryAt, undefined);
  assert.equal(err2.retryAfterMs, undefined);
});

test("next available: status says when, per profile and for the pool", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 30_000 });
  let s = pool.getStatus();
  assert.equal(s.nextAvailableAt, undefined); // k1 is available
  pool.markFailure("k1", "billing");
  clock.now = T0 + 10_000;
  s = pool.getStatus();
  assert.equal(s.nextAvailableAt, T0 + 30_000);
  assert.deepEqual(s.profiles.map((p) => [p.id, p.state, p.reason, p.remainingMs]), [
    ["k0", "cooldown", "rate_limit", 20_000],
    ["k1", "disabled", "billing", 5 * HOUR - 10_000],
  ]);
});

test("recover names the rest that ended, and comes before the rest the next failure starts", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, maxWaitMs: 0 });
  const seen = [];
  for (const e of ["cooldown", "disabled", "recover"]) pool.on(e, (ev) => seen.push(`${e} ${ev.profileId} ${ev.reason}`));
  pool.markFailure("k0", "rate_limit");
  clock.now += 2 * 60_000; // the rest ends; nothing looks at the pool
  pool.markFailure("k0", "billing");
  assert.deepEqual(seen, ["cooldown k0 rate_limit", "recover k0 rate_limit", "disabled k0 billing"]);
  // Through run(): k1 rests for a 429, the clock passes its end, its next call fails with 402.
  seen.length = 0;
  pool.clearCooldown("k0");
  pool.markFailure("k0", "auth_permanent");
  seen.length = 0;
  await pool.run(() => Promise.reject(httpError(429, "Too Many Requests"))).catch(() => {});
  clock.now += 2 * 60_000;
  await pool.run(() => Promise.reject(httpError(402, "Payment required"))).catch(() => {});
  assert.deepEqual(seen, ["cooldown k1 rate_limit", "recover k1 rate_limit", "disabled k1 billing"]);
});

test("on/off('recover') with a clock that fails: the call throws and the listeners stay as they were", () => {
  let now = T0;
  const pool = new Pool({ profiles: keys(2), clock: () => now });
  const seen = [];
  const listener = (e) => seen.push(e.profileId);
  now = NaN;
  assert.throws(() => pool.on("recover", listener), RangeError);
  now = T0;
  pool.on("recover", listener); // the retry registers it once
  pool.markFailure("k0", "rate_limit");
  now = T0 + MIN;
  pool.getStatus();
  assert.deepEqual(seen, ["k0"], "one rest, one recover");
  now = NaN;
  assert.throws(() => pool.off("recover", listener), RangeError);
  now = T0 + MIN;
  pool.markFailure("k1", "rate_limit");
  now = T0 + 2 * MIN;
  pool.getStatus();
  assert.deepEqual(seen, ["k0", "k1"], "still registered after the failed off");
  pool.off("recover", listener);
  pool.markFailure("k0", "rate_limit");
  now = T0 + 4 * MIN;
  pool.getStatus();
  assert.deepEqual(seen, ["k0", "k1"]);
});

test("a logger that acts on the pool: the cooldown event still comes before what the logger caused", () => {
  const clock = manualClock();
  let pool;
  const logger = {
    info: (m) => {
      if (m.includes("in cooldown")) pool.clearCooldown("k0");
    },
    warn() {},
    error() {},
  };
  pool = new Pool({ profiles: keys(2), clock: clock.fn, logger });
  const events = [];
  pool.on("cooldown", (e) => events.push(`cooldown ${e.profileId}`));
  pool.on("recover", (e) => events.push(`recover ${e.profileId}`));
  pool.markFailure("k0", "rate_limit");
  assert.deepEqual(events, ["cooldown k0", "recover k0"]);
  assert.equal(statusOf(pool, "k0").state, "available");
});

/**
 * Pools a and b on one store: b rests k0 (rate_limit) and writes it; a reads it and, a
 * second later, clears it; a second after that, `bWrites(b)` changes b, whose write merges
 * the clear in. Returns b's "recover" events (and the pools, to close).
 */
async function restEndedByAnother(bWrites) {
  const clock = manualClock();
  const store = memoryStore();
  const a = new Pool({ profiles: keys(2), storage: store, clock: clock.fn });
  const b = new Pool({ profiles: keys(2), storage: store, clock: clock.fn });
  await a.init();
  await b.init();
  const recovered = [];
  b.on("recover", (e) => recovered.push(e));
  b.markFailure("k0", "rate_limit");
  await b.flush();
  await a.init(); // reads b's rest
  clock.now += 1000;
  a.clearCooldown("k0");
  await a.flush();
  clock.now += 1000;
  bWrites(b);
  await b.flush();
  return { a, b, clock, recovered };
}

test("recover for a rest another process ended through the store says what the rest was for (was: no reason)", async () => {
  const { a, b, recovered } = await restEndedByAnother((b) => b.markFailure("k1", "auth"));
  assert.equal(statusOf(b, "k0").state, "available");
  assert.equal(recovered.length, 1, JSON.stringify(recovered));
  assert.equal(recovered[0].profileId, "k0");
  assert.equal(recovered[0].reason, "rate_limit");
  await a.close();
  await b.close();
});

test("recover for a rest another process ended through the store comes at the write that brings the end in, not at the next call (was: at the next getStatus)", async () => {
  const { a, b, clock, recovered } = await restEndedByAnother((b) => b.markSuccess("k1"));
  assert.deepEqual(
    recovered.map((e) => [e.profileId, e.scope, e.reason, e.at - T0]),
    [["k0", "key", "rate_limit", 2000]],
    "announced at the merge, before any call looks",
  );
  clock.now += 5000;
  b.getStatus();
  assert.equal(recovered.length, 1, "and only once");
  await a.close();
  await b.close();
});

test("a run naming a model that waits logs that no profile is available for that model (was: 'All profiles in cooldown' while the status counts them available)", async () => {
  const clock = manualClock();
  const warns = [];
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, logger: { warn: (m) => warns.push(m) } });
  pool.markFailure("k0", "rate_limit", { model: "x" });
  pool.markFailure("k1", "rate_limit", { model: "x" });
  const run = pool.run(({ profileId }) => profileId, { model: "x", label: "L" });
  await tick();
  assert.equal(pool.getStatus().totalAvailable, 2);
  pool.clearCooldown("k0");
  assert.equal((await run).value, "k0");
  assert.deepEqual(warns, ["[L] No profile available for model x, waiting 60s"]);
  // A call naming no model keeps v1's words.
  pool.markFailure("k0", "rate_limit");
  pool.markFailure("k1", "rate_limit");
  const plain = pool.run(({ profileId }) => profileId, { label: "P" });
  await tick();
  pool.clearCooldown("k1");
  assert.equal((await plain).value, "k1");
  assert.equal(warns[1], "[P] All profiles in cooldown, waiting 60s");
});
