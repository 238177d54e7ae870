// A call into the pool cut short by a stack overflow inside the WebAssembly core (the JS
// stack ran out there: user code that recursed, a listener or logger calling the pool
// again and again). Before, the cut-short call left the module's borrow of the pool taken,
// and every later call on that pool threw "recursive use of an object detected which would
// lead to unsafe aliasing in rust", for good (found by an audit: 17 pools of 20 broken by
// the storm below). Now the next call finds the pool was cut short and builds it again
// from its configuration and the records it held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, LlmKeyPool } from "key-carousel";
import { T0, MIN, keys, manualClock, statusOf } from "./helpers.mjs";

/**
 * Calls `op` at every depth of a recursion that runs the stack out, catching everything,
 * so that some calls overflow inside the module, at every point of it over the trials.
 * `pad` arguments make each trial's frames a different size.
 */
function storm(op, pad) {
  const args = new Array(pad).fill(0);
  (function deep(..._) {
    try {
      op();
    } catch {
      // a stack overflow, in the pool or here
    }
    try {
      deep(...args);
    } catch {
      // the stack ran out
    }
  })();
}

const OPS = {
  markSuccess: (pool) => pool.markSuccess("k0"),
  "markFailure + clearCooldown": (pool) => {
    pool.markFailure("k2", "rate_limit");
    pool.clearCooldown("k2");
  },
  "markFailure for a model": (pool) => pool.markFailure("k2", "rate_limit", { model: "gpt-4o" }),
  getStatus: (pool) => pool.getStatus(),
  isInCooldown: (pool) => pool.isInCooldown("k1"),
};

for (const [name, op] of Object.entries(OPS)) {
  test(`Pool: ${name} cut short by a stack overflow inside the core leaves the pool working, with its state`, async () => {
    for (let trial = 0; trial < 12; trial++) {
      const clock = manualClock(T0);
      const pool = new Pool({ profiles: keys(4), clock: clock.fn });
      // State from before the storm: k1 rests 5 h (billing), k3 rests for one model.
      pool.markFailure("k1", "billing");
      pool.markFailure("k3", "rate_limit", { model: "o3" });
      storm(() => op(pool), trial);
      // The storm's last markFailure of k2 may have run without the clearCooldown after it
      // (the stack ran out between them): what a caller would do then.
      pool.clearCooldown("k2");
      const s = pool.getStatus();
      assert.equal(s.profiles.length, 4, `trial ${trial}`);
      const k1 = statusOf(pool, "k1");
      assert.equal(k1.state, "disabled", `trial ${trial}: k1's rest is kept`);
      assert.equal(k1.cooldownUntil, T0 + 5 * 60 * MIN, `trial ${trial}`);
      assert.equal(k1.errorCount, 1, `trial ${trial}`);
      assert.equal(statusOf(pool, "k3").modelCooldowns?.[0]?.model, "o3", `trial ${trial}: k3's rest for o3 is kept`);
      // Runs go on: k1 is never picked, k3 not for o3, and the others take turns.
      const picked = [];
      for (let i = 0; i < 6; i++) picked.push((await pool.run(({ profileId }) => profileId, { model: "o3" })).value);
      assert.ok(!picked.includes("k1") && !picked.includes("k3"), `trial ${trial}: ${picked}`);
      assert.deepEqual(new Set(picked).size, 2, `trial ${trial}: k0 and k2 take turns: ${picked}`);
      assert.equal((await pool.run(({ profileId }) => profileId)).value !== "k1", true);
      // And it still records: a new failure rests its key.
      pool.markFailure("k0", "rate_limit");
      assert.equal(statusOf(pool, "k0").state, "cooldown", `trial ${trial}`);
    }
  });
}

test("LlmKeyPool: markFailure and getStatus cut short by a stack overflow leave the pool working", async () => {
  for (let trial = 0; trial < 12; trial++) {
    const pool = new LlmKeyPool({ profiles: keys(3).map(({ provider, apiKey }) => ({ provider, apiKey })) });
    await pool.markFailure("profile-1", "billing");
    storm(() => {
      pool.markSuccess("profile-0");
      pool.getStatus();
    }, trial);
    const s = pool.getStatus();
    assert.equal(s.profiles.find((p) => p.id === "profile-1").state, "disabled", `trial ${trial}`);
    const res = await pool.run(async ({ profileId }) => profileId);
    assert.notEqual(res.value, "profile-1", `trial ${trial}`);
  }
});

test("a stack overflow in the caller's own code next to a pool call changes nothing", async () => {
  // The call that overflows before it reaches the core (or the caller's code after it):
  // nothing to rebuild, and nothing lost, in-flight counts included.
  const pool = new Pool({ profiles: keys(2) });
  let release;
  const held = pool.run(() => new Promise((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  storm(() => {
    JSON.stringify(pool); // toJSON → getStatus
  }, 3);
  assert.equal(statusOf(pool, "k0").inFlight + statusOf(pool, "k1").inFlight, 1);
  release("done");
  assert.equal((await held).value, "done");
});
