// Weights and order (round-robin by weight, priority) and configurable cooldown schedules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, ConfigError } from "key-carousel";
import { T0, SEC, MIN, HOUR, keys, manualClock, statusOf, httpError } from "./helpers.mjs";

async function tally(pool, n, options) {
  const count = {};
  for (let i = 0; i < n; i++) {
    const { profileId } = await pool.run(({ profileId }) => profileId, options);
    count[profileId] = (count[profileId] ?? 0) + 1;
  }
  return count;
}

const within = (got, want, tolerance, label) =>
  assert.ok(Math.abs(got - want) <= want * tolerance, `${label}: ${got} picks, expected ${want} ± ${tolerance * 100}%`);

test("weights: a key of weight 3 serves three times as often as a key of weight 1 (10,000 picks, ±5%)", async () => {
  const pool = new Pool({
    profiles: [
      { id: "big", provider: "openai", apiKey: "key-big-0123456789", weight: 3 },
      { id: "small", provider: "openai", apiKey: "key-small-0123456789" },
    ],
  });
  const count = await tally(pool, 10_000);
  within(count.big, 7_500, 0.05, "big");
  within(count.small, 2_500, 0.05, "small");
  within(count.big / count.small, 3, 0.05, "ratio");

  // Three weights, and calls preferring a provider: shares hold within the group.
  const mixed = new Pool({
    profiles: [
      { id: "a", provider: "openai", apiKey: "key-a-0123456789", weight: 5 },
      { id: "b", provider: "openai", apiKey: "key-b-0123456789", weight: 2 },
      { id: "c", provider: "openai", apiKey: "key-c-0123456789", weight: 3 },
      { id: "d", provider: "anthropic", apiKey: "key-d-0123456789", weight: 7 },
    ],
  });
  const shares = await tally(mixed, 10_000, { provider: "openai" });
  within(shares.a, 5_000, 0.05, "a");
  within(shares.b, 2_000, 0.05, "b");
  within(shares.c, 3_000, 0.05, "c");
  assert.equal(shares.d, undefined);
});

test("a pool of 3,000 profiles and fallbacks: each one's weight, kind and position reach the core (past the constructor's first 1,024 slots)", async () => {
  const primaries = Array.from({ length: 1500 }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `key-${i}-0123456789` }));
  primaries[1400].weight = 1000;
  const fallbackModels = Array.from({ length: 1500 }, (_, i) => ({ provider: "other", model: `m${i}`, apiKey: `key-fb-${i}-0123456789` }));
  const pool = new Pool({ profiles: primaries, fallbackModels });
  // Weight: k1400 serves 1,000 of 2,499 picks (its weight against 1,499 of weight 1). Kind:
  // no fallback is picked while a primary is available.
  const count = await tally(pool, 2_499);
  within(count.k1400, 1_000, 0.05, "k1400");
  assert.deepEqual(
    Object.keys(count).filter((id) => !id.startsWith("k")),
    [],
    "fallbacks picked while primaries were available",
  );
  // Positions: the core names the entry it refuses by its index in the user's list.
  assert.throws(
    () => new Pool({ profiles: primaries, fallbackModels: [...fallbackModels, { provider: "other", model: "m1234", apiKey: "key-x-0123456789" }] }),
    (e) => e instanceof ConfigError && e.field === "fallbackModels[1500].id" && e.message.includes("fallbackModels[1234]"),
  );
  const twin = primaries.map((p) => ({ ...p }));
  twin[1499].id = "k1100";
  assert.throws(
    () => new Pool({ profiles: twin }),
    (e) => e instanceof ConfigError && e.field === "profiles[1499].id" && e.message.includes("profiles[1100]"),
  );
});

test("weights: with every weight 1 the order is v2's least-recently-picked round-robin", async () => {
  const plain = new Pool({ profiles: keys(3) });
  const ones = new Pool({ profiles: keys(3).map((p) => ({ ...p, weight: 1 })) });
  const seq = async (pool) => {
    const out = [];
    for (let i = 0; i < 7; i++) out.push((await pool.run(({ profileId }) => profileId)).profileId);
    return out;
  };
  assert.deepEqual(await seq(plain), ["k0", "k1", "k2", "k0", "k1", "k2", "k0"]);
  assert.deepEqual(await seq(ones), ["k0", "k1", "k2", "k0", "k1", "k2", "k0"]);
});

