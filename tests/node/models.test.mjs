// Per-model cooldowns: when a call names a model, rate_limit, timeout and model_not_found rest
// the key for that model only; a second model failing on the key within the failure window
// rests the whole key; status, persistence and waiting see model-scoped rests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, AllProfilesExhaustedError, memoryStore, mergeSnapshots } from "key-carousel";
import { T0, MIN, keys, manualClock, rejection, statusOf, httpError, tick, tooManyRequests } from "./helpers.mjs";

/** A task that fails with `err` on the given (profile, model) pairs and returns "profile/model" otherwise. */
const failing = (pairs, err = tooManyRequests) => ({ profileId, model }) => {
  if (pairs.some(([p, m]) => p === profileId && m === model)) throw err();
  return `${profileId}/${model}`;
};

test("a 429 for one model rests the key for that model only; other models keep using it", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const res = await pool.run(failing([["k0", "gpt-4o"]]), { model: "gpt-4o" });
  assert.equal(res.value, "k1/gpt-4o");
  assert.deepEqual(res.attempts.map((a) => [a.profileId, a.model, a.reason, a.cooldownMs]), [["k0", "gpt-4o", "rate_limit", MIN]]);

  // k0 is available (to other models), with a model-scoped rest in its status.
  const k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "available");
  assert.equal(k0.errorCount, 0);
  assert.deepEqual(k0.modelCooldowns, [
    { model: "gpt-4o", state: "cooldown", cooldownUntil: T0 + MIN, remainingMs: MIN, reason: "rate_limit", errorCount: 1 },
  ]);
  assert.equal(statusOf(pool, "k1").modelCooldowns, undefined);
  assert.equal(pool.getStatus().totalAvailable, 2);
  assert.equal(pool.isInCooldown("k0"), false);

  // gpt-4o calls all go to k1; gpt-4o-mini calls and calls naming no model use both keys.
  const served = async (model) => (await pool.run(({ profileId }) => profileId, model === undefined ? undefined : { model })).value;
  for (let i = 0; i < 4; i++) assert.equal(await served("gpt-4o"), "k1");
  const mini = [];
  for (let i = 0; i < 4; i++) mini.push(await served("gpt-4o-mini"));
  assert.deepEqual(mini.sort(), ["k0", "k0", "k1", "k1"]);
  assert.ok([await served(), await served()].includes("k0"));

  // After the rest, gpt-4o is back on k0.
  clock.now = T0 + MIN;
  assert.equal(statusOf(pool, "k0").modelCooldowns, undefined);
  const back = [];
  for (let i = 0; i < 2; i++) back.push(await served("gpt-4o"));
  assert.ok(back.includes("k0"));
});

test("a second model failing on the same key within the failure window rests the whole key", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  await pool.run(failing([["k0", "gpt-4o"]]), { model: "gpt-4o" });
  clock.now = T0 + 2 * MIN; // the gpt-4o rest is over, its failure still within the 24 h window
  const cooldowns = [];
  pool.on("cooldown", (e) => cooldowns.push(e));
  const res = await pool.run(failing([["k0", "gpt-4o-mini"]], () => httpError(408, "Request Timeout")), { model: "gpt-4o-mini" });
  assert.equal(res.value, "k1/gpt-4o-mini");
  const k0 = statusOf(pool, "k0");
  assert.equal(k0.state, "cooldown");
  assert.equal(k0.reason, "timeout");
  assert.equal(k0.cooldownUntil, T0 + 3 * MIN);
  assert.deepEqual(
    cooldowns.map((e) => [e.profileId, e.scope, e.model, e.reason, e.widened]),
    [["k0", "key", "gpt-4o-mini", "timeout", true]],
  );
  // Now no model gets k0.
  assert.equal((await pool.run(({ profileId }) => profileId, { model: "gpt-4o" })).value, "k1");
  assert.equal((await pool.run(({ profileId }) => profileId)).value, "k1");

  // Outside the window, a second model's failure is model-scoped again.
  const pool2 = new Pool({ profiles: keys(2), clock: clock.fn, cooldowns: { failureWindowMs: 5 * MIN } });
  clock.now = T0;
  await pool2.run(failing([["k0", "gpt-4o"]]), { model: "gpt-4o" });
  clock.now = T0 + 5 * MIN + 1;
  await pool2.run(failing([["k0", "gpt-4o-mini"]]), { model: "gpt-4o-mini" });
  const s = statusOf(pool2, "k0");
  assert.equal(s.state, "available");
  assert.deepEqual(s.modelCooldowns.map((c) => c.model), ["gpt-4o-mini"]);
});

