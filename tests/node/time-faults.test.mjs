// Time faults (issue 7): the clock jumps back by an hour, forward by a year, stands still, or
// reads 0 or 2^53. Waits are never negative, a run that must wait sleeps (never spins), every
// cooldown set is bounded by its schedule's cap, and the status stays consistent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, AllProfilesExhaustedError, memoryStore } from "key-carousel";
import { T0, MIN, HOUR, keys, manualClock, rejection, httpError } from "./helpers.mjs";

const YEAR = 365 * 24 * HOUR;
const MAX = 2 ** 53;

/** Records the delays the pool hands to setTimeout while `fn` runs. */
async function withTimerSpy(fn) {
  const real = globalThis.setTimeout;
  const delays = [];
  globalThis.setTimeout = (cb, ms, ...args) => {
    delays.push(ms);
    return real(cb, ms, ...args);
  };
  try {
    return { result: await fn(), delays };
  } finally {
    globalThis.setTimeout = real;
  }
}

/** The status is consistent with itself at time `now`. */
function assertConsistent(pool, now) {
  const s = pool.getStatus();
  let available = 0;
  let cooling = 0;
  let disabled = 0;
  let next;
  for (const p of s.profiles) {
    assert.ok(p.remainingMs >= 0, `${p.id}: remainingMs ${p.remainingMs}`);
    if (p.state === "available") {
      available++;
      assert.equal(p.remainingMs, 0);
      assert.equal(p.cooldownUntil, undefined);
      assert.equal(pool.isInCooldown(p.id), false);
    } else {
      if (p.state === "cooldown") cooling++;
      else disabled++;
      assert.equal(p.remainingMs, p.cooldownUntil - now, `${p.id}: remainingMs is cooldownUntil - now`);
      assert.ok(p.remainingMs > 0);
      assert.equal(pool.isInCooldown(p.id), true);
      next = next === undefined ? p.cooldownUntil : Math.min(next, p.cooldownUntil);
    }
    for (const t of [p.lastUsed, p.lastFailure, p.lastSuccess]) assert.ok(t === undefined || (t >= 0 && t <= MAX));
  }
  assert.deepEqual([s.totalAvailable, s.totalInCooldown, s.totalDisabled], [available, cooling, disabled]);
  assert.equal(s.nextAvailableAt, available > 0 ? undefined : next);
  assert.equal(s.unavailableReason === null, available > 0);
  return s;
}

const statusOf = (pool, id) => pool.getStatus().profiles.find((p) => p.id === id);

test("the clock jumps back by an hour: rests are kept (never shortened, never negative), new ones are bounded by their caps", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(3), clock: clock.fn, maxWaitMs: 30_000 });
  pool.markFailure("k0", "rate_limit"); // 1 min
  pool.markFailure("k1", "billing"); // 5 h, disabled
  assertConsistent(pool, clock.now);

  clock.now -= HOUR;
  const s = assertConsistent(pool, clock.now);
  // A rest that began "in the future" still ends when it was recorded to end: measured from
  // the new time it is an hour longer (the clock's jump, as for every process sharing the state).
  assert.equal(statusOf(pool, "k0").cooldownUntil, T0 + MIN);
  assert.equal(statusOf(pool, "k0").remainingMs, HOUR + MIN);
  assert.equal(s.totalAvailable, 1);

  // The one available key serves; its 429 now rests it for exactly the step, from the new time.
  const r = await pool.run(({ profileId }) => {
    if (profileId === "k2") throw httpError(429, "Too Many Requests");
    return profileId;
  }).catch((e) => e);
  assert.ok(r instanceof AllProfilesExhaustedError, "k2 failed and every other key rests past maxWaitMs");
  assert.equal(r.attempts[0].cooldownMs, MIN);
  assert.equal(statusOf(pool, "k2").cooldownUntil, clock.now + MIN);
  assert.equal(r.retryAfterMs, MIN, "the soonest recovery, measured from the new time");
  assert.ok(r.retryAt > clock.now);
  assertConsistent(pool, clock.now);

  // A Retry-After date read with a clock an hour behind asks for 1 h + 42 s: clamped to the cap.
  const clamped = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
  const date = new Date(Math.floor((clock.now + HOUR) / 1000) * 1000 + 42_000).toUTCString();
  const e = await rejection(clamped.run(() => Promise.reject(httpError(429, "slow down", { headers: { "retry-after": date } }))));
  assert.ok(e.attempts[0].retryAfterMs > HOUR);
  assert.equal(e.attempts[0].cooldownMs, HOUR, "clamped to maxRateLimitCooldownMs");

  // A failure recorded "before" the last one (the clock went back) does not reset the count.
  clock.now += HOUR + 2 * MIN; // k0's rest is over
  pool.markFailure("k0", "rate_limit");
  assert.equal(statusOf(pool, "k0").errorCount, 2);
  assert.equal(statusOf(pool, "k0").remainingMs, 5 * MIN, "the second step, bounded by the cap");
  assertConsistent(pool, clock.now);
});