test("weights: a heavy key that rested is not picked in a burst when it recovers", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: [
      { id: "big", provider: "openai", apiKey: "key-big-0123456789", weight: 2 },
      { id: "small", provider: "openai", apiKey: "key-small-0123456789" },
    ],
    clock: clock.fn,
  });
  pool.markFailure("big", "rate_limit");
  await tally(pool, 50); // all on small meanwhile
  clock.now += MIN + 1;
  const next = [];
  for (let i = 0; i < 6; i++) next.push((await pool.run(({ profileId }) => profileId)).profileId);
  assert.deepEqual(next, ["big", "big", "small", "big", "big", "small"]);
});

test("weights: values are checked", () => {
  for (const weight of [0, -1, 1.5, 1001, "3", NaN]) {
    assert.throws(
      () => new Pool({ profiles: [{ provider: "openai", apiKey: "key-0123456789", weight }] }),
      (e) => e instanceof ConfigError && e.field === "profiles[0].weight" && /whole number from 1 to 1000/.test(e.message),
      String(weight),
    );
  }
  assert.throws(() => new Pool({ profiles: keys(1), fallbackModels: [{ provider: "openai", model: "m", weight: 2 }] }), /fallbackModels\[0\]\.weight: unknown option/);
});

test("weights: a pool's weights add up to at most 2^24, a ConfigError past it (was: 8 bytes per unit allocated, past wasm's memory a trap)", () => {
  const profiles = (n, weight) => Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `key-openai-${i}-0123456789`, weight }));
  assert.throws(
    () => new Pool({ profiles: profiles(16_778, 1000) }),
    (e) => e instanceof ConfigError && e.field === "profiles" && /weights add up to 16778000, more than 16777216/.test(e.message),
  );
  // Up to the limit the pool works; and then another pool in the process too.
  const pool = new Pool({ profiles: profiles(16_777, 1000) });
  assert.equal(pool.getStatus().totalAvailable, 16_777);
  assert.equal(new Pool({ profiles: keys(2) }).getStatus().totalAvailable, 2);
});

test("strategy priority: always the first healthy key in configured order, back to it when it recovers", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), strategy: "priority", clock: clock.fn });
  assert.deepEqual(await tally(pool, 5), { k0: 5 });
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(429, "slow down");
    return profileId;
  });
  assert.equal(res.profileId, "k1");
  assert.deepEqual(await tally(pool, 3), { k1: 3 });
  pool.markFailure("k1", "server_error");
  assert.deepEqual(await tally(pool, 2), { k2: 2 });
  clock.now = T0 + MIN;
  assert.deepEqual(await tally(pool, 2), { k0: 2 });
  // Weights mean nothing to priority.
  const weighted = new Pool({ profiles: [{ ...keys(2)[0] }, { ...keys(2)[1], weight: 9 }], strategy: "priority" });
  assert.deepEqual(await tally(weighted, 4), { k0: 4 });
  assert.throws(() => new Pool({ profiles: keys(1), strategy: "random" }), /strategy: must be "round-robin" or "priority"/);
});

/** The rests of `count` failures in a row of `reason`, each right after the previous rest. */
function ladder(pool, clock, id, reason, count) {
  const got = [];
  for (let i = 0; i < count; i++) {
    pool.markFailure(id, reason);
    const s = statusOf(pool, id);
    got.push(s.cooldownUntil - clock.now);
    clock.now = s.cooldownUntil;
  }
  return got;
}

test('schedules: "gentle" rests 30 s, 1 min, 5 min; "v1" (the default) 1 min, 5 min, 25 min, 1 h', () => {
  let clock = manualClock();
  const gentle = new Pool({ profiles: keys(2), schedules: "gentle", clock: clock.fn });
  assert.deepEqual(ladder(gentle, clock, "k0", "rate_limit", 5), [30 * SEC, MIN, 5 * MIN, 5 * MIN, 5 * MIN]);
  assert.deepEqual(ladder(gentle, clock, "k1", "billing", 2), [5 * HOUR, 10 * HOUR]); // long: v1's
  clock = manualClock();
  const v1 = new Pool({ profiles: keys(1), schedules: "v1", clock: clock.fn });
  assert.deepEqual(ladder(v1, clock, "k0", "server_error", 5), [MIN, 5 * MIN, 25 * MIN, HOUR, HOUR]);
});