test("key-scoped reasons, profiles with a model of their own and calls naming no model rest the whole key", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: [...keys(2), { id: "fixed", provider: "openai", model: "gpt-4o", apiKey: "key-fixed-0123456789" }],
    clock: clock.fn,
  });
  // billing (402) is the key's, whatever the model.
  pool.markFailure("k0", "billing", { model: "gpt-4o" });
  assert.equal(statusOf(pool, "k0").state, "disabled");
  // A profile whose model is its own serves only that model: its rests are the key's.
  pool.markFailure("fixed", "rate_limit", { model: "gpt-4o" });
  assert.equal(statusOf(pool, "fixed").state, "cooldown");
  assert.equal(statusOf(pool, "fixed").modelCooldowns, undefined);
  // A call that names no model: the key.
  pool.markFailure("k1", "rate_limit");
  assert.equal(statusOf(pool, "k1").state, "cooldown");
});

test("policy scope: a reason can be made model-scoped or key-scoped", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: keys(2),
    clock: clock.fn,
    policy: { rate_limit: { scope: "key" }, server_error: { scope: "model" } },
  });
  pool.markFailure("k0", "rate_limit", { model: "gpt-4o" });
  assert.equal(statusOf(pool, "k0").state, "cooldown");
  pool.markFailure("k1", "server_error", { model: "gpt-4o" });
  assert.equal(statusOf(pool, "k1").state, "available");
  assert.equal(statusOf(pool, "k1").modelCooldowns[0].reason, "server_error");
  assert.throws(() => new Pool({ profiles: keys(1), policy: { rate_limit: { scope: "everything" } } }), /policy\.rate_limit\.scope: must be "key" or "model"/);
});

test("markSuccess with a model ends that model's rest; clearCooldown ends all of them", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn, cooldowns: { failureWindowMs: 0 } });
  pool.markFailure("k0", "rate_limit", { model: "a" });
  clock.now += 1; // outside the (0 ms) failure window: b's failure stays model-scoped
  pool.markFailure("k0", "timeout", { model: "b" });
  assert.deepEqual(statusOf(pool, "k0").modelCooldowns.map((c) => c.model), ["a", "b"]);
  pool.markSuccess("k0", { model: "a" });
  assert.deepEqual(statusOf(pool, "k0").modelCooldowns.map((c) => c.model), ["b"]);
  pool.markSuccess("k0"); // no model: the key's own rest (none), not b's
  assert.deepEqual(statusOf(pool, "k0").modelCooldowns.map((c) => c.model), ["b"]);
  pool.clearCooldown("k0");
  assert.equal(statusOf(pool, "k0").modelCooldowns, undefined);
});

test("when every key rests for a model, its calls wait or give up with retryAt while other models run", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, maxWaitMs: 1000 });
  pool.markFailure("k0", "rate_limit", { model: "gpt-4o", retryAfterMs: 30_000 });
  pool.markFailure("k1", "rate_limit", { model: "gpt-4o", retryAfterMs: 20_000 });
  const err = await rejection(pool.run(() => "never", { model: "gpt-4o" }));
  assert.ok(err instanceof AllProfilesExhaustedError);
  assert.equal(err.retryAt, T0 + 20_000);
  assert.equal(err.retryAfterMs, 20_000);
  assert.equal((await pool.run(({ profileId }) => profileId, { model: "gpt-4o-mini" })).value, "k0");
  // A key resting on its own rests for every model: the later of both ends counts.
  pool.markFailure("k1", "auth");
  const err2 = await rejection(pool.run(() => "never", { model: "gpt-4o" }));
  assert.equal(err2.retryAt, T0 + 30_000);
});

