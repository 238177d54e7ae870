// Edges of the JS layer that the rest of the suite let pass when the code was deliberately
// broken (mutation testing of pkg-template/src): writes a run waits for, the file lock at
// the rename, a profile's own model, sessions, the attempt cap and maxWaitMs at their exact
// values, the store's retry backoff, and listeners.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getEventListeners } from "node:events";
import { Pool, LlmKeyPool, FailoverError, AllProfilesExhaustedError, memoryStore } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { T0, keys, manualClock, rejection, httpError, tooManyRequests } from "./helpers.mjs";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test("a run that rethrows at once (policy rotate: false) settles only after its failure is written", async () => {
  const saved = [];
  const store = {
    load: () => null,
    save: async (s) => {
      await tick(50);
      saved.push(s);
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: store, policy: { auth: { rotate: false } } });
  const err = await rejection(pool.run(() => Promise.reject(httpError(401, "Unauthorized"))));
  assert.equal(err.status, 401);
  assert.equal(saved.length, 1, "the failure is written before run settles (as for a rotating failure)");
  assert.equal(saved[0].profiles.k0.errorCount, 1);
  await pool.close();
});

test("LlmKeyPool: a run that gives up (maxWaitMs) settles only after its failures are in the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kc-gap-"));
  const path = join(dir, "state.json");
  const pool = new LlmKeyPool({ profiles: [{ id: "a", provider: "openai", apiKey: "key-a-0123456789" }], storagePath: path, maxWaitMs: 0 });
  const err = await rejection(pool.run(() => Promise.reject(tooManyRequests())));
  assert.ok(err instanceof AllProfilesExhaustedError);
  assert.ok(existsSync(path), "the state file is written before run settles");
  assert.equal(JSON.parse(readFileSync(path, "utf8")).profiles.a.errorCount, 1);
  await pool.close();
});

test("clearCooldown is written at once (urgent), not coalesced with success-only changes", async () => {
  const store = memoryStore();
  const pool = new Pool({ profiles: keys(1), storage: store, saveIntervalMs: 60_000 });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await tick(20);
  assert.equal(JSON.parse(store.load()).profiles.k0.errorCount, 1);
  pool.clearCooldown("k0");
  await tick(20);
  const k0 = JSON.parse(store.load()).profiles.k0;
  assert.equal(k0.errorCount, 0, "the cleared cooldown is stored within milliseconds");
  assert.equal(k0.cooldownUntil, undefined);
  await pool.close();
});

test("a profile with a model of its own rests as a key when a run names another model", async () => {
  const clock = manualClock();
  const pool = new Pool({
    profiles: [
      { id: "a", provider: "openai", model: "gpt-4o", apiKey: "key-a-0123456789" },
      { id: "b", provider: "openai", apiKey: "key-b-0123456789" },
    ],
    clock: clock.fn,
  });
  await pool.run(({ profileId }) => {
    if (profileId === "a") throw tooManyRequests();
    return 1;
  }, { model: "gpt-4o-mini" });
  const a = pool.getStatus().profiles[0];
  assert.equal(a.state, "cooldown", "the key itself rests");
  assert.equal(a.modelCooldowns, undefined);
  assert.equal(pool.isInCooldown("a"), true);
});

test("ctx.model is the profile's own model, not the run's", async () => {
  const pool = new Pool({ profiles: [{ id: "a", provider: "openai", model: "gpt-4o", apiKey: "key-a-0123456789" }] });
  const res = await pool.run((ctx) => ctx.model, { model: "gpt-4o-mini" });
  assert.equal(res.value, "gpt-4o");
  assert.equal(res.model, "gpt-4o");
});

test("a fallback without apiKey borrows only a primary profile's key (else it is skipped, as in v1)", () => {
  const config = {
    profiles: [{ id: "a", provider: "openai", apiKey: "key-openai-0123456789" }],
    fallbackModels: [
      { provider: "anthropic", model: "claude-3", apiKey: "key-anthropic-0123456789" },
      { provider: "anthropic", model: "claude-2" },
    ],
  };
  const ids = (p) => p.getStatus().profiles.map((x) => x.id);
  assert.deepEqual(ids(new LlmKeyPool(config)), ["a", "fallback-anthropic-claude-3"]);
  assert.deepEqual(ids(new Pool(config)), ["a", "fallback-anthropic-claude-3"]);
});

test("a session's run does not try again the profile its attempt just failed on", async () => {
  const pool = new Pool({ profiles: keys(2), clock: manualClock().fn });
  const seen = [];
  const res = await pool.run(({ profileId }) => {
    seen.push(profileId);
    // A failure that starts no rest (retryAfterMs 0): the profile stays available.
    if (seen.length === 1) throw new FailoverError("overloaded", { reason: "server_error", retryAfterMs: 0 });
    return profileId;
  }, { session: "s1" });
  assert.deepEqual(seen, ["k0", "k1"]);
  assert.equal(res.profileId, "k1");
});

test("a session forgotten (sessions.max) while its call was in flight is remembered when the call succeeds", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, sessions: { max: 1 } });
  let release;
  const gate = new Promise((r) => (release = r));
  const a = pool.run(async ({ profileId }) => {
    await gate;
    return profileId;
  }, { session: "a" });
  clock.now += 1;
  assert.equal((await pool.run(({ profileId }) => profileId, { session: "b" })).profileId, "k1"); // forgets "a"
  release();
  assert.equal((await a).profileId, "k0");
  clock.now += 1;
  assert.equal((await pool.run(({ profileId }) => profileId)).profileId, "k0"); // k1 is now the least recently picked
  clock.now += 1;
  assert.equal((await pool.run(({ profileId }) => profileId, { session: "a" })).profileId, "k0", "session a sticks to k0");
});

