// Concurrent runs: picks spread over the keys; a burst of 429s on one key counts once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, AllProfilesExhaustedError } from "key-carousel";
import { T0, MIN, keys, manualClock, statusOf, barrier, tooManyRequests } from "./helpers.mjs";

test("10. 100 concurrent runs over 10 keys spread over all of them", async () => {
  const pool = new Pool({ profiles: keys(10) });
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      pool.run(async ({ profileId }) => {
        await new Promise((r) => setTimeout(r, 1));
        return i;
      }),
    ),
  );
  const perKey = {};
  for (const r of results) perKey[r.profileId] = (perKey[r.profileId] ?? 0) + 1;
  assert.deepEqual(results.map((r) => r.value), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(Object.keys(perKey).length, 10, `keys used: ${JSON.stringify(perKey)}`);
  for (const [id, n] of Object.entries(perKey)) {
    assert.ok(n <= 15, `${id} served ${n} of 100 calls: ${JSON.stringify(perKey)}`);
  }
  const s = pool.getStatus();
  assert.ok(s.profiles.every((p) => p.inFlight === 0));
  assert.equal(s.totalAvailable, 10);
});

test("11. a burst of concurrent 429s on one key counts once and does not escalate", async (t) => {
  await t.test("pool of 1 key: 20 calls fail together", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
    const gate = barrier(20);
    const runs = Array.from({ length: 20 }, () =>
      pool.run(async () => {
        await gate.arrive(); // every task has started before any fails
        throw tooManyRequests();
      }),
    );
    assert.equal(gate.arrived, 20);
    assert.equal(statusOf(pool, "k0").inFlight, 20);
    const settled = await Promise.allSettled(runs);

    assert.ok(settled.every((s) => s.status === "rejected"));
    const errors = settled.map((s) => s.reason);
    for (const err of errors) {
      assert.ok(err instanceof AllProfilesExhaustedError, `expected AllProfilesExhaustedError, got ${err}`);
      assert.deepEqual(err.attempts.map((a) => [a.profileId, a.reason]), [["k0", "rate_limit"]]);
      assert.equal(err.retryAt, T0 + MIN);
    }
    const started = errors.flatMap((e) => e.attempts).filter((a) => a.cooldownMs !== undefined);
    assert.equal(started.length, 1, "only the first failure starts a cooldown");
    assert.equal(started[0].cooldownMs, MIN);

    const k0 = statusOf(pool, "k0");
    assert.equal(k0.errorCount, 1);
    assert.equal(k0.cooldownUntil, T0 + MIN);
    assert.equal(k0.state, "cooldown");
    assert.equal(k0.inFlight, 0);

    // Not escalated: after it recovers, the next failure is the second step (5 min), not the cap.
    clock.now = T0 + MIN + 1;
    pool.markFailure("k0", "rate_limit");
    assert.equal(statusOf(pool, "k0").cooldownUntil - clock.now, 5 * MIN);
  });

  await t.test("pool of 2 keys: the calls that hit the failing key move to the other", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: keys(2), clock: clock.fn, maxWaitMs: 0 });
    const gate = barrier(20);
    let k0Calls = 0;
    const runs = Array.from({ length: 20 }, () => {
      let first = true;
      return pool.run(async ({ profileId }) => {
        if (first) {
          first = false;
          await gate.arrive();
        }
        if (profileId === "k0") {
          k0Calls++;
          throw tooManyRequests();
        }
        return profileId;
      });
    });
    assert.equal(gate.arrived, 20);
    const results = await Promise.all(runs);

    assert.ok(k0Calls >= 2, `the burst should hit k0 several times, hit it ${k0Calls} time(s)`);
    assert.ok(results.every((r) => r.profileId === "k1" && r.value === "k1"));
    const moved = results.filter((r) => r.attempts.length === 1);
    assert.equal(moved.length, k0Calls);
    for (const r of moved) assert.deepEqual([r.attempts[0].profileId, r.attempts[0].reason], ["k0", "rate_limit"]);

    const k0 = statusOf(pool, "k0");
    assert.equal(k0.errorCount, 1);
    assert.equal(k0.cooldownUntil, T0 + MIN);
    assert.equal(k0.inFlight, 0);
    const k1 = statusOf(pool, "k1");
    assert.equal(k1.errorCount, 0);
    assert.equal(k1.state, "available");
    assert.equal(k1.inFlight, 0);
  });
});
