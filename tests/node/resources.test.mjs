// Resource bounds (issue 7): 100,000 profiles, 10,000 concurrent runs (held in their tasks,
// waiting for a rest to end, aborted while waiting), 1,000,000 sequential calls with flat
// memory (JS heap and wasm memory, measured after full collections in a child process), and
// no timer left after close(): a process using a pool ends by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { getEventListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { LlmKeyPool, Pool, memoryStore } from "key-carousel";
import { T0, manualClock, rejection, tick } from "./helpers.mjs";

const CHILD = fileURLToPath(new URL("./fixtures/resources-child.mjs", import.meta.url));

function child(args, { timeout = 60_000, gc = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    execFile(process.execPath, [...(gc ? ["--expose-gc"] : []), CHILD, ...args], { timeout }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child ${args.join(" ")}: ${err.message}\n${stderr}`));
      resolve({ result: JSON.parse(stdout.trim().split("\n").pop()), ms: Date.now() - t0, stderr });
    });
  });
}

const keys = (n, providers = 3) => Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: `p${i % providers}`, apiKey: `sk-res-${i}-0123456789` }));

test("1,000,000 sequential calls: the JS heap and the wasm memory stay flat", async () => {
  const { result } = await child(["sequential", "1000000"], { gc: true, timeout: 120_000 });
  const { before, after, calls } = result;
  const perCall = (after.heap - before.heap) / calls;
  assert.equal(after.wasm, before.wasm, `wasm memory ${before.wasm} -> ${after.wasm} bytes`);
  assert.ok(perCall < 2, `JS heap ${before.heap} -> ${after.heap} bytes: ${perCall.toFixed(3)} bytes per call`);
  assert.ok(after.external - before.external < 1 << 20, `external ${before.external} -> ${after.external}`);
  assert.equal(result.inFlight, 0);
});

test("100,000 sequential calls on 100,000 profiles: the JS heap and the wasm memory stay flat", async () => {
  const { result } = await child(["sequential", "100000", "100000", "nostore"], { gc: true, timeout: 120_000 });
  const { before, after, calls } = result;
  assert.equal(after.wasm, before.wasm, `wasm memory ${before.wasm} -> ${after.wasm} bytes`);
  assert.ok((after.heap - before.heap) / calls < 2, `JS heap ${before.heap} -> ${after.heap} bytes over ${calls} calls`);
});

test("saving and loading 100,000 profiles leaves the wasm memory as it was (was: 14 MB more after two saves and 7 MB after a load: the module kept a copy of the whole state)", async () => {
  const { result } = await child(["persisted", "100000"], { gc: true, timeout: 120_000 });
  const { used, saved, built, loaded } = result;
  assert.equal(result.stored, 100_000);
  // The module's memory never shrinks: what a save or a load took in it stays taken.
  assert.ok(saved.wasm - used.wasm <= 1 << 20, `two saves: wasm memory ${used.wasm} -> ${saved.wasm} bytes`);
  assert.ok(loaded.wasm - built.wasm <= 1 << 20, `the load: wasm memory ${built.wasm} -> ${loaded.wasm} bytes`);
});

test("100,000 profiles: built, used, rotated, reported and persisted in bounded time", async () => {
  const clock = manualClock();
  const store = memoryStore();
  const t0 = performance.now();
  const pool = new Pool({ profiles: keys(100_000), clock: clock.fn, storage: store, maxWaitMs: 0, saveIntervalMs: 1 });
  await pool.init();
  const built = performance.now() - t0;
  const seen = new Set();
  for (let i = 0; i < 1000; i++) seen.add((await pool.run(({ profileId }) => profileId, { provider: "p1" })).profileId);
  assert.equal(seen.size, 1000, "round-robin: 1,000 runs, 1,000 different keys of the preferred provider");
  assert.ok([...seen].every((id) => Number(id.slice(1)) % 3 === 1));
  for (let i = 0; i < 1000; i++) pool.markFailure(`k${i * 97}`, "rate_limit");
  const t1 = performance.now();
  const s = pool.getStatus();
  const statusMs = performance.now() - t1;
  assert.equal(s.profiles.length, 100_000);
  assert.equal(s.totalInCooldown, 1000);
  await pool.flush();
  const stored = JSON.parse(store.load());
  assert.equal(Object.keys(stored.profiles).length, 100_000);
  await pool.close();
  // A second process loads it.
  const t2 = performance.now();
  const again = new Pool({ profiles: keys(100_000), clock: clock.fn, storage: store });
  await again.init();
  const loaded = performance.now() - t2;
  assert.equal(again.getStatus().totalInCooldown, 1000);
  assert.ok(built < 5000 && statusMs < 2000 && loaded < 5000, `build ${Math.round(built)} ms, status ${Math.round(statusMs)} ms, load ${Math.round(loaded)} ms`);
});

test("a failed attempt costs the same with 100,000 keys as with 10 (was: 13x, redaction scanned every key)", async () => {
  const { FailoverError } = await import("key-carousel");
  const cost = async (n) => {
    let now = T0;
    const pool = new Pool({ profiles: keys(n, 1), clock: () => now, maxWaitMs: 0 });
    const once = async () => {
      now += 10;
      let first = true;
      await pool.run(() => (first ? ((first = false), Promise.reject(new FailoverError("Too Many Requests", { reason: "rate_limit", retryAfterMs: 1 }))) : 1));
    };
    for (let i = 0; i < 300; i++) await once(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < 3000; i++) await once();
    return (performance.now() - t0) / 3000;
  };
  const small = await cost(10);
  const large = await cost(100_000);
  assert.ok(large < 3 * small + 0.005, `per run with a failed attempt: ${(small * 1000).toFixed(1)} µs with 10 keys, ${(large * 1000).toFixed(1)} µs with 100,000`);
});

test("a failure whose message echoes a masked key costs the same with 100,000 keys sharing their prefix (sk-proj-) as with 10", async () => {
  const cost = async (n) => {
    let now = T0;
    const profiles = Array.from({ length: n }, (_, i) => ({ id: `p${i}`, provider: "openai", apiKey: `sk-proj-${String(i).padStart(8, "0")}-${"q".repeat(24)}` }));
    const pool = new Pool({ profiles, clock: () => now, maxWaitMs: 0 });
    const once = async () => {
      now += 1000; // a provider's wait is at least 1 s: each call's rest is over by the next
      let first = true;
      await pool.run(() => {
        if (!first) return 1;
        first = false;
        // What OpenAI answers for a wrong key: the key's first characters and last four.
        throw Object.assign(new Error("Incorrect API key provided: sk-proj-****qqqq. You can find your API key at ..."), { status: 429, headers: { "retry-after-ms": "1" } });
      });
    };
    for (let i = 0; i < 300; i++) await once(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) await once();
    return (performance.now() - t0) / 2000;
  };
  const small = await cost(10);
  const large = await cost(100_000);
  assert.ok(large < 3 * small + 0.005, `per run with a failed attempt: ${(small * 1000).toFixed(1)} µs with 10 keys, ${(large * 1000).toFixed(1)} µs with 100,000`);
});

test("10,000 concurrent runs held in their tasks: spread over the keys, counted in flight, all complete, no stack overflow", async () => {
  const pool = new Pool({ profiles: keys(3, 1), maxWaitMs: 0 });
  let open;
  const gate = new Promise((r) => (open = r));
  const runs = Array.from({ length: 10_000 }, () => pool.run(async ({ profileId }) => (await gate, profileId)));
  await tick();
  const inFlight = pool.getStatus().profiles.map((p) => p.inFlight);
  assert.deepEqual(inFlight, [3334, 3333, 3333]);
  open();
  const results = await Promise.all(runs);
  assert.equal(results.length, 10_000);
  assert.deepEqual(pool.getStatus().profiles.map((p) => p.inFlight), [0, 0, 0]);
});

test("10,000 concurrent runs waiting for a rest to end: each sleeps once and proceeds; aborted, each stops, and the signal's one shared listener is removed", async () => {
  const start = Date.now();
  const pool = new Pool({ profiles: keys(2, 1), clock: () => T0 + (Date.now() - start) });
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 60 });
  pool.markFailure("k1", "rate_limit", { retryAfterMs: 60 });
  let calls = 0;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: 10_000 }, () => pool.run(({ profileId }) => (calls++, profileId))));
  const ms = performance.now() - t0;
  assert.equal(results.length, 10_000);
  assert.equal(calls, 10_000, "one call each: none spun through its attempts");
  assert.ok(ms >= 55, `they waited (${Math.round(ms)} ms)`);

  pool.markFailure("k0", "billing");
  pool.markFailure("k1", "billing"); // 5 h
  const ac = new AbortController();
  const waiting = Array.from({ length: 10_000 }, () => pool.run(() => "never", { signal: ac.signal }));
  await tick(5);
  assert.equal(getEventListeners(ac.signal, "abort").length, 1, "one listener, shared by the waiting runs");
  ac.abort();
  const errors = await Promise.all(waiting.map((p) => rejection(p)));
  assert.ok(errors.every((e) => e === ac.signal.reason));
  assert.equal(getEventListeners(ac.signal, "abort").length, 0, "no listener left on the signal");
});

test("no timer is left after close(), and a process using a pool ends by itself (with or without close)", async () => {
  for (const store of ["file", "memory", "failing"]) {
    for (const close of ["close", "none"]) {
      const { result, ms } = await child(["exit", store, close], { timeout: 10_000 });
      assert.ok(ms < 5000, `${store}/${close}: the process ended after ${ms} ms`);
      assert.equal(result.active, 0, `${store}/${close}: no timer keeps the process alive`);
      if (close === "close") assert.equal(result.live, 0, `${store}: close() left ${result.live} timer(s)`);
      rmSync(result.dir, { recursive: true, force: true });
    }
  }
});

test("pools dropped while their store fails are collected, with their wasm memory (was: each kept for ever by its pending write, retried every 30 s)", async () => {
  const { result } = await child(["dropped", "300"], { gc: true, timeout: 60_000 });
  assert.equal(result.alive, 0, `${result.alive} of 300 dropped pools still alive`);
});

test("pools dropped with a change not yet saved leave nothing behind once their write timers fire (was: a WeakRef each, kept for ever; found by an audit)", async () => {
  const { result } = await child(["unsaved", "2000"], { gc: true, timeout: 60_000 });
  assert.equal(result.alive, 0, `${result.alive} of 2,000 dropped pools still alive`);
  assert.ok(result.weakRefs < 20, `${result.weakRefs} WeakRefs left by 2,000 dropped pools`);
});

test("close() ends the runs waiting for a rest with AllProfilesExhaustedError and when to come back, and later runs do not wait (was: they held a shutdown for hours)", async () => {
  for (const Kind of [Pool, (await import("key-carousel")).LlmKeyPool]) {
    const pool = new Kind({ profiles: keys(1) });
    pool.markFailure("k0", "billing"); // 5 h
    const waiting = pool.run(() => "never");
    await tick(5);
    const t0 = Date.now();
    await pool.close();
    const e = await rejection(waiting);
    assert.equal(e.name, "AllProfilesExhaustedError", Kind.name);
    if (Kind === Pool) assert.ok(e.retryAt > t0 + 4 * 3_600_000, "retryAt: the rest's end");
    const later = await rejection(pool.run(() => "never"));
    assert.equal(later.name, "AllProfilesExhaustedError");
  }
});

test("close() twice closes the store once; flush() after a close whose write failed writes nothing to the closed store (was: store.close() twice, then a save to the closed store)", async () => {
  const calls = [];
  let down = true;
  const store = {
    load: () => null,
    save: () => (calls.push("save"), down ? Promise.reject(new Error("down")) : undefined),
    close: () => calls.push("close"),
  };
  const pool = new Pool({ profiles: keys(1), storage: store, logger: {} });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  const first = pool.close();
  const second = pool.close();
  assert.equal(second, first, "a second close() returns the first one's promise (as index.d.ts says; was: a new one)");
  const [a, b] = await Promise.allSettled([first, second]);
  assert.deepEqual([a.status, b.status], ["rejected", "rejected"]);
  assert.equal(calls.filter((c) => c === "close").length, 1);
  down = false;
  const saves = calls.filter((c) => c === "save").length;
  await pool.flush();
  assert.equal(calls.filter((c) => c === "save").length, saves, "no save after close()");
  const v1 = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "sk-v1-close-0123456789" }] });
  assert.equal(v1.close(), v1.close(), "LlmKeyPool too");
});
