// Regression tests for what the fuzzing and fault tests found (issue 7): each test names
// the problem it pins down. The fuzzing itself is in fuzz.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import util from "node:util";
import { Pool, memoryStore, mergeSnapshots } from "key-carousel";
import { keys, manualClock, rejection, tick } from "./helpers.mjs";

test("run with a signal that is not an AbortSignal is a TypeError at once (was: an uncaught TypeError from a timer, ending the process)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 20 }); // the run would have to wait
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on("uncaughtException", onUncaught);
  try {
    for (const signal of [{ aborted: false }, { aborted: false, addEventListener() {} }]) {
      const err = await rejection(pool.run(() => 1, { signal }));
      assert.ok(err instanceof TypeError, String(err));
      assert.equal(err.message, "run options: signal must be an AbortSignal");
    }
    await tick(60); // the timer of the wait, had one been started
    assert.deepEqual(uncaught, []);
  } finally {
    process.off("uncaughtException", onUncaught);
  }
  clock.now += 20;
  assert.equal((await pool.run(() => 1)).profileId, "k0", "the pool works");
});

test("util.inspect(pool) never throws, even while the clock fails (was: the clock's RangeError)", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  assert.equal(util.inspect(pool), "Pool { profiles: 2, available: 2, inCooldown: 0, disabled: 0 }");
  clock.now = -1;
  assert.equal(util.inspect(pool), "Pool { profiles: 2 }");
  assert.equal(String(pool), "[Pool: 2 profiles]");
  assert.throws(() => JSON.stringify(pool), RangeError, "toJSON is the status, which needs the time");
  clock.now = 1_700_000_000_000;
  assert.equal(util.inspect(pool), "Pool { profiles: 2, available: 2, inCooldown: 0, disabled: 0 }");
});

test("markFailure rejects unknown options like run does (was: { retryAfter: 5000 } silently meant the schedule's 1 min)", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn });
  assert.throws(() => pool.markFailure("k0", "rate_limit", { retryAfter: 5000 }), {
    name: "TypeError",
    message: 'markFailure options: unknown option "retryAfter"',
  });
  assert.equal(pool.getStatus().profiles[0].state, "available", "nothing recorded");
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 5000 });
  assert.equal(pool.getStatus().profiles[0].remainingMs, 5000);
});

test("markSuccess rejects unknown options as markFailure does (was: { modle } was silently ignored)", () => {
  const pool = new Pool({ profiles: keys(1), clock: manualClock().fn });
  pool.markFailure("k0", "rate_limit", { model: "gpt-4o" });
  assert.throws(() => pool.markSuccess("k0", { modle: "gpt-4o" }), { name: "TypeError", message: 'markSuccess options: unknown option "modle"' });
  assert.equal(pool.getStatus().profiles[0].modelCooldowns?.length, 1, "nothing recorded");
  pool.markSuccess("k0", { model: "gpt-4o" });
  assert.equal(pool.getStatus().profiles[0].modelCooldowns, undefined);
});