test("model-scoped rests are persisted and shared through the store", async () => {
  const clock = manualClock();
  const store = memoryStore();
  const a = new Pool({ profiles: keys(2), clock: clock.fn, storage: store });
  await a.init();
  a.markFailure("k0", "rate_limit", { model: "gpt-4o" });
  await a.flush();
  const stored = JSON.parse(store.load());
  assert.deepEqual(stored.profiles.k0.models["gpt-4o"], {
    errorCount: 1,
    lastFailure: T0,
    cooldownUntil: T0 + MIN,
    lastFailureReason: "rate_limit",
    updatedAt: T0,
    cooldownStartedAt: T0,
  });
  // Another process (pool) loading the store skips k0 for gpt-4o only.
  const b = new Pool({ profiles: keys(2), clock: clock.fn, storage: store });
  await b.init();
  assert.deepEqual(statusOf(b, "k0").modelCooldowns.map((c) => [c.model, c.cooldownUntil]), [["gpt-4o", T0 + MIN]]);
  assert.equal((await b.run(({ profileId }) => profileId, { model: "gpt-4o" })).value, "k1");
  assert.equal((await b.run(({ profileId }) => profileId, { model: "other" })).value, "k0");
  // A clearCooldown in b (a moment later: the later event wins the merge) reaches a
  // through the store.
  clock.now += 1;
  b.clearCooldown("k0");
  await b.flush();
  a.markFailure("k1", "billing"); // any write of a merges what b wrote
  await a.flush();
  assert.equal(statusOf(a, "k0").modelCooldowns, undefined);
  await a.close();
  await b.close();
});

test("a model name the pool cannot use for scoping (empty) still runs, resting the key", async () => {
  const pool = new Pool({ profiles: keys(2), clock: manualClock().fn });
  const res = await pool.run(failing([["k0", ""]]), { model: "" });
  assert.equal(res.value, "k1/");
  assert.equal(statusOf(pool, "k0").state, "cooldown");
  assert.equal(statusOf(pool, "k0").cooldownUntil - T0, MIN);
});

test("model names with a lone surrogate are not scoped either: two such names are not one model's rests (was: both crossed into the core as U+FFFD)", async () => {
  const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, maxWaitMs: 0 });
  pool.markFailure("k0", "rate_limit", { model: "y\ud800" });
  // Not a rest of a model named "y\ufffd" that a call naming "y\udc00" (or "y\ufffd") would meet: the key rests.
  assert.equal(statusOf(pool, "k0").state, "cooldown");
  assert.equal(statusOf(pool, "k0").modelCooldowns, undefined);
  pool.clearCooldown("k0");
  pool.markFailure("k0", "rate_limit", { model: "y\ufffd" });
  const res = await pool.run(({ profileId }) => profileId, { model: "y\udc00" });
  assert.equal(res.value, "k0", "a rest for the model y\ufffd does not hold back y\udc00");
});

test("mergeSnapshots merges model-scoped records with the same rule: the later event wins", () => {
  const rest = (updatedAt, until) => ({ errorCount: 1, lastFailure: updatedAt, cooldownUntil: until, lastFailureReason: "rate_limit", updatedAt, cooldownStartedAt: updatedAt });
  const a = { version: 1, profiles: { k0: { errorCount: 0, models: { "gpt-4o": rest(T0, T0 + MIN) } } } };
  const cleared = { errorCount: 0, lastFailure: T0, lastFailureReason: "rate_limit", updatedAt: T0 + 5, cooldownStartedAt: T0 };
  const b = { version: 1, profiles: { k0: { errorCount: 0, models: { "gpt-4o": cleared, mini: rest(T0 + 1, T0 + 2 * MIN) } } } };
  const ab = mergeSnapshots(a, b);
  assert.deepEqual(JSON.parse(JSON.stringify(ab)), JSON.parse(JSON.stringify(mergeSnapshots(b, a))));
  assert.deepEqual(ab.profiles.k0.models["gpt-4o"], cleared);
  assert.equal(ab.profiles.k0.models.mini.cooldownUntil, T0 + 2 * MIN);
  // A profile record holding only models (of a profile no pool here has) survives a merge.
  const only = mergeSnapshots({ version: 1, profiles: { x: { errorCount: 0, models: { m: rest(T0, T0 + MIN) } } } }, null);
  assert.equal(only.profiles.x.models.m.cooldownUntil, T0 + MIN);
});

