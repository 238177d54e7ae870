// key-carousel in a page built with Vite. The browser build loads its WebAssembly module
// asynchronously: `await init()` once, before the first use (Vite emits the .wasm file and
// rewrites its URL). The "provider" here is simulated in the page, so the example runs with
// no account; replace `callProvider` with your fetch to the model's API.
//
// Keys in a page are visible to whoever uses it: use this for keys the user brings
// (bring-your-own-key apps), never for your own secret keys.

import { Pool, init, webStorageStore } from "key-carousel";

const log = document.querySelector("#log");
const button = document.querySelector("#ask");

// A stand-in for an LLM API: key-1 is rate limited (429, retry-after: 2), the others answer.
async function callProvider({ apiKey, model }) {
  await new Promise((r) => setTimeout(r, 50));
  if (apiKey === "user-key-1-aaaaaaaaaaaa") {
    const headers = new Headers({ "retry-after": "2" });
    throw Object.assign(new Error("429 Too Many Requests"), { status: 429, headers });
  }
  return `Hello from ${model}`;
}

let pool;
init().then(() => {
  pool = new Pool({
    profiles: [
      { id: "key-1", provider: "openai", model: "gpt-4o-mini", apiKey: "user-key-1-aaaaaaaaaaaa" },
      { id: "key-2", provider: "openai", model: "gpt-4o-mini", apiKey: "user-key-2-bbbbbbbbbbbb" },
      { id: "key-3", provider: "openai", model: "gpt-4o-mini", apiKey: "user-key-3-cccccccccccc" },
    ],
    maxWaitMs: 10_000,
    // The cooldowns survive a reload (localStorage, shared by this origin's tabs).
    storage: webStorageStore(),
  });
  log.textContent = "ready: press Ask";
  button.disabled = false;
}, (err) => {
  // The .wasm did not load (not deployed next to the page, a 404): the error says what to do.
  log.textContent = String(err.message);
});

button.addEventListener("click", async () => {
  const { value, profileId, attempts } = await pool.run(callProvider);
  const lines = [`answered by ${profileId} after ${attempts.length} failed attempt(s): ${value}`];
  for (const a of attempts) lines.push(`  ${a.profileId} failed: ${a.reason}, resting ${(a.cooldownMs ?? 0) / 1000} s`);
  lines.push("", "status:");
  for (const p of pool.getStatus().profiles) {
    lines.push(`  ${p.id}  ${p.state}${p.remainingMs ? `  ${(p.remainingMs / 1000).toFixed(1)} s left` : ""}`);
  }
  log.textContent = lines.join("\n");
});
