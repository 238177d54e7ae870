// Sticky sessions: run(task, { session }) stays on a key while it is healthy, moves when it
// rests, stays on the new key, and the pool remembers at most sessions.max sessions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, ConfigError } from "key-carousel";
import { MIN, keys, manualClock, rejection, tooManyRequests } from "./helpers.mjs";

const served = async (pool, session, task = ({ profileId }) => profileId) =>
  (await pool.run(task, session === undefined ? undefined : { session })).profileId;

test("a session stays on its key while other calls rotate; moves when the key rests, and stays on the new key", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn });
  const first = await served(pool, "conversation-42");
  assert.equal(first, "k0");
  // Calls without a session keep the round-robin going around the session's key...
  const others = [];
  for (let i = 0; i < 6; i++) {
    others.push(await served(pool));
    // ...and the session keeps its key, although round-robin would pick another one now.
    assert.equal(await served(pool, "conversation-42"), "k0");
  }
  assert.deepEqual(others, ["k1", "k2", "k1", "k2", "k1", "k2"]);

  // k0 gets a 429: this call and the next ones of the session move, and stay.
  const moved = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw tooManyRequests();
    return profileId;
  }, { session: "conversation-42" });
  assert.deepEqual(moved.attempts.map((a) => a.profileId), ["k0"]);
  const next = moved.profileId;
  assert.notEqual(next, "k0");
  for (let i = 0; i < 3; i++) assert.equal(await served(pool, "conversation-42"), next);
  // Once k0 recovers, the session stays where it is.
  clock.now += MIN + 1;
  assert.equal(pool.getStatus().totalAvailable, 3);
  assert.equal(await served(pool, "conversation-42"), next);
});

test("a call of the session sent before its key's 429 that succeeds after it does not pull the session back to the resting key", async () => {
  const pool = new Pool({ profiles: keys(4), clock: manualClock().fn });
  assert.equal(await served(pool, "s"), "k0");
  // B: a call of the session on k0, answered only later.
  let answerB;
  const b = pool.run(({ profileId }) => new Promise((resolve) => (answerB = () => resolve(profileId))), { session: "s" });
  // A: the next call of the session gets a 429 on k0 and moves to k1.
  const a = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw tooManyRequests();
    return profileId;
  }, { session: "s" });
  assert.equal(a.profileId, "k1");
  assert.equal(await served(pool, "s"), "k1");
  // B now succeeds on k0: late (sent before the 429), so k0 rests on, and the session stays.
  answerB();
  assert.equal((await b).profileId, "k0");
  assert.equal(pool.getStatus().profiles[0].state, "cooldown");
  assert.equal(await served(pool, "s"), "k1"); // was k2: pulled back to k0, then moved on by the rotation
});

test("calls of a session in flight together stay together: its first calls share one key, and after a 429 on it every retry follows the session to its new key (was: spread over the keys like calls without a session)", async () => {
  const pool = new Pool({ profiles: keys(4), clock: manualClock().fn });
  // An agent's parallel first calls of a new session.
  const first = await Promise.all(Array.from({ length: 4 }, () => served(pool, "s", async ({ profileId }) => profileId)));
  assert.deepEqual(first, ["k0", "k0", "k0", "k0"]); // was k0, k1, k2, k3
  // Ten calls in flight on k0 all get a 429: the first retry moves the session, the others follow it.
  let fail;
  const failing = new Promise((resolve) => (fail = resolve));
  const task = async ({ profileId }) => {
    if (profileId === "k0") {
      await failing;
      throw tooManyRequests();
    }
    return profileId;
  };
  const runs = Array.from({ length: 10 }, () => pool.run(task, { session: "s" }));
  fail();
  const moved = await Promise.all(runs);
  assert.deepEqual(new Set(moved.map((r) => r.profileId)), new Set(["k1"])); // was k1, k2, k3, k1, …
  assert.equal(await served(pool, "s"), "k1");
});