test("mergeSnapshots: an unusable argument is a TypeError saying which and why (was: a plain Error without the argument)", () => {
  const good = { version: 1, profiles: { k0: { errorCount: 1, lastFailure: 5 } } };
  const cases = [
    [["{", good], /^mergeSnapshots: a is unusable: not valid JSON \(/],
    [[good, { version: 2, profiles: {} }], /^mergeSnapshots: b is unusable: unsupported version 2$/],
    [[good, []], /^mergeSnapshots: b is unusable: not an object but an array$/],
    [["null", good], /^mergeSnapshots: a is unusable: not an object but null$/],
    [[good, { app: "another", profiles: {} }], /^mergeSnapshots: b is unusable: no `version` \(not a key-carousel state\)$/],
    [[" ", good], /^mergeSnapshots: a is unusable: empty$/],
  ];
  for (const [[a, b], message] of cases) assert.throws(() => mergeSnapshots(a, b), (e) => e instanceof TypeError && message.test(e.message));
  assert.deepEqual(mergeSnapshots(good, null).profiles.k0, { errorCount: 1, lastFailure: 5, updatedAt: 5 });
});

test("mergeSnapshots of its own result is that result (was: a short rest after billing, in a record without event times, read back as a long one)", () => {
  const written = [
    { errorCount: 2, lastFailureReason: "billing", cooldownLong: false },
    { errorCount: 2, cooldownUntil: 9e12, lastFailureReason: "auth_permanent", cooldownLong: false },
    { errorCount: 2, cooldownUntil: 9e12, lastFailureReason: "billing" }, // key-carousel 1's: long
    { errorCount: 2, cooldownUntil: 9e12, lastFailureReason: "rate_limit", cooldownLong: true },
    { errorCount: 1, lastFailure: 5, cooldownUntil: 9e12, lastFailureReason: "billing", cooldownLong: false },
  ];
  for (const rec of written) {
    const once = JSON.parse(JSON.stringify(mergeSnapshots({ version: 1, profiles: { k: rec } }, null)));
    const twice = JSON.parse(JSON.stringify(mergeSnapshots(once, null)));
    assert.deepEqual(twice, once, JSON.stringify(rec));
    const long = rec.cooldownLong ?? (rec.lastFailureReason === "billing" || rec.lastFailureReason === "auth_permanent");
    assert.equal(once.profiles.k.cooldownLong === true, long, `${JSON.stringify(rec)}: long stays ${long}`);
  }
});

test("a clock that fails when a call ends ends its lease (was: inFlight stayed 1 forever)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  const outcomes = [
    () => {
      throw new Error("boom");
    },
    () => "ok",
  ];
  for (const outcome of outcomes) {
    const err = await rejection(
      pool.run(() => {
        clock.now = NaN; // the clock breaks while the call runs
        return outcome();
      }),
    );
    assert.ok(err instanceof RangeError && /clock\(\) must return/.test(err.message), String(err));
    clock.now = 1_700_000_000_000;
    const st = pool.getStatus();
    assert.deepEqual(st.profiles.map((p) => p.inFlight), [0, 0]);
    assert.deepEqual(st.profiles.map((p) => p.errorCount), [0, 0], "no verdict without a time");
  }
});

test("the picks of calls that ended without a counted failure reach the store (was: never written)", async () => {
  const clock = manualClock();
  const store = memoryStore();
  // `unknown` rotates without a rest: a run over failing keys ends exhausted, counting nothing.
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, storage: store, policy: { unknown: { schedule: "none" } } });
  await pool.init();
  const formatError = Object.assign(new Error("context length exceeded"), { status: 400 });
  await rejection(pool.run(() => Promise.reject(formatError)));
  await pool.flush();
  assert.equal(JSON.parse(store.load())?.profiles.k0.lastUsed, clock.now, "format error: the pick is stored");

  clock.now += 1000;
  const exhausted = await rejection(pool.run(() => Promise.reject(new Error("?")), { maxWaitMs: 0 }));
  assert.equal(exhausted.name, "AllProfilesExhaustedError");
  await pool.flush();
  const stored = JSON.parse(store.load()).profiles;
  assert.deepEqual([stored.k0.lastUsed, stored.k1.lastUsed], [clock.now, clock.now], "every pick of the exhausted run is stored");
  assert.deepEqual(pool.getStatus().profiles.map((p) => p.lastUsed), [clock.now, clock.now]);
  await pool.close();
});

test("derived ids are <provider>-<14 hex digits> for every key (was: '-' and 7 digits for half of them)", () => {
  const id = (apiKey, model) => new Pool({ profiles: [{ provider: "openai", model, apiKey }] }).getStatus().profiles[0].id;
  // Stable: the same key and model give this id in every process and version.
  assert.equal(id("sk-ant-LZWVYXSRUTKJQPHGNM", "m1"), id("sk-ant-LZWVYXSRUTKJQPHGNM", "m1"));
  assert.match(id("sk-ant-LZWVYXSRUTKJQPHGNM", "m1"), /^openai-[0-9a-f]{14}$/);
  for (let i = 0; i < 2000; i++) assert.match(id(`sk-key-${i}-${"x".repeat(i % 40)}`), /^openai-[0-9a-f]{14}$/);
});

test("100,000 keys without ids start (was: 32-bit derived ids, two of 100,000 keys shared one with a chance of 69 %, and the pool refused to start, calling them the same key)", () => {
  const profiles = Array.from({ length: 100_000 }, (_, i) => ({ provider: "openai", apiKey: `sk-proj-${i.toString(36).padStart(12, "0")}-${"k".repeat(20)}` }));
  const pool = new Pool({ profiles });
  const ids = pool.getStatus().profiles.map((p) => p.id);
  assert.equal(new Set(ids).size, 100_000);
  // The same key twice is still refused, and said to be the same key.
  assert.throws(() => new Pool({ profiles: [profiles[0], profiles[1], { ...profiles[0] }] }), {
    name: "ConfigError",
    message: "profiles[2].apiKey: same provider, model and key as profiles[0]",
  });
});