test("schedules: ladders of steps or base × factor with a cap, per reason class; Retry-After is clamped to the ladder", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: keys(2),
    clock: clock.fn,
    schedules: { transient: [10 * SEC, 20 * SEC, 2 * MIN], long: { baseMs: HOUR, factor: 3, capMs: 8 * HOUR } },
  });
  assert.deepEqual(ladder(pool, clock, "k0", "timeout", 4), [10 * SEC, 20 * SEC, 2 * MIN, 2 * MIN]);
  assert.deepEqual(ladder(pool, clock, "k1", "auth_permanent", 4), [HOUR, 3 * HOUR, 8 * HOUR, 8 * HOUR]);
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(429, "slow down", { headers: { "retry-after": "3600" } });
    return profileId;
  });
  assert.equal(res.attempts[0].retryAfterMs, HOUR);
  assert.equal(res.attempts[0].cooldownMs, 2 * MIN);
  // factor defaults to 2.
  const c2 = manualClock();
  const doubling = new Pool({ profiles: keys(1), clock: c2.fn, schedules: { transient: { baseMs: SEC, capMs: 5 * SEC } } });
  assert.deepEqual(ladder(doubling, c2, "k0", "rate_limit", 4), [SEC, 2 * SEC, 4 * SEC, 5 * SEC]);
});

test("schedules: bad ladders are ConfigErrors naming the field", () => {
  const cases = [
    [{ transient: [] }, "schedules.transient", /1 to 10 steps/],
    [{ transient: [5, 4] }, "schedules.transient[1]", /not be shorter than the step before/],
    [{ transient: [5, -1] }, "schedules.transient[1]", /non-negative/],
    [{ transient: [5, "6"] }, "schedules.transient[1]", /number of ms/],
    // eslint-disable-next-line no-sparse-arrays
    [{ transient: [5, , 6] }, "schedules.transient[1]", /is required/], // a hole (was: a RangeError naming no field)
    [{ long: [NaN] }, "schedules.long[0]", /NaN/],
    [{ long: [Infinity] }, "schedules.long[0]", /must be finite/],
    [{ transient: [2 ** 54] }, "schedules.transient[0]", /at most 2\^53 ms/],
    [{ transient: Array.from({ length: 11 }, (_, i) => i) }, "schedules.transient", /1 to 10 steps/],
    [{ long: { baseMs: -5, capMs: 5 } }, "schedules.long.baseMs", /non-negative/],
    [{ long: { baseMs: HOUR, factor: 0.5, capMs: 2 * HOUR } }, "schedules.long.factor", />= 1/],
    [{ long: { baseMs: HOUR, capMs: MIN } }, "schedules.long.capMs", /not be less than baseMs/],
    [{ long: { baseMs: HOUR } }, "schedules.long.capMs", /required/],
    [{ long: { baseMs: HOUR, capMs: 2 * HOUR, steps: 3 } }, "schedules.long.steps", /unknown option/],
    [{ format: [1] }, "schedules.format", /unknown reason class/],
    ["fast", "schedules", /unknown preset/],
  ];
  for (const [schedules, field, problem] of cases) {
    assert.throws(
      () => new Pool({ profiles: keys(1), schedules }),
      (e) => e instanceof ConfigError && e.field === field && problem.test(e.message),
      JSON.stringify(schedules),
    );
  }
  // A custom ladder has its own cap: the v1 fields it replaces cannot be combined with it.
  assert.throws(
    () => new Pool({ profiles: keys(1), schedules: "gentle", cooldowns: { maxRateLimitCooldownMs: MIN } }),
    (e) => e.field === "cooldowns.maxRateLimitCooldownMs",
  );
  assert.throws(
    () => new Pool({ profiles: keys(1), schedules: { long: [HOUR] }, cooldowns: { billingMaxMs: HOUR } }),
    (e) => e.field === "cooldowns.billingMaxMs",
  );
  // ...while the other class's fields still apply.
  new Pool({ profiles: keys(1), schedules: { long: [HOUR] }, cooldowns: { maxRateLimitCooldownMs: MIN } });
});
