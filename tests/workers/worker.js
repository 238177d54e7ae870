// A Worker for the workerd test (tests/node/cloudflare-kv.test.mjs): the package's JS layer
// (pkg-template/src) with the built wasm, bundled by the test with esbuild, run by
// Miniflare with a KV namespace bound as KV. Not a Workers entry of the package: only what
// this test needs to load the module in workerd.
import * as glue from "key-carousel-wasm";
import wasmModule from "./key_carousel_bg.wasm";
import { setCore } from "../../pkg-template/src/core.js";
import { Pool, cloudflareKvStore } from "../../pkg-template/src/index.js";

setCore(glue, glue.initSync({ module: wasmModule }));

const profiles = [0, 1, 2].map((i) => ({ id: `k${i}`, provider: "openai", apiKey: `sk-worker-${i}-0123456789abcdef` }));

/** One pool per isolate, as Workers often keep one (for /isolate). */
let shared;

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/isolate") return isolate(request, env);
    if (new URL(request.url).pathname === "/waiter") return waiter(request, env);
    if (new URL(request.url).pathname === "/hung") return hung(request);
    const logs = [];
    const logger = { warn: (m) => logs.push(m), error: (m) => logs.push(m) };
    const pool = new Pool({ profiles, storage: cloudflareKvStore(env.KV, { key: "worker-state" }), logger });
    const { pathname } = new URL(request.url);
    if (pathname === "/fail-k0") {
      // k0 answers 429: the pool rotates to k1; the write goes on after the response.
      const result = await pool.run(({ profileId }) => {
        if (profileId === "k0") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
        return profileId;
      });
      ctx.waitUntil(pool.flush());
      return Response.json({ value: result.value, logs });
    }
    if (pathname === "/pick") {
      const picks = [];
      for (let i = 0; i < 3; i++) picks.push((await pool.run(({ profileId }) => profileId)).value);
      ctx.waitUntil(pool.flush());
      return Response.json({ picks, k0: pool.getStatus().profiles[0].state, logs });
    }
    return new Response("not found", { status: 404 });
  },
};

/**
 * The isolate's pool, no flush: `?first=` what the first key called answers, `?then=` what
 * the next answers ("ok", "429", "400": the request's fault, rethrown). A run that throws
 * ends the request without `ctx.waitUntil(pool.flush())`, as a handler that lets it throw does.
 */
async function isolate(request, env) {
  shared ??= new Pool({ profiles, storage: cloudflareKvStore(env.KV, { key: "isolate-state" }) });
  const q = new URL(request.url).searchParams;
  const answers = [q.get("first"), q.get("then")];
  const t0 = Date.now();
  let n = 0;
  try {
    const { value } = await shared.run(({ profileId }) => {
      const a = answers[Math.min(n++, 1)];
      if (a === "429") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
      if (a === "400") throw Object.assign(new Error("This model's maximum context length is 8192 tokens"), { status: 400 });
      return profileId;
    });
    return Response.json({ value, ms: Date.now() - t0 });
  } catch (e) {
    return Response.json({ threw: e.message, ms: Date.now() - t0 });
  }
}

/** One key, one pool per isolate: `?mark=1` rests the key; else a run waits for it (`?abortMs=`). */
let waiting;
async function waiter(request, env) {
  waiting ??= new Pool({ profiles: profiles.slice(0, 1), storage: cloudflareKvStore(env.KV, { key: "waiter-state" }) });
  const q = new URL(request.url).searchParams;
  if (q.get("mark") === "1") {
    waiting.markFailure("k0", "rate_limit");
    await waiting.flush();
    return Response.json({ marked: true });
  }
  const t0 = Date.now();
  try {
    const { value } = await waiting.run(({ profileId }) => profileId, { signal: AbortSignal.timeout(Number(q.get("abortMs"))) });
    return Response.json({ value, ms: Date.now() - t0 });
  } catch (e) {
    return Response.json({ threw: e.name, ms: Date.now() - t0 });
  }
}

/**
 * A pool per isolate on a store whose first write never answers. `?step=1` records a failure
 * and ends the request with that write in flight (no flush); `?step=2` comes "31 s later"
 * (Date.now moved on: workerd's clock stands still between I/O), records another and flushes.
 * The store is the twin of store-faults.test.mjs's oneHungWrite(), inside this Worker's bundle.
 */
let hungPool;
const hungState = { stored: null, updates: 0, logs: [] };
async function hung(request) {
  hungPool ??= new Pool({
    profiles,
    logger: { warn: (m) => hungState.logs.push(m), error: (m) => hungState.logs.push(m) },
    storage: {
      name: "hung once",
      load: async () => hungState.stored,
      update: (merge) => {
        if (++hungState.updates === 1) return new Promise(() => {});
        hungState.stored = merge(hungState.stored);
        return Promise.resolve(hungState.stored);
      },
    },
  });
  const step = new URL(request.url).searchParams.get("step");
  if (step === "1") {
    await hungPool.init();
    hungPool.markFailure("k0", "rate_limit");
    await new Promise((resolve) => setTimeout(resolve, 20)); // the write starts, and hangs
    return Response.json({ updates: hungState.updates });
  }
  const realNow = Date.now;
  Date.now = () => realNow.call(Date) + 31_000;
  try {
    hungPool.markFailure("k1", "server_error");
    let flushed;
    await hungPool.flush().then(() => (flushed = "ok"), (e) => (flushed = e.message));
    const profiles = hungState.stored?.profiles ?? {};
    const cooling = Object.keys(profiles).filter((id) => profiles[id].cooldownUntil > realNow.call(Date)).sort();
    return Response.json({ flushed, cooling, updates: hungState.updates, logs: hungState.logs });
  } finally {
    Date.now = realNow;
  }
}