test("the clock jumps back while a run waits: the wait is measured again from the new time (here past maxWaitMs: a positive retryAfterMs)", async () => {
  let offset = 0;
  const start = Date.now();
  // Frozen for the final check: its status and `now` must be read at one time.
  let frozen;
  const clock = () => frozen ?? T0 + (Date.now() - start) + offset;
  const pool = new Pool({ profiles: keys(1), clock, maxWaitMs: 2000 });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 60 });
  const { result, delays } = await withTimerSpy(async () => {
    const run = pool.run(() => "ok");
    setTimeout(() => (offset -= HOUR), 20); // during the wait
    return rejection(run);
  });
  assert.ok(result instanceof AllProfilesExhaustedError, String(result));
  assert.ok(result.retryAfterMs > HOUR - 1000 && result.retryAfterMs <= HOUR + 60, `retryAfterMs ${result.retryAfterMs}`);
  const waits = delays.filter((d) => d !== 20);
  assert.ok(waits.length >= 1 && waits.every((d) => d >= 1 && d <= 60), `waits ${waits}`);
  frozen = clock();
  assertConsistent(pool, frozen);
});

test("the clock jumps forward by a year: every rest is over, counts restart, the status follows", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn });
  for (let i = 0; i < 4; i++) {
    pool.markFailure("k0", "rate_limit");
    clock.now += HOUR;
  }
  pool.markFailure("k1", "auth_permanent");
  assert.equal(statusOf(pool, "k0").errorCount, 4);
  assert.equal(statusOf(pool, "k1").state, "disabled");

  clock.now += YEAR;
  const s = assertConsistent(pool, clock.now);
  assert.equal(s.totalAvailable, 2);
  const r = await pool.run(({ profileId }) => profileId);
  assert.equal(r.profileId, "k0");
  pool.markFailure("k0", "rate_limit");
  assert.equal(statusOf(pool, "k0").errorCount, 1, "the failure window restarted the count");
  assert.equal(statusOf(pool, "k0").remainingMs, MIN, "first step again");
  assertConsistent(pool, clock.now);
});

test("the clock stands still: a run that must wait sleeps each time (no busy loop) and gives up after its attempts", async () => {
  const clock = manualClock();
  let reads = 0;
  const pool = new Pool({ profiles: keys(1), clock: () => (reads++, clock.now) });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 8 });
  const t0 = performance.now();
  const { result, delays } = await withTimerSpy(() => rejection(pool.run(() => "never")));
  const elapsed = performance.now() - t0;
  assert.ok(result instanceof AllProfilesExhaustedError);
  assert.equal(result.attempts.length, 0, "the task never ran: the key never recovered");
  // 32 turns (min(160, max(32, 24 + 8))), each but the last a sleep of the whole remaining
  // rest; the last gives up at once (no attempt would follow), saying when the key is back.
  assert.equal(delays.length, 31, `${delays.length} sleeps`);
  assert.ok(delays.every((d) => d === 8), `delays ${delays}`);
  assert.ok(elapsed >= 31 * 8 - 5, `slept ${Math.round(elapsed)} ms in total`);
  assert.equal(result.retryAt, clock.now + 8);
  assert.equal(result.retryAfterMs, 8);
  assert.ok(reads <= 2 * 32 + 2, `the clock was read ${reads} times`);
  assertConsistent(pool, clock.now);
});

test("a run that must wait sleeps, then proceeds (the clock moves with real time)", async () => {
  const start = Date.now();
  let reads = 0;
  const clock = () => (reads++, T0 + (Date.now() - start));
  const pool = new Pool({ profiles: keys(2), clock });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 80 });
  pool.markFailure("k1", "rate_limit", { retryAfterMs: 150 });
  const t0 = performance.now();
  const { result, delays } = await withTimerSpy(() => pool.run(({ profileId }) => profileId));
  const elapsed = performance.now() - t0;
  assert.equal(result.profileId, "k0", "the soonest to recover");
  assert.ok(elapsed >= 75 && elapsed < 1000, `waited ${Math.round(elapsed)} ms`);
  assert.ok(delays.length >= 1 && delays.length <= 3 && delays.every((d) => d >= 1), `delays ${delays}`);
  assert.ok(reads < 20, `the clock was read ${reads} times`);
});

