// key-carousel in Deno: `npm:key-carousel` loads its Deno build, which imports the .wasm
// through the module graph (`import source`), so no --allow-read and no `await init()`.
//
//   OPENAI_API_KEYS=sk-...,sk-... deno run --allow-net --allow-env main.ts   # the real API
//   deno run --allow-net=127.0.0.1 --allow-env main.ts                        # a local mock
//
// State: in memory. To keep it across restarts and share it between processes, give the pool
// `storage: denoKvStore(await Deno.openKv())` (see the README's "Deno KV" section).

import { AllProfilesExhaustedError, Pool } from "npm:key-carousel";

let keys = (Deno.env.get("OPENAI_API_KEYS") ?? "").split(",").filter(Boolean);
let baseUrl = Deno.env.get("OPENAI_BASE_URL") || "https://api.openai.com/v1";
let mock: Deno.HttpServer | undefined;
if (keys.length === 0) {
  // A stand-in for the OpenAI API: the first key answers 429 with retry-after: 2.
  keys = ["sk-deno-example-0-aaaaaaaaaaaa", "sk-deno-example-1-bbbbbbbbbbbb", "sk-deno-example-2-cccccccccccc"];
  mock = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const { model } = await req.json();
    if (req.headers.get("authorization") === `Bearer ${keys[0]}`) {
      return Response.json({ error: { message: "Rate limit reached", code: "rate_limit_exceeded" } }, { status: 429, headers: { "retry-after": "2" } });
    }
    return Response.json({ choices: [{ index: 0, message: { role: "assistant", content: `Hello from ${model} (mock OpenAI)` } }] });
  });
  baseUrl = `http://127.0.0.1:${(mock.addr as Deno.NetAddr).port}/v1`;
  console.log(`no OPENAI_API_KEYS: using a local mock at ${baseUrl} (its first key answers 429)`);
}

const pool = new Pool({
  profiles: keys.map((apiKey, i) => ({ id: `k${i}`, provider: "openai", model: "gpt-4o-mini", apiKey })),
  maxWaitMs: 30_000,
});

async function chat({ apiKey, model, signal }: { apiKey: string; model: string; signal?: AbortSignal }, question: string) {
  const res = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: question }] }),
    signal,
  });
  if (!res.ok) throw Object.assign(new Error(`OpenAI ${res.status}: ${await res.text()}`), { status: res.status, headers: res.headers });
  return (await res.json()).choices[0].message.content as string;
}

try {
  const { value, profileId, attempts } = await pool.run((ctx) => chat(ctx, "Say hello in five words."), { provider: "openai" });
  console.log(`answered by ${profileId} after ${attempts.length} failed attempt(s): ${value}`);
  for (const a of attempts) console.log(`  ${a.profileId} failed: ${a.reason}, resting ${(a.cooldownMs ?? 0) / 1000} s`);
  for (const p of pool.getStatus().profiles) console.log(`  ${p.id.padEnd(4)} ${p.state.padEnd(9)} ${p.remainingMs ? `${(p.remainingMs / 1000).toFixed(1)} s left` : ""}`);
} catch (err) {
  if (!(err instanceof AllProfilesExhaustedError)) throw err;
  console.error(`every key is resting; try again in ${Math.ceil((err.retryAfterMs ?? 0) / 1000)} s`);
  Deno.exitCode = 1;
} finally {
  await mock?.shutdown();
}