test("a key that extends another key is redacted whole (was: its tail after the shorter key leaked)", async () => {
  const A = "sk-live-QWERTYUIOPASDFGH";
  const B = `${A}-JKLZXCVBNMQW`; // A is a prefix of B
  const pool = new Pool({ profiles: [{ id: "a", provider: "p", apiKey: A }, { id: "b", provider: "p", apiKey: B }], maxWaitMs: 0 });
  const err = await rejection(pool.run(() => Promise.reject(Object.assign(new Error(`gateway: keys ${A} and ${B} rejected`), { status: 401 }))));
  assert.deepEqual(
    err.attempts.map((a) => a.error),
    ["gateway: keys [redacted] and [redacted] rejected", "gateway: keys [redacted] and [redacted] rejected"],
  );
});

test("a key passed where an id belongs is not printed in the RangeError (was: unknown profile id \"sk-...\")", () => {
  const key = "sk-live-QWERTYUIOPASDFGH";
  const pool = new Pool({ profiles: [{ id: "a", provider: "p", apiKey: key }] });
  for (const call of [() => pool.markFailure(key, "auth"), () => pool.markSuccess(key), () => pool.clearCooldown(key), () => pool.isInCooldown(key)]) {
    assert.throws(call, { name: "RangeError", message: 'unknown profile id "[redacted]"' });
  }
  assert.throws(() => pool.markSuccess("nope"), { message: 'unknown profile id "nope"' });
});

test("flush() and close() write the pick of a call still in flight, and close() writes the failures of calls that end while its writes run (was: neither written: close() with nothing else to write returned at once; found by an audit)", async () => {
  const clock = manualClock();
  const gate = () => {
    let open;
    const p = new Promise((resolve) => (open = resolve));
    return { p, open };
  };
  {
    const store = memoryStore();
    const pool = new Pool({ profiles: keys(2), clock: clock.fn, storage: store });
    await pool.init();
    const g = gate();
    const running = pool.run(async ({ profileId }) => (await g.p, profileId));
    await tick(1);
    await pool.flush();
    assert.equal(JSON.parse(store.load())?.profiles?.k0?.lastUsed, clock.now, "flush() wrote the pick of the call in flight");
    g.open();
    await running;
    await pool.close();
  }
  {
    // A store whose write takes a while: the calls in flight fail during close()'s write.
    let value = null;
    let writes = 0;
    const store = {
      load: () => value,
      save: async (state) => {
        writes++;
        await tick(5);
        value = JSON.parse(JSON.stringify(state));
      },
    };
    const warnings = [];
    const pool = new Pool({ profiles: keys(3), clock: clock.fn, storage: store, maxWaitMs: 0, logger: { warn: (m) => warnings.push(m) } });
    await pool.init();
    const gates = [gate(), gate(), gate()];
    const tooMany = () => Object.assign(new Error("429"), { status: 429 });
    // Each run's first attempt (k0, k1, k2) fails once its gate opens; its next attempt succeeds.
    const runs = gates.map((g) => {
      let first = true;
      return pool.run(async ({ profileId }) => {
        if (!first) return profileId;
        first = false;
        await g.p;
        throw tooMany();
      });
    });
    await tick(1);
    const closing = pool.close();
    gates[0].open();
    gates[1].open();
    await closing;
    assert.ok(writes >= 2, `close() wrote the picks, then the failures (${writes} writes)`);
    const counts = () => Object.fromEntries(["k0", "k1", "k2"].map((id) => [id, value.profiles[id]?.errorCount ?? 0]));
    assert.deepEqual(counts(), { k0: 1, k1: 1, k2: 0 }, "the two failures during close() are stored");
    // A failure after close() ended is not written, and said so.
    gates[2].open();
    // k0 and k1 rest, and after close() runs do not wait: the third run ends exhausted.
    assert.equal((await rejection(runs[2])).name, "AllProfilesExhaustedError");
    await Promise.all(runs.slice(0, 2));
    assert.deepEqual(counts(), { k0: 1, k1: 1, k2: 0 });
    assert.equal(pool.getStatus().profiles[2].errorCount, 1);
    assert.ok(warnings.some((m) => m.includes("changes made after close() are not saved")), warnings.join("\n"));
  }
});
