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