test("a call of a session whose key another call moved meanwhile retries on the session's new key (was: on the next key of the rotation)", async () => {
  const pool = new Pool({ profiles: keys(4), clock: manualClock().fn });
  assert.equal(await served(pool, "s"), "k0");
  // Y: a call of the session on k0, which answers 429 later.
  let failY;
  const y = pool.run(({ profileId }) => {
    if (profileId !== "k0") return profileId;
    return new Promise((_, reject) => (failY = () => reject(tooManyRequests())));
  }, { session: "s" });
  // X: a call of the session gets a 429 on k0 and moves the session to k1.
  const x = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw tooManyRequests();
    return profileId;
  }, { session: "s" });
  assert.equal(x.profileId, "k1");
  // A call without a session takes the next key of the rotation meanwhile.
  assert.equal(await served(pool), "k2");
  failY();
  const got = await y;
  assert.deepEqual([got.attempts.map((a) => a.profileId), got.profileId], [["k0"], "k1"]); // was k3
  assert.equal(await served(pool, "s"), "k1");
});

test("a session that starts on a resting key is served by another one and sticks to it", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn });
  assert.equal(await served(pool, "s"), "k0");
  pool.markFailure("k0", "rate_limit");
  const moved = await served(pool, "s");
  assert.notEqual(moved, "k0");
  assert.equal(await served(pool, "s"), moved);
});

test("a session moved to a fallback model goes back to the primaries once one recovers", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: keys(2),
    fallbackModels: [{ provider: "anthropic", model: "claude", apiKey: "key-anthropic-0123456789" }],
    clock: clock.fn,
  });
  pool.markFailure("k0", "rate_limit");
  pool.markFailure("k1", "rate_limit");
  assert.equal(await served(pool, "s"), "fallback-anthropic-claude");
  assert.equal(await served(pool, "s"), "fallback-anthropic-claude");
  clock.now += MIN + 1;
  const back = await served(pool, "s");
  assert.ok(back === "k0" || back === "k1", back);
  assert.equal(await served(pool, "s"), back);
});

test("sessions: at most max are remembered, the least recently used forgotten first", async () => {
  const pool = new Pool({ profiles: keys(4), sessions: { max: 2 } });
  assert.equal(await served(pool, "a"), "k0");
  assert.equal(await served(pool, "b"), "k1");
  assert.equal(await served(pool, "a"), "k0"); // a is now the most recently used
  assert.equal(await served(pool, "c"), "k2"); // forgets b
  // b is a new session: it gets the least recently picked key (k3), not k1.
  assert.equal(await served(pool, "b"), "k3");
  // a and c were kept... until b came back: a is the least recently used, forgotten.
  assert.equal(await served(pool, "c"), "k2");
  assert.equal(await served(pool, "a"), "k1"); // round-robin again: k1 is the least recently picked
});

test("sessions: options are checked", async () => {
  for (const sessions of [{ max: 0 }, { max: 1.5 }, { max: "10" }, null, { size: 3 }]) {
    assert.throws(() => new Pool({ profiles: keys(1), sessions }), ConfigError, JSON.stringify(sessions));
  }
  assert.throws(() => new Pool({ profiles: keys(1), sessions: { max: 0 } }), /sessions\.max: must be a whole number >= 1/);
  const pool = new Pool({ profiles: keys(1) });
  const err = await rejection(pool.run(() => 1, { session: 42 }));
  assert.ok(err instanceof TypeError);
  assert.match(err.message, /session must be a string/);
});

test("sessions: the LRU agrees with a plain list on random gets and sets (evicting through a kept iterator)", async () => {
  const fc = (await import("fast-check")).default;
  const { Sessions } = await import("../../pkg-template/src/sessions.js");
  const op = fc.oneof(
    fc.record({ t: fc.constant("set"), k: fc.nat(12), v: fc.nat(3) }),
    fc.record({ t: fc.constant("get"), k: fc.nat(12) }),
    fc.record({ t: fc.constant("keep"), k: fc.nat(12), v: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 }), (max, ops) => {
      const lru = new Sessions(max);
      let list = []; // [key, value], least recently used first
      const touch = (k, v) => {
        list = list.filter(([key]) => key !== k);
        list.push([k, v]);
        if (list.length > max) list.shift();
      };
      for (const o of ops) {
        const k = `s${o.k}`;
        if (o.t === "get") {
          const had = list.find(([key]) => key === k);
          assert.equal(lru.get(k), had?.[1]);
          if (had) touch(k, had[1]);
        } else if (o.t === "set") {
          lru.set(k, o.v);
          touch(k, o.v);
        } else {
          // Kept only when forgotten: a session held at all was set by the latest attempt.
          const had = list.find(([key]) => key === k);
          lru.keep(k, o.v);
          if (had === undefined) touch(k, o.v);
        }
        assert.deepEqual(lru.keys(), list.map(([key]) => key));
      }
    }),
    { numRuns: 2000 },
  );
});
