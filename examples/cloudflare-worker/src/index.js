// A Worker that answers GET /chat?q=... with OpenAI, key-carousel choosing the key, and
// GET /status with the pool's status. Wrangler bundles key-carousel's Workers build, which
// imports its .wasm as a module: no fetch or compile at run time, no `await init()`.

import { AllProfilesExhaustedError, Pool, cloudflareKvStore } from "key-carousel";

// The pool's state in KV (binding KC_STATE): every isolate, and the next deploy, sees which
// keys rest. Puts to the key are spaced 1 s apart (KV's limit per key).
// One pool per isolate, so cooldowns carry over from one request to the next.
let pool;
function getPool(env) {
  pool ??= new Pool({
    profiles: env.OPENAI_API_KEYS.split(",").map((apiKey, i) => ({ id: `k${i}`, provider: "openai", model: "gpt-4o-mini", apiKey: apiKey.trim() })),
    maxWaitMs: 0, // a Worker should not sit waiting for a key: answer 503 with Retry-After instead
    storage: cloudflareKvStore(env.KC_STATE, { key: "key-carousel" }),
  });
  return pool;
}

async function chat(env, { apiKey, model, signal }, question) {
  const res = await fetch(`${env.OPENAI_BASE_URL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: question }] }),
    signal,
  });
  if (!res.ok) {
    // The status and headers (retry-after) are what the pool classifies and obeys.
    throw Object.assign(new Error(`OpenAI ${res.status}: ${await res.text()}`), { status: res.status, headers: res.headers });
  }
  return (await res.json()).choices[0].message.content;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const pool = getPool(env);
    if (url.pathname === "/status") {
      await pool.init(); // an isolate's first request: what KV holds (read once; `run` waits for it itself)
      return Response.json(pool.getStatus());
    }
    if (url.pathname !== "/chat") return new Response("try /chat?q=hello or /status\n", { status: 404 });
    try {
      const question = url.searchParams.get("q") ?? "Say hello";
      const { value, profileId, attempts } = await pool.run((ctx) => chat(env, ctx, question), { provider: "openai" });
      return Response.json({
        answer: value,
        profileId,
        attempts: attempts.map(({ profileId, reason, cooldownMs }) => ({ profileId, reason, cooldownMs })),
        persistence: "KV",
      });
    } catch (err) {
      if (!(err instanceof AllProfilesExhaustedError)) throw err;
      const seconds = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      return Response.json({ error: "every key is resting" }, { status: 503, headers: { "retry-after": String(seconds) } });
    } finally {
      // Write what changed after the response is sent.
      ctx.waitUntil(pool.flush());
    }
  },
};