test("the exhausted event names the model the run asked for", async () => {
  const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, maxWaitMs: 0 });
  const events = [];
  pool.on("exhausted", (e) => events.push(e));
  pool.markFailure("k0", "auth");
  await rejection(pool.run(() => 1, { model: "gpt-4o", provider: "openai" }));
  assert.equal(events.length, 1);
  assert.equal(events[0].model, "gpt-4o");
  assert.equal(events[0].provider, "openai");
});

test("at most min(160, max(32, 24 + 8 × profiles)) attempts", async () => {
  for (const [n, cap] of [[1, 32], [3, 48], [10, 104], [20, 160]]) {
    // Rests of 0 ms: every key is available again at once, and the run goes on until the cap.
    const pool = new Pool({ profiles: keys(n), clock: manualClock().fn, schedules: { transient: [0] }, maxWaitMs: 0 });
    const err = await rejection(pool.run(() => Promise.reject(httpError(500, "Internal Server Error"))));
    assert.ok(err instanceof AllProfilesExhaustedError);
    assert.equal(err.attempts.length, cap, `${n} profiles`);
  }
});

test("a wait of exactly maxWaitMs is waited, not refused", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 5000 });
  const running = pool.run(({ profileId }) => profileId, { maxWaitMs: 5000 });
  let settled = false;
  running.then(() => (settled = true), () => (settled = true));
  await tick(20);
  assert.equal(settled, false, "the run waits");
  clock.now += 5000;
  pool.clearCooldown("k0"); // wakes the waiting run
  assert.equal((await running).profileId, "k0");
});

test("a failing store is retried with backoff doubling up to 30 s, not beyond", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let calls = 0;
    const store = {
      load: () => null,
      save: () => {
        calls++;
        throw new Error("disk full");
      },
    };
    const pool = new Pool({ profiles: keys(1), storage: store, saveIntervalMs: 1000 });
    await pool.init();
    pool.markFailure("k0", "rate_limit");
    // Tries at 0, 1, 3, 7, 15, 31, 61, 91, 121 s (backoff 1, 2, 4, 8, 16, then 30 s each).
    for (let t = 0; t <= 125_000; t += 250) {
      mock.timers.tick(250);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    assert.equal(calls, 9, `writes tried in 125 s: ${calls}`);
  } finally {
    mock.timers.reset();
  }
});

test("fileStore: a writer whose lock was taken over while it merged does not write", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kc-gap-"));
  const path = join(dir, "state.json");
  const store = fileStore(path);
  const other = JSON.stringify({ pid: 1, hostname: "another-host", token: "someone-else", time: Date.now() });
  const err = await rejection(
    store.update(() => {
      writeFileSync(`${path}.lock`, other); // taken over (as stale) by another writer meanwhile
      return { version: 1, profiles: { a: { errorCount: 1 } } };
    }),
  );
  assert.match(String(err?.message), /lost .*\.lock while writing/);
  assert.equal(existsSync(path), false, "nothing written without the lock");
  assert.equal(readFileSync(`${path}.lock`, "utf8"), other, "the other writer's lock is left alone");
});

test("a model's rest read from the store keeps its start: a late failure seen by another process does not escalate", async () => {
  const clock = manualClock();
  const store = memoryStore();
  const profiles = [
    { id: "k", provider: "p", apiKey: "key-k-0123456789" },
    { id: "j", provider: "p", apiKey: "key-j-0123456789" },
  ];
  const A = new Pool({ profiles, storage: store, clock: clock.fn, saveIntervalMs: 0 });
  const B = new Pool({ profiles, storage: store, clock: clock.fn, saveIntervalMs: 0 });
  await A.init();
  await B.init();
  let release;
  const gate = new Promise((r) => (release = r));
  // B's call on k for model m is acquired at T0 and answers late.
  const late = B.run(async ({ profileId }) => {
    await gate;
    if (profileId === "k") throw tooManyRequests();
    return profileId;
  }, { model: "m", maxWaitMs: 0 });
  await tick(10);
  clock.now = T0 + 1000; // A's call on k for m fails: k rests for m from T0 + 1 s
  await A.run(({ profileId }) => {
    if (profileId === "k") throw tooManyRequests();
    return profileId;
  }, { model: "m" });
  await A.flush();
  B.clearCooldown("j"); // any write of B's merges A's state in
  await B.flush();
  clock.now = T0 + 2000;
  release(); // the same 429 incident, seen late by B
  await late;
  const [rest] = B.getStatus().profiles[0].modelCooldowns;
  assert.equal(rest.errorCount, 1, "the late 429 does not count again");
  assert.equal(rest.cooldownUntil, T0 + 61_000);
  await A.close();
  await B.close();
});

test("a run that waited with a signal leaves no listener on it", async () => {
  const pool = new Pool({ profiles: keys(1) });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 30 });
  const ac = new AbortController();
  await pool.run(() => 1, { signal: ac.signal });
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
});

test("off() removes the most recent registration of a listener added twice", () => {
  const pool = new Pool({ profiles: keys(1), clock: manualClock().fn });
  const calls = [];
  const f = () => calls.push("f");
  const g = () => calls.push("g");
  pool.on("cooldown", f).on("cooldown", g).on("cooldown", f).off("cooldown", f);
  pool.markFailure("k0", "rate_limit");
  assert.deepEqual(calls, ["f", "g"]);
});
