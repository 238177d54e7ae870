// A Node agent: the official `openai` client, one per key, with key-carousel choosing the
// key for every call. `maxRetries: 0` on the client, so a 429 goes back to the pool at once
// and the next key is tried, instead of the SDK retrying the key that is rate limited; a
// `timeout` of 60 s (the SDK's default is 10 minutes), so a key that hangs is rotated too.
//
//   OPENAI_API_KEYS=sk-...,sk-...,sk-... node agent.mjs     # the real API
//   node agent.mjs                                          # a local mock (mock-openai.mjs)

import OpenAI from "openai";
import { AllProfilesExhaustedError, Pool } from "key-carousel";
import { startMockOpenAI } from "./mock-openai.mjs";

let keys = (process.env.OPENAI_API_KEYS ?? "").split(",").filter(Boolean);
let baseURL = process.env.OPENAI_BASE_URL || undefined;
let mock;
if (keys.length === 0) {
  mock = await startMockOpenAI();
  ({ keys } = mock);
  baseURL = mock.url;
  console.log(`no OPENAI_API_KEYS: using a local mock at ${mock.url} (its first key answers 429)`);
}

const pool = new Pool({
  profiles: keys.map((apiKey, i) => ({ id: `k${i}`, provider: "openai", model: "gpt-4o-mini", apiKey })),
  maxWaitMs: 30_000, // when every key rests, wait at most 30 s, then throw
});

const clients = new Map();
function client(apiKey) {
  if (!clients.has(apiKey)) clients.set(apiKey, new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: 60_000 }));
  return clients.get(apiKey);
}

async function ask(question) {
  return pool.run(async ({ apiKey, model, signal }) => {
    // Whatever the SDK throws (RateLimitError with its headers, APIError...) goes to the pool.
    const completion = await client(apiKey).chat.completions.create(
      { model, messages: [{ role: "user", content: question }] },
      { signal },
    );
    return completion.choices[0].message.content;
  }, { provider: "openai" });
}

try {
  const { value, profileId, attempts } = await ask("Say hello in five words.");
  console.log(`answered by ${profileId} after ${attempts.length} failed attempt(s): ${value}`);
  for (const a of attempts) {
    console.log(`  ${a.profileId} failed: ${a.reason}, resting ${(a.cooldownMs ?? 0) / 1000} s (${a.error})`);
  }
  for (const p of pool.getStatus().profiles) {
    console.log(`  ${p.id.padEnd(4)} ${p.state.padEnd(9)} ${p.remainingMs ? `${(p.remainingMs / 1000).toFixed(1)} s left` : ""}`);
  }
} catch (err) {
  if (!(err instanceof AllProfilesExhaustedError)) throw err;
  // retryAfterMs: when the first key is back; absent when the run used up its turns (every
  // key kept failing) rather than finding them all resting.
  console.error(err.retryAfterMs === undefined ? `every key failed (${err.attempts.length} attempts)` : `every key is resting; try again in ${Math.ceil(err.retryAfterMs / 1000)} s`);
  process.exitCode = 1;
} finally {
  await mock?.close();
}
