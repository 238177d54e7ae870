// getStatus reuses the status it made last (no call into the core) while nothing changed
// the pool and the clock is before the soonest end of a rest (issue 6). What a user sees
// must not tell: every change shows at once, a rest ends exactly at its time, a clock that
// goes back is followed, and each call returns new objects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, LlmKeyPool, memoryStore } from "key-carousel";
import { T0, MIN, keys, manualClock, statusOf } from "./helpers.mjs";

test("a rest ends exactly at its time, seen by a status asked just before", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  pool.markFailure("k0", "rate_limit"); // one minute
  const until = T0 + MIN;
  for (const t of [T0, T0 + 1, until - 1, until - 0.5]) {
    clock.now = t;
    const s = pool.getStatus();
    assert.equal(s.profiles[0].state, "cooldown", `at ${t - T0}`);
    assert.equal(s.profiles[0].remainingMs, until - t, "the time remaining follows the clock");
    assert.equal(s.totalAvailable, 1);
  }
  clock.now = until;
  let s = pool.getStatus();
  assert.equal(s.profiles[0].state, "available", "at the end of the rest");
  assert.equal(s.profiles[0].remainingMs, 0);
  assert.equal(s.totalAvailable, 2);
  // The clock goes back into the rest: cooling again.
  clock.now = until - 1;
  s = pool.getStatus();
  assert.equal(s.profiles[0].state, "cooldown", "the clock went back");
  assert.equal(s.totalInCooldown, 1);
  // A status far later, then one earlier again.
  clock.now = until + 10 * MIN;
  assert.equal(pool.getStatus().totalAvailable, 2);
  clock.now = T0;
  assert.equal(pool.getStatus().totalAvailable, 1);
});

test("the soonest of several rests, and a model-scoped one, end the reuse", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn });
  pool.markFailure("k0", "billing"); // hours
  pool.markFailure("k1", "rate_limit", { model: "gpt-4o" }); // a minute, for gpt-4o only
  let s = pool.getStatus();
  assert.deepEqual(s.profiles[1].modelCooldowns.map((m) => [m.model, m.remainingMs]), [["gpt-4o", MIN]]);
  clock.now = T0 + MIN - 1;
  s = pool.getStatus();
  assert.deepEqual(s.profiles[1].modelCooldowns.map((m) => [m.model, m.remainingMs]), [["gpt-4o", 1]]);
  clock.now = T0 + MIN;
  s = pool.getStatus();
  assert.equal(s.profiles[1].modelCooldowns, undefined, "the model-scoped rest ended");
  assert.equal(s.profiles[0].state, "disabled", "the long rest goes on");
});

test("every kind of change shows in the next status, at the same time", async () => {
  const clock = manualClock();
  const store = memoryStore();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn, storage: store });
  await pool.init();
  const seen = () => pool.getStatus(); // asked before each change, so a status is there to reuse

  seen();
  pool.markFailure("k0", "rate_limit");
  assert.equal(statusOf(pool, "k0").state, "cooldown", "markFailure");

  seen();
  pool.markSuccess("k0");
  assert.equal(statusOf(pool, "k0").state, "available", "markSuccess");
  assert.equal(statusOf(pool, "k0").lastSuccess, T0);

  seen();
  pool.markFailure("k1", "billing");
  seen();
  pool.clearCooldown("k1");
  assert.equal(statusOf(pool, "k1").state, "available", "clearCooldown");

  // A call in flight, then its end.
  seen();
  let release;
  const held = pool.run(() => new Promise((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  assert.equal(pool.getStatus().profiles.reduce((n, p) => n + p.inFlight, 0), 1, "a call in flight");
  release(1);
  await held;
  assert.equal(pool.getStatus().profiles.reduce((n, p) => n + p.inFlight, 0), 0, "the call ended");

  // A failing call rotates to the next key.
  seen();
  let calls = 0;
  const res = await pool.run(() => {
    if (calls++ === 0) throw Object.assign(new Error("Too Many Requests"), { status: 429 });
    return 1;
  });
  assert.equal(res.attempts.length, 1);
  assert.equal(statusOf(pool, res.attempts[0].profileId).state, "cooldown", "a failed call");

  // Another process writes a rest to the shared store; this pool merges it on its next write.
  await pool.flush();
  seen();
  const other = new Pool({ profiles: keys(3), clock: clock.fn, storage: store });
  await other.init();
  const failed = res.attempts[0].profileId;
  const target = ["k0", "k1", "k2"].find((id) => id !== failed);
  const writer = ["k0", "k1", "k2"].find((id) => id !== failed && id !== target);
  other.markFailure(target, "billing");
  await other.flush();
  assert.equal(statusOf(pool, target).state, "available", "not merged yet");
  pool.markSuccess(writer); // something to write
  await pool.flush();
  assert.equal(statusOf(pool, target).state, "disabled", "a rest merged from the store");
  await other.close();
  await pool.close();
});

test("each call returns new objects: changing one does not change the next", () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  pool.markFailure("k0", "rate_limit");
  const a = pool.getStatus();
  a.profiles[0].state = "mangled";
  a.profiles.pop();
  a.totalAvailable = 99;
  const b = pool.getStatus();
  assert.equal(b.profiles.length, 2);
  assert.equal(b.profiles[0].state, "cooldown");
  assert.equal(b.totalAvailable, 1);
});

test("the v1 API (LlmKeyPool) follows changes and the end of a rest the same way", async () => {
  const clock = manualClock();
  const realNow = Date.now;
  Date.now = clock.fn; // v1's API has no clock option
  try {
    const pool = new LlmKeyPool({ profiles: keys(2) });
    await pool.getStatus();
    await pool.markFailure("k0", "rate_limit");
    let s = await pool.getStatus();
    assert.equal(s.profiles[0].state, "cooldown");
    assert.equal(s.totalAvailable, 1);
    const until = s.profiles[0].cooldownUntil;
    clock.now = until - 1;
    assert.equal((await pool.getStatus()).totalAvailable, 1);
    clock.now = until;
    assert.equal((await pool.getStatus()).totalAvailable, 2, "the rest ended");
    await pool.markSuccess("k1");
    assert.equal((await pool.getStatus()).profiles[1].lastUsed, until, "markSuccess");
  } finally {
    Date.now = realNow;
  }
});
