// Runs waiting for a rest to end (issue 6's audit): woken when a rest ends early, on the
// clock the user gave (fake timers too), and many of them on one AbortSignal.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { Pool, LlmKeyPool, memoryStore } from "key-carousel";
import { keys, manualClock, tick } from "./helpers.mjs";

const ms = (t0) => Date.now() - t0;

for (const [how, end] of [
  ["clearCooldown", (pool) => pool.clearCooldown("k0")],
  ["markSuccess", (pool) => pool.markSuccess("k0")],
]) {
  test(`a waiting run takes a key as soon as ${how} ends its rest (was: it slept until the rest's first end)`, async () => {
    const pool = new Pool({ profiles: keys(1) });
    pool.markFailure("k0", "rate_limit", { retryAfterMs: 3000 });
    const t0 = Date.now();
    const running = pool.run(({ profileId }) => profileId);
    setTimeout(() => end(pool), 50);
    const r = await running;
    assert.equal(r.value, "k0");
    assert.ok(ms(t0) < 1000, `served after ${ms(t0)} ms`);
  });
}

test("a waiting run takes a key that another process freed, once the pool's next write brings it in", async () => {
  const store = memoryStore();
  const a = new Pool({ profiles: keys(2), storage: store, saveIntervalMs: 0 });
  await a.init();
  a.markFailure("k0", "rate_limit", { retryAfterMs: 3000 });
  a.markFailure("k1", "rate_limit", { retryAfterMs: 3000 });
  await a.flush();
  const t0 = Date.now();
  const running = a.run(({ profileId }) => profileId);
  // Another process (its pool reads the store at start) ends k0's rest and writes.
  const b = new Pool({ profiles: keys(2), storage: store });
  await b.init();
  b.clearCooldown("k0");
  await b.flush();
  a.markFailure("k1", "rate_limit", { retryAfterMs: 3000 }); // a writes, merging b's state in
  const r = await running;
  assert.equal(r.value, "k0");
  assert.ok(ms(t0) < 1000, `served after ${ms(t0)} ms`);
  await Promise.all([a.close(), b.close()]);
});

test("wake-ups are not attempts: a run woken 100 times by changes it cannot use still waits for its rest to end, and logs its wait once", async () => {
  const warned = [];
  const pool = new Pool({ profiles: keys(1), logger: { warn: (m) => warned.push(m) } });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 300, model: "m" });
  const running = pool.run(({ profileId }) => profileId, { model: "m" });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 1));
    pool.markSuccess("k0", { model: "n" }); // another model's: k0 still rests for m
  }
  const r = await running;
  assert.equal(r.value, "k0");
  assert.deepEqual(r.attempts, []);
  assert.equal(warned.filter((m) => m.includes("waiting")).length, 1, warned.join("\n"));
});

test("the default clock is Date.now at each call: fake timers installed after the pool work (was: the real time)", () => {
  const before = new Pool({ profiles: keys(1) });
  const v1 = new LlmKeyPool({ profiles: keys(1) });
  mock.timers.enable({ apis: ["Date"], now: 1_700_000_000_000 });
  try {
    before.markFailure("k0", "rate_limit", { retryAfterMs: 60_000 });
    assert.equal(before.getStatus().profiles[0].cooldownUntil, 1_700_000_060_000);
    mock.timers.tick(61_000);
    assert.equal(before.isInCooldown("k0"), false);
    v1.markFailure("k0", "rate_limit");
    assert.equal(v1.isInCooldown("k0"), true);
    mock.timers.tick(3_600_000);
    assert.equal(v1.isInCooldown("k0"), false);
  } finally {
    mock.timers.reset();
  }
});

test("many runs waiting on one AbortSignal add one listener to it (was: one each, and Node warned of a leak past 10)", async () => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    for (const Kind of [Pool, LlmKeyPool]) {
      const pool = new Kind({ profiles: keys(1) });
      await pool.markFailure("k0", "rate_limit", { retryAfterMs: 60_000 });
      const ac = new AbortController();
      const runs = Array.from({ length: 50 }, () => pool.run(() => "x", { signal: ac.signal }));
      await new Promise((r) => setTimeout(r, 20));
      ac.abort(new Error("shutting down"));
      const settled = await Promise.allSettled(runs);
      assert.ok(settled.every((s) => s.status === "rejected" && s.reason.message === "shutting down"), Kind.name);
    }
    // Runs whose wait ends normally leave nothing on the signal either.
    const pool = new Pool({ profiles: keys(1) });
    pool.markFailure("k0", "rate_limit", { retryAfterMs: 30 });
    const ac = new AbortController();
    let calls = 0;
    const done = await Promise.all(Array.from({ length: 20 }, () => pool.run(() => ++calls, { signal: ac.signal })));
    assert.equal(done.length, 20);
    ac.abort(); // a listener left behind would reject nothing now, but it would run: count them
    assert.equal(calls, 20);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((w) => w.name !== "ExperimentalWarning").map((w) => `${w.name}: ${w.message}`), []);
  } finally {
    process.off("warning", onWarning);
  }
});

test("a mark or clear that ends no rest wakes no waiting run (was: each woke every one, and each asked the core again: O(waiting × keys) per mark when every key rests for a model)", async () => {
  let reads = 0;
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: () => (reads++, clock.fn()) });
  for (const id of ["k0", "k1", "k2"]) pool.markFailure(id, "model_not_found", { model: "gpt-5-typo" });
  const waiting = Array.from({ length: 50 }, () => pool.run(({ profileId }) => profileId, { model: "gpt-5-typo" }));
  await tick(5);
  const before = reads;
  pool.markSuccess("k0"); // k0 rests for nothing these runs could use
  pool.markSuccess("k1", { model: "other" });
  await tick(5);
  assert.ok(reads - before <= 2, `${reads - before} clock reads: the waiting runs looked again`); // was 100
  pool.clearCooldown("k2"); // ends k2's rest for the model: the runs wake, and are served
  const served = await Promise.all(waiting);
  assert.deepEqual(new Set(served.map((r) => r.profileId)), new Set(["k2"]));
});
