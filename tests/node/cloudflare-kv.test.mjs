// cloudflareKvStore against Miniflare's KV (workerd's implementation): from Node through
// Miniflare's API, and inside workerd with a Worker bundled from the package's JS layer and
// the built wasm.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { Pool, cloudflareKvStore, mergeSnapshots } from "key-carousel";
import { keys, tick } from "./helpers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let mf;
let kv;
let workDir;

before(async () => {
  // The Worker: tests/workers/worker.js bundled (the wasm stays a module of its own).
  workDir = mkdtempSync(join(tmpdir(), "kc-worker-"));
  await esbuild.build({
    entryPoints: [join(root, "tests", "workers", "worker.js")],
    outfile: join(workDir, "worker.mjs"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    alias: { "key-carousel-wasm": join(root, "target", "wasm-bindgen", "key_carousel.js") },
    external: ["./key_carousel_bg.wasm"],
    logLevel: "warning",
  });
  copyFileSync(join(root, "pkg", "key_carousel_bg.wasm"), join(workDir, "key_carousel_bg.wasm"));
  mf = new Miniflare({
    modules: true,
    scriptPath: join(workDir, "worker.mjs"),
    modulesRoot: workDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-01-01",
    kvNamespaces: ["KV"],
  });
  kv = await mf.getKVNamespace("KV");
});
after(async () => {
  await mf?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

let keySeq = 0;
const freshKey = (name) => `kc-test:${name}:${keySeq++}`;

function capture() {
  const c = { warn: [], error: [] };
  c.logger = { warn: (m) => c.warn.push(m), error: (m) => c.error.push(m) };
  return c;
}

async function stored(key) {
  const text = await kv.get(key, "text");
  return text === null ? null : JSON.parse(text);
}

const coolingIn = (state, now = Date.now()) =>
  Object.entries(state.profiles)
    .filter(([, r]) => r.cooldownUntil > now)
    .map(([id]) => id)
    .sort();

test("a failure reaches KV at once; a pool started later loads it and avoids the key", async () => {
  const key = freshKey("basic");
  const a = new Pool({ profiles: keys(3), storage: cloudflareKvStore(kv, { key }) });
  await a.init();
  a.markFailure("k2", "billing");
  await a.flush();
  const state = await stored(key);
  assert.deepEqual(coolingIn(state), ["k2"]);
  assert.equal(state.profiles.k2.lastFailureReason, "billing");
  assert.equal(state.profiles.k2.cooldownLong, true);

  const b = new Pool({ profiles: keys(3), storage: cloudflareKvStore(kv, { key }) });
  await b.init();
  assert.equal(b.getStatus().profiles[2].state, "disabled");
  const picks = [];
  for (let i = 0; i < 4; i++) picks.push((await b.run(({ profileId }) => profileId)).value);
  assert.ok(!picks.includes("k2"), `picked ${picks}`);
  await a.close();
  await b.close();
  assert.throws(() => cloudflareKvStore({ get() {} }), /KV namespace binding/);
  assert.throws(() => cloudflareKvStore(kv, { minWriteIntervalMs: -1 }), /minWriteIntervalMs/);
});

test("two writers racing: the later put overwrites the other's update; that writer's next write merges it back", async () => {
  const key = freshKey("race");
  // Writer A's put waits until writer B has read and put: A's read-merge-write spans B's.
  let releaseA;
  const aMayPut = new Promise((r) => (releaseA = r));
  let aRead;
  let armed = false; // after init: the get of A's write
  const aHasRead = new Promise((r) => (aRead = r));
  const gated = {
    get: (...args) => kv.get(...args).finally(() => armed && aRead()),
    put: async (...args) => {
      await aMayPut;
      return kv.put(...args);
    },
  };
  const a = new Pool({ profiles: keys(3), storage: cloudflareKvStore(gated, { key, minWriteIntervalMs: 0 }) });
  const b = new Pool({ profiles: keys(3), storage: cloudflareKvStore(kv, { key, minWriteIntervalMs: 0 }) });
  await a.init();
  await b.init();
  armed = true;
  a.markFailure("k0", "rate_limit");
  await aHasRead; // A has read the (empty) state and waits to put
  b.markFailure("k1", "rate_limit");
  await b.flush();
  assert.deepEqual(coolingIn(await stored(key)), ["k1"]);
  releaseA();
  await a.flush();
  assert.deepEqual(coolingIn(await stored(key)), ["k0"], "A's put, merged with what A read, overwrote B's cooldown");
  // Eventual: B's next write (any change, here a success) reads k0 and puts k0 and k1.
  await b.run(() => 1);
  await b.flush();
  assert.deepEqual(coolingIn(await stored(key)), ["k0", "k1"]);
  await a.close();
  await b.close();
});

test("puts to the key are at least minWriteIntervalMs apart (KV's one write per second per key), and each carries everything", async () => {
  const key = freshKey("spacing");
  const puts = [];
  const timed = { get: (...a) => kv.get(...a), put: (k, v) => (puts.push({ k, at: Date.now() }), kv.put(k, v)) };
  const pool = new Pool({ profiles: keys(4), storage: cloudflareKvStore(timed, { key, minWriteIntervalMs: 250 }) });
  await pool.init();
  for (const id of ["k0", "k1", "k2"]) {
    pool.markFailure(id, "rate_limit");
    await tick(20);
  }
  await pool.flush();
  const at = puts.filter((p) => p.k === key).map((p) => p.at);
  assert.ok(at.length >= 2 && at.length <= 3, `${at.length} puts`);
  for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= 245, `puts ${at[i] - at[i - 1]} ms apart`);
  assert.deepEqual(coolingIn(await stored(key)), ["k0", "k1", "k2"]);
  await pool.close();
});

test("a store and a pool per request (the README's Worker): concurrent requests' puts to the key are still spaced", async () => {
  const key = freshKey("per-request");
  const puts = [];
  // A new object per request, as `env.KV` may be.
  const binding = () => ({ get: (...a) => kv.get(...a), put: (k, v) => (puts.push({ k, at: Date.now() }), kv.put(k, v)) });
  const request = async (id) => {
    const pool = new Pool({ profiles: keys(2), storage: cloudflareKvStore(binding(), { key, minWriteIntervalMs: 250 }) });
    await pool.init();
    pool.markFailure(id, "rate_limit");
    await pool.flush();
  };
  await Promise.all([request("k0"), request("k1")]);
  const at = puts.filter((p) => p.k === key).map((p) => p.at);
  assert.equal(at.length, 2, `${at.length} puts`);
  assert.ok(at[1] - at[0] >= 245, `puts ${at[1] - at[0]} ms apart`);
  assert.deepEqual(coolingIn(await stored(key)), ["k0", "k1"]);
});

test("the wall clock steps back an hour between two puts: the second waits one interval, not an hour", { timeout: 20_000 }, async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  const key = freshKey("clock-back");
  const values = new Map();
  const puts = [];
  const memory = { get: async (k) => values.get(k) ?? null, put: async (k, v) => (puts.push(Date.now()), values.set(k, v)) };
  const store = cloudflareKvStore(memory, { key, minWriteIntervalMs: 1000 });
  const merge = (stored) => mergeSnapshots(stored, { version: 1, profiles: { k0: { errorCount: 1, lastFailure: 1 } } });
  await store.update(merge);
  t.mock.timers.setTime(Date.now() - 3_600_000);
  const second = store.update(merge);
  for (let i = 0; i < 20 && puts.length < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    t.mock.timers.tick(100);
  }
  await second;
  assert.equal(puts.length, 2);
});

test("a bad value: the pool starts fresh, warns once, and keeps the value under <key>:corrupt:<time>", async () => {
  const key = freshKey("corrupt");
  await kv.put(key, '{"version": 3, "profiles": {}}');
  const log = capture();
  const t0 = Date.now();
  const pool = new Pool({ profiles: keys(2), storage: cloudflareKvStore(kv, { key, minWriteIntervalMs: 0 }), logger: log.logger });
  await pool.init();
  assert.equal(log.warn.length, 1, log.warn.join("\n"));
  assert.match(log.warn[0], /Cloudflare KV key "kc-test:corrupt:\d+" is unusable \(unsupported version 3; starting fresh\)/);
  const side = /a copy is kept at (\S+)$/.exec(log.warn[0])?.[1];
  assert.match(side, new RegExp(`^${key}:corrupt:\\d+$`));
  const time = Number(side.split(":").pop());
  assert.ok(time >= t0 && time <= Date.now());
  assert.equal(await kv.get(side, "text"), '{"version": 3, "profiles": {}}');
  assert.equal((await pool.run(({ profileId }) => profileId)).value, "k0");
  pool.markFailure("k1", "rate_limit");
  await pool.flush();
  assert.deepEqual(coolingIn(await stored(key)), ["k1"]);
  assert.equal(log.warn.length, 1);
  await pool.close();
});

test("in workerd: a Worker (package JS layer + built wasm) cools k0 in one request; the next request's pool avoids it", async () => {
  const res = await mf.dispatchFetch("http://worker.test/fail-k0");
  const body = await res.json();
  assert.equal(body.value, "k1", JSON.stringify(body));
  // The write runs in ctx.waitUntil after the response.
  let state = null;
  for (let i = 0; i < 100 && !(state && coolingIn(state).includes("k0")); i++) {
    await tick(20);
    state = await stored("worker-state");
  }
  assert.deepEqual(coolingIn(state), ["k0"]);
  assert.equal(state.profiles.k0.lastFailureReason, "rate_limit");
  const next = await (await mf.dispatchFetch("http://worker.test/pick")).json();
  assert.equal(next.k0, "cooldown");
  assert.ok(!next.picks.includes("k0"), JSON.stringify(next));
  assert.deepEqual(next.logs, []);
});

test("in workerd: a request that ends without flush (its run threw) leaves no write behind: the next failure is put at once", async () => {
  // workerd cancels the timers a request set when it ends: here the one that would write
  // the first pick's lastUsed. The pool must not wait on it for the next request's failure.
  const get = async (q) => (await mf.dispatchFetch(`http://worker.test/isolate?${q}`)).json();
  assert.match((await get("first=ok")).value, /^k\d$/);
  assert.match((await get("first=400")).threw, /context length/);
  await tick(50);
  const r = await get("first=429&then=400");
  assert.match(r.threw ?? "", /context length/, JSON.stringify(r));
  // The run waited for its failure's write: well under the 1 s it gives a write that hangs.
  assert.ok(r.ms < 800, `the failing run took ${r.ms} ms`);
  const state = await stored("isolate-state");
  assert.equal(coolingIn(state ?? { profiles: {} }).length, 1, JSON.stringify(state));
});

test("in workerd: a run waiting for a rest reads KV every 2 s, also after an earlier request's wait ended (workerd cancelled its timers): another process's clear wakes it", { timeout: 30_000 }, async () => {
  const get = async (q) => (await mf.dispatchFetch(`http://worker.test/waiter?${q}`)).json();
  assert.equal((await get("mark=1")).marked, true);
  assert.equal((await get("abortMs=300")).threw, "TimeoutError"); // a wait that ended with its request
  // Another process clears k0 in KV while the next request's run waits.
  const next = get("abortMs=8000");
  await tick(300);
  const other = new Pool({ profiles: [{ id: "k0", provider: "openai", apiKey: "sk-worker-0-0123456789abcdef" }], storage: cloudflareKvStore(kv, { key: "waiter-state", minWriteIntervalMs: 0 }) });
  await other.init();
  other.clearCooldown("k0");
  await other.close();
  const r = await next;
  assert.equal(r.value, "k0", JSON.stringify(r));
  assert.ok(r.ms < 5000, `woken after ${r.ms} ms`);
});

test("in workerd: a write left in flight by a request that ended, never answering, is taken as lost by a later request: both failures are written (was: no write ever again)", { timeout: 30_000 }, async () => {
  // workerd cancels an ended request's timers and promise callbacks: the write's own timer
  // and anything chained on it never run; the next request must end it itself.
  const get = async (q) => (await mf.dispatchFetch(`http://worker.test/hung?${q}`)).json();
  assert.equal((await get("step=1")).updates, 1);
  let timer;
  const r = await Promise.race([get("step=2"), new Promise((resolve) => (timer = setTimeout(resolve, 10_000, { hung: true })))]);
  clearTimeout(timer);
  assert.equal(r.flushed, "ok", JSON.stringify(r));
  assert.deepEqual(r.cooling, ["k0", "k1"]);
  assert.equal(r.updates, 2);
  assert.match(r.logs.join("\n"), /saving state to hung once failed \(attempt 1; .*did not answer in 30 s: taken as lost/);
});

test("a run that fails over is not held back by the KV's write spacing: the failure is the first put (was: the pick was put at once, and the failure's put waited minWriteIntervalMs; found by an audit)", async () => {
  const data = new Map();
  const puts = [];
  const namespace = {
    get: async (key) => data.get(key) ?? null,
    put: async (key, value) => {
      puts.push(JSON.parse(value));
      data.set(key, value);
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: cloudflareKvStore(namespace, { minWriteIntervalMs: 2000 }) });
  await pool.init();
  // A network call's worth of time between the pick and the 429.
  const task = async ({ profileId }) => {
    await new Promise((r) => setTimeout(r, 20));
    if (profileId === "k0") throw Object.assign(new Error("429"), { status: 429 });
    return profileId;
  };
  const t0 = Date.now();
  const res = await pool.run(task);
  const took = Date.now() - t0;
  assert.equal(res.value, "k1");
  assert.ok(took < 1000, `the run settled after ${took} ms (the spacing is 2,000)`);
  assert.equal(puts[0]?.profiles?.k0?.errorCount, 1, `the first put carries the failure: ${JSON.stringify(puts)}`);
  await pool.close();
});