test("made-up model names cannot run the module out of memory: past the views' budget a new model's failure rests the whole key (was: a copy of the index per model, then a trap)", () => {
  const clock = manualClock();
  const n = 40_000;
  const profiles = Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `key-openai-${i}-0123456789` }));
  const pool = new Pool({ profiles, clock: clock.fn });
  const rests = [];
  pool.on("cooldown", (e) => rests.push(e.scope));
  // 2^22 profile entries / 40,000 profiles: 104 models' copies fit.
  for (let k = 0; k < 104; k++) pool.markFailure("k0", "model_not_found", { model: `made-up-${k}` });
  assert.equal(statusOf(pool, "k0").state, "available");
  assert.equal(statusOf(pool, "k0").modelCooldowns.length, 104);
  pool.markFailure("k0", "model_not_found", { model: "one-too-many" });
  assert.equal(statusOf(pool, "k0").state, "cooldown", "the key rests, as past 4,096 names");
  assert.deepEqual([rests.length, rests.at(-1), rests.filter((s) => s === "model").length], [105, "key", 104]);
  // The pool goes on: another key serves.
  assert.equal(pool.getStatus().totalAvailable, n - 1);
});

test("a store naming model after model cannot run the module out of memory either: rests past the views' budget are kept as they came, not indexed (was: a copy of the index per model, then a trap)", async () => {
  const clock = manualClock();
  const n = 40_000;
  const profiles = Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `key-openai-${i}-0123456789` }));
  // What another process wrote, or anyone who can write the state: k0 rests for 4,096 models.
  const rest = { errorCount: 1, lastFailure: T0, cooldownUntil: T0 + MIN, lastFailureReason: "model_not_found", updatedAt: T0, cooldownStartedAt: T0 };
  const models = Object.fromEntries(Array.from({ length: 4096 }, (_, k) => [`m${k}`, rest]));
  const store = memoryStore();
  store.update(() => ({ version: 1, profiles: { k0: { errorCount: 0, models } } }));
  const pool = new Pool({ profiles, clock: clock.fn, storage: store });
  await pool.init();
  // 2^22 profile entries / 40,000 profiles: 104 models' rests are indexed, and calls for
  // those models skip k0; past them k0 serves (this process has no room to index them).
  assert.equal(statusOf(pool, "k0").modelCooldowns.length, 104);
  assert.equal(statusOf(pool, "k0").state, "available");
  const got = await pool.run(async ({ profileId }) => profileId, { model: "m0" });
  assert.notEqual(got.value, "k0");
  // Each record is carried on as it came by this pool's next write.
  pool.markFailure("k1", "rate_limit");
  await pool.flush();
  const stored = JSON.parse(store.load()).profiles.k0.models;
  assert.equal(Object.keys(stored).length, 4096);
  assert.deepEqual(stored.m4095, rest);
  await pool.close();
});