test("now = 0: every operation works, times of 0 are times, and a restart reads them back", async () => {
  const clock = manualClock(0);
  const store = memoryStore();
  const pool = new Pool({ profiles: keys(2), clock: clock.fn, storage: store, maxWaitMs: 0 });
  await pool.init();
  const r = await pool.run(({ profileId }) => profileId);
  assert.equal(r.profileId, "k0");
  pool.markFailure("k1", "server_error");
  let s = assertConsistent(pool, 0);
  assert.deepEqual([s.profiles[0].lastUsed, s.profiles[0].lastSuccess], [0, 0]);
  assert.deepEqual([s.profiles[1].cooldownUntil, s.profiles[1].lastFailure], [MIN, 0]);
  await pool.close();
  const again = new Pool({ profiles: keys(2), clock: clock.fn, storage: store });
  await again.init();
  s = assertConsistent(again, 0);
  assert.equal(s.profiles[0].lastUsed, 0);
  assert.equal(s.profiles[1].cooldownUntil, MIN);
  assert.equal((await again.run(({ profileId }) => profileId)).profileId, "k0");
});

test("near 2^53: a rest that would end past 2^53 ends there, and is kept through the store (was: written past 2^53, then dropped by every reader, this pool's next load included); later times are refused", async () => {
  const NOW = MAX - 30_000;
  const clock = manualClock(NOW);
  const store = memoryStore();
  const warnings = [];
  const pool = new Pool({ profiles: keys(3), clock: clock.fn, storage: store, maxWaitMs: 0, logger: { warn: (m) => warnings.push(m) } });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  pool.markFailure("k1", "billing");
  const s = assertConsistent(pool, NOW);
  assert.equal(s.profiles[0].remainingMs, 30_000);
  assert.equal(s.profiles[1].remainingMs, 30_000);
  assert.equal(s.profiles[1].cooldownUntil, MAX);
  clock.now = MAX + 2;
  assert.throws(() => pool.getStatus(), { name: "RangeError", message: `clock() must return ms since the epoch in [0, 2^53], got ${MAX + 2}` });
  assert.throws(() => pool.markFailure("k0", "auth"), RangeError);
  clock.now = NOW;
  assert.equal(statusOf(pool, "k0").errorCount, 1, "the refused call changed nothing");
  pool.markFailure("k2", "rate_limit");
  await pool.flush(); // the write merges the store back in: the pool's own rests stay
  assert.equal(statusOf(pool, "k1").state, "disabled");
  const e = await rejection(pool.run(() => 1));
  assert.ok(e instanceof AllProfilesExhaustedError);
  assert.equal(e.retryAfterMs, 30_000);
  await pool.close();
  const again = new Pool({ profiles: keys(3), clock: clock.fn, storage: store, logger: { warn: (m) => warnings.push(m) } });
  await again.init();
  assert.deepEqual(
    again.getStatus().profiles.map((p) => [p.id, p.state, p.cooldownUntil, p.errorCount]),
    [
      ["k0", "cooldown", MAX, 1],
      ["k1", "disabled", MAX, 1],
      ["k2", "cooldown", MAX, 1],
    ],
  );
  assert.deepEqual(warnings, []);
  // At 2^53 itself nothing can rest: a failure is counted, and the key stays available.
  clock.now = MAX;
  const last = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
  last.markFailure("k0", "rate_limit");
  assert.deepEqual([statusOf(last, "k0").state, statusOf(last, "k0").errorCount], ["available", 1]);
});

test("the clock steps back while calls are in flight: their 429s are still one incident (was: a call's late 429 started a second, longer rest)", async () => {
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(1), clock: clock.fn, maxWaitMs: 0 });
  const rests = [];
  pool.on("cooldown", (e) => rests.push([e.errorCount, e.cooldownMs]));
  const pending = [];
  const runs = [];
  for (let i = 0; i < 3; i++) {
    runs.push(
      pool
        // The three calls of the burst wait for their answer; a later attempt succeeds.
        .run(() => (pending.length < 3 ? new Promise((resolve, reject) => pending.push(reject)) : "ok"))
        .then(
          () => "ok",
          (e) => e.name,
        ),
    );
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(pending.length, 3);
  clock.now -= 5000; // the system clock is stepped back (NTP) while the three calls run
  pending[0](httpError(429, "rate limit"));
  assert.equal(await runs[0], "AllProfilesExhaustedError");
  assert.deepEqual(rests, [[1, MIN]]);
  clock.now += 70_000; // the rest is over
  pending[1](httpError(429, "rate limit")); // the same burst, answered late
  pending[2](httpError(429, "rate limit"));
  // Late failures change nothing: the runs try the key again, and it answers.
  assert.deepEqual(await Promise.all(runs.slice(1)), ["ok", "ok"]);
  assert.deepEqual(rests, [[1, MIN]], "no second rest");
  const s = pool.getStatus().profiles[0];
  assert.deepEqual([s.state, s.errorCount], ["available", 1]);
});