test("models named by runs that succeed are not counted toward the 4,096 names: past 5,000 of them a 429 still rests the key for its model only (was: the whole key, for the life of the process; found by an audit)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const scopes = [];
  pool.on("cooldown", (e) => scopes.push(e.scope));
  // One fine-tuned model per customer, say: every call succeeds.
  for (let i = 0; i < 5000; i++) await pool.run(({ model }) => model, { model: `ft:customer-${i}` });
  const res = await pool.run(failing([["k0", "gpt-4o"], ["k1", "gpt-4o"]].slice(0, 1)), { model: "gpt-4o" });
  assert.equal(res.value, "k1/gpt-4o");
  assert.deepEqual(scopes, ["model"]);
  assert.equal(statusOf(pool, "k0").state, "available");
  assert.deepEqual(statusOf(pool, "k0").modelCooldowns.map((c) => c.model), ["gpt-4o"]);
  // A name that succeeded before and fails now is scoped too (past the failure window, so
  // the key's earlier failure for gpt-4o does not widen it), and later calls for it skip that key.
  clock.now += 2 * 86_400_000;
  let calls = 0;
  const again = await pool.run(({ profileId }) => {
    if (calls++ === 0) throw tooManyRequests();
    return profileId;
  }, { model: "ft:customer-7" });
  const [first] = again.attempts.map((a) => a.profileId);
  assert.deepEqual(again.attempts.map((a) => a.reason), ["rate_limit"]);
  assert.notEqual(again.value, first);
  assert.deepEqual(scopes, ["model", "model"]);
  assert.equal(statusOf(pool, first).state, "available", "rests for that model only");
  for (let i = 0; i < 3; i++) assert.equal((await pool.run(({ profileId }) => profileId, { model: "ft:customer-7" })).value, again.value);
});

test("a model's record on a key is forgotten 30 days after its last event: no longer written, nor read back by a process that starts later (was: kept in the state for good, its name counted in every process; found by an audit)", async () => {
  const DAY = 86_400_000;
  const clock = manualClock();
  const store = memoryStore();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, storage: store, saveIntervalMs: 0 });
  await pool.init();
  // A gateway passing its clients' typos on: a 404 each, each resting one key for that name.
  for (let i = 0; i < 20; i++) {
    await pool.run(failing([["k0", `gpt-4o-typo-${i}`]], () => httpError(404, "model not found")), { model: `gpt-4o-typo-${i}` });
  }
  await pool.flush();
  const models = () => Object.keys(JSON.parse(store.load()).profiles.k0.models ?? {});
  assert.equal(models().length, 20);
  // 29 days later they are still written; another process reads them back.
  clock.now += 29 * DAY;
  pool.markSuccess("k1"); // a change, to write
  await pool.flush();
  assert.equal(models().length, 20);
  // A day and a bit later a write leaves them out, and a process starting now with the
  // old state takes none of them in.
  const old = store.load();
  clock.now += 1.1 * DAY;
  pool.markSuccess("k1"); // a change, to write
  await pool.flush();
  assert.deepEqual(models(), []);
  const other = memoryStore();
  other.update(() => JSON.parse(old));
  const later = new Pool({ profiles: keys(2), clock: clock.fn, storage: other });
  await later.init();
  assert.equal(statusOf(later, "k0").modelCooldowns, undefined);
  later.markSuccess("k1");
  await later.flush();
  assert.deepEqual(Object.keys(JSON.parse(other.load()).profiles.k0.models ?? {}), []);
  // A name that fails again after that is recorded afresh.
  await pool.run(failing([["k0", "gpt-4o-typo-3"]], () => httpError(404, "model not found")), { model: "gpt-4o-typo-3" });
  await pool.flush();
  assert.deepEqual(models(), ["gpt-4o-typo-3"]);
  assert.equal(JSON.parse(store.load()).profiles.k0.models["gpt-4o-typo-3"].errorCount, 1);
  await Promise.all([pool.close(), later.close()]);
});

test("a run that began before its model had a rest sees that rest when it picks again: it is not given a key resting for its model (was: the model looked up once, at the run's start; found by a review)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  pool.markFailure("k0", "server_error");
  pool.markFailure("k1", "server_error");
  const served = pool.run(({ profileId, model }) => `${profileId}/${model}`, { model: "gpt-x" });
  await tick(10); // the run waits: no call has failed for gpt-x yet
  // k0 is back, but rests for gpt-x (another call's 429); the woken run must not take it.
  pool.clearCooldown("k0");
  pool.markFailure("k0", "rate_limit", { model: "gpt-x", retryAfterMs: MIN });
  await tick(10);
  pool.clearCooldown("k1");
  assert.equal((await served).value, "k1/gpt-x");
  // k0's rest for gpt-x is untouched: no call was made on it.
  assert.deepEqual(statusOf(pool, "k0").modelCooldowns.map((m) => m.model), ["gpt-x"]);
});
