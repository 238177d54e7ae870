// key-carousel demo: three OpenAI keys and one Anthropic fallback against a local mock API.
//
//   key-A  gets rate limited (429, retry-after: 2) after 3 calls  -> 2 s cooldown, then back
//   key-B  has no funds (402 insufficient_quota)                  -> disabled for 5 h
//   key-C  always works
//   fallback-anthropic-claude-3-5-haiku-latest                    -> used while OpenAI is down
//   and a second pool with a mistyped key: its 401 echoes the key, the pool redacts it.
//
// The main pool keeps its state in a file (fileStore): run the demo twice and the second run
// starts with the first run's cooldowns (key-B stays disabled, so it is never called). The file
// is $KC_DEMO_STATE, else key-carousel-demo-state.json in the OS temp directory; start afresh
// with `npm run demo -- --reset` (or delete the file).
//
// Run with `npm run demo` (after building) or `node examples/demo/demo.mjs`. No network access
// beyond 127.0.0.1, no dependencies.

import { Pool, classifyError, AllProfilesExhaustedError } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { startMockLlm, KEY_A, KEY_B, KEY_C, KEY_FALLBACK } from "./mock-llm-server.mjs";

// A key the mock server does not know: its 401 message echoes the key back.
const KEY_TYPO = "sk-demo-typo-1111111111111111111111";

const started = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
const human = (ms) =>
  ms >= 3_600_000 ? `${+(ms / 3_600_000).toFixed(1)}h` : ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)}m` : secs(ms);

// Everything goes through out(), so the end of the demo can check that no key was ever printed.
const printed = [];
function out(line = "") {
  printed.push(line);
  console.log(line);
}

const statePath = process.env.KC_DEMO_STATE || join(tmpdir(), "key-carousel-demo-state.json");
if (process.argv.includes("--reset")) rmSync(statePath, { force: true });
const hadState = existsSync(statePath);

const mock = await startMockLlm({ rateLimitAfter: 3, retryAfterSeconds: 2 });

const pool = new Pool({
  profiles: [
    { id: "key-A", provider: "openai", model: "gpt-4o-mini", apiKey: KEY_A },
    { id: "key-B", provider: "openai", model: "gpt-4o-mini", apiKey: KEY_B },
    { id: "key-C", provider: "openai", model: "gpt-4o-mini", apiKey: KEY_C },
  ],
  fallbackModels: [{ provider: "anthropic", model: "claude-3-5-haiku-latest", apiKey: KEY_FALLBACK }],
  maxWaitMs: 3_000,
  storage: fileStore(statePath),
});
await pool.init(); // loads what the previous run saved (the first `run` would do it too)

// ---------------------------------------------------------------------------------------------
// The task: one chat call, made the way an app would make it. A non-2xx response becomes an
// Error carrying `status`, `headers` and `code`, like the official SDKs throw; the pool reads
// those to classify the failure and to honour retry-after.
async function chat({ apiKey, provider, model, signal }, prompt) {
  const anthropic = provider === "anthropic";
  const res = await fetch(`${mock.url}${anthropic ? "/v1/messages" : "/v1/chat/completions"}`, {
    method: "POST",
    signal,
    headers: {
      "content-type": "application/json",
      ...(anthropic ? { "x-api-key": apiKey, "anthropic-version": "2023-06-01" } : { authorization: `Bearer ${apiKey}` }),
    },
    body: JSON.stringify({
      model,
      max_tokens: 64,
      messages: [{ role: "user", content: prompt }],
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = body.error ?? {};
    throw Object.assign(new Error(e.message ?? `HTTP ${res.status}`), {
      status: res.status,
      headers: res.headers,
      code: e.code ?? e.type,
    });
  }
  return {
    model: body.model,
    text: anthropic ? body.content?.[0]?.text : body.choices?.[0]?.message?.content,
  };
}

// ---------------------------------------------------------------------------------------------
// Watch the pool: diff getStatus() against what we saw last time and report cooldowns that
// started and profiles that came back. Called before each request (everything) and after it
// (cooldowns only: a recovery that happened while the request was in flight is reported before
// the next request, so it never looks as if the pool ignored an available key).
let seen = new Map(pool.getStatus().profiles.map((p) => [p.id, p]));

function watch({ recoveries = true } = {}) {
  const now = Date.now();
  for (const p of pool.getStatus().profiles) {
    const before = seen.get(p.id);
    const resting = p.state !== "available";
    const wasResting = before && before.state !== "available";
    if (resting && (!wasResting || p.cooldownUntil !== before.cooldownUntil)) {
      const len = p.cooldownUntil != null ? p.cooldownUntil - (p.lastFailure ?? now) : p.remainingMs;
      out(`   ~ ${p.id} ${p.state === "disabled" ? "DISABLED" : "cooldown"} for ${human(len)}` +
        ` (reason=${p.reason ?? "?"}, errorCount=${p.errorCount})`);
    } else if (!resting && wasResting) {
      if (!recoveries) continue;
      out(`   + ${p.id} available again (it rested after ${before.reason ?? "?"})`);
    }
    seen.set(p.id, p);
  }
}

let n = 0;
const pad = (s, w) => String(s).padEnd(w);
const ID_W = Math.max(...pool.getStatus().profiles.map((p) => p.id.length)) + 2;
const MODEL_W = 25;
const num = (no) => `#${String(no).padStart(2, "0")}`.padEnd(5);

async function request(prompt) {
  const no = ++n;
  watch();
  const t0 = Date.now();
  try {
    const r = await pool.run((ctx) => chat(ctx, prompt), { provider: "openai", label: `req-${no}` });
    watch({ recoveries: false });
    const failed = r.attempts.map((a) =>
      `${a.profileId}: ${a.reason}${a.cooldownMs != null ? ` (${human(a.cooldownMs)})` : ""}`);
    out(`${num(no)}${pad(r.profileId, ID_W)}${pad(r.value.model, MODEL_W)}` +
      `${String(Date.now() - t0).padStart(4)}ms` + (failed.length ? `  after ${failed.join(", ")}` : ""));
    return r;
  } catch (err) {
    watch({ recoveries: false });
    if (err instanceof AllProfilesExhaustedError) {
      out(`${num(no)}FAILED: all profiles exhausted after ` +
        `${err.attempts?.length ?? "?"} attempts (${err.message})`);
    } else {
      out(`${num(no)}FAILED (${classifyError(err)}): ${err?.message ?? err}`);
    }
    return undefined;
  }
}

async function sequential(count, prompt, gapMs = 0) {
  for (let i = 0; i < count; i++) {
    if (i && gapMs) await sleep(gapMs);
    await request(prompt);
  }
}

const burst = (count, prompt) => Promise.all(Array.from({ length: count }, () => request(prompt)));

function phase(title) {
  watch();
  out(`== ${title}  [t=${secs(Date.now() - started)}]`);
}

// ---------------------------------------------------------------------------------------------
out(`mock LLM API on ${mock.url}; pool: key-A, key-B, key-C (openai) + fallback anthropic/claude-3-5-haiku-latest`);
if (!hadState) {
  out(`state file ${statePath}: none yet, a fresh start (run the demo again: it starts from this run's state)`);
} else {
  const resting = pool.getStatus().profiles.filter((p) => p.state !== "available");
  out(`state file ${statePath}: loaded, saved by the previous run; ` +
    (resting.length ? `it starts with ${resting.length} resting profile(s):` : "no profile is resting any more"));
  for (const p of resting) {
    out(`   ~ ${p.id} ${p.state === "disabled" ? "DISABLED" : "cooldown"} for ${human(p.remainingMs)} more` +
      ` (reason=${p.reason ?? "?"}, errorCount=${p.errorCount}), from the previous run: it will not be called`);
  }
}
out(`${pad("req", 5)}${pad("served by", ID_W)}${pad("model", MODEL_W)}  time`);

phase("1. sequential: round-robin; key-B has no funds");
await sequential(5, "Say hello.");

phase("2. burst of 8 concurrent calls (lines in completion order): key-A hits its rate limit");
await burst(8, "Say hello, quickly.");

phase("3. OpenAI overloaded for 1s (503, retry-after: 1): the fallback model answers");
mock.setOutage(1_000, { retryAfterSeconds: 1 });
await sequential(3, "Are you there?", 300);

phase("4. one call every 300 ms: key-C, then key-A come back");
await sequential(7, "Still there?", 300);

phase("5. another burst of 8: key-A serves its new allowance, then is rate limited again");
await burst(8, "One more time.");

phase("6. a separate pool whose only key is mistyped: the 401 echoes the key, the pool redacts it");
const typoPool = new Pool({
  profiles: [{ id: "key-typo", provider: "openai", model: "gpt-4o-mini", apiKey: KEY_TYPO }],
  maxWaitMs: 0,
});
try {
  const r = await typoPool.run((ctx) => chat(ctx, "Hello?"), { provider: "openai" });
  out(`${num(++n)}unexpected success from ${r.profileId}`);
} catch (err) {
  const kind = err instanceof AllProfilesExhaustedError ? "AllProfilesExhaustedError" : `${err?.name} (${classifyError(err)})`;
  out(`${num(++n)}FAILED: ${kind}, ${err.attempts?.length ?? 0} attempt(s)`);
  for (const a of err.attempts ?? []) {
    const msg = a.error.length > 70 ? `${a.error.slice(0, 69)}…` : a.error;
    out(`     ${a.profileId}: ${a.reason}${a.cooldownMs != null ? ` (${human(a.cooldownMs)})` : ""}: "${msg}"`);
  }
}

// ---------------------------------------------------------------------------------------------
watch();
const status = pool.getStatus();
const now = Date.now();
out();
out(`== status of the main pool after ${n - 1} requests, ${secs(now - started)}`);
const cols = [
  ["id", ID_W], ["provider", 11], ["model", MODEL_W], ["state", 11], ["remaining", 11], ["errors", 8], ["last used", 9],
];
out(cols.map(([h, w]) => pad(h, w)).join("").trimEnd());
for (const p of status.profiles) {
  const row = [
    p.id,
    p.provider,
    p.model ?? "-",
    p.state,
    p.remainingMs > 0 ? human(p.remainingMs) : "-",
    p.errorCount,
    p.lastUsed ? `${secs(now - p.lastUsed)} ago` : "never",
  ];
  out(row.map((v, i) => pad(v, cols[i][1])).join("").trimEnd());
}
out(`available ${status.totalAvailable}, cooling down ${status.totalInCooldown}, disabled ${status.totalDisabled ?? "?"}` +
  `; mock server saw ${mock.stats.requests} HTTP calls ` +
  `(${Object.entries(mock.stats.byStatus).map(([s, c]) => `${c}x${s}`).join(" ")})`);

await mock.close();
await pool.close(); // writes what is pending
out(`state saved to ${statePath}; the next run starts from it (reset: npm run demo -- --reset)`);

// Self-check: no API key in anything we printed or in the pool's public surfaces.
const keys = [KEY_A, KEY_B, KEY_C, KEY_FALLBACK, KEY_TYPO];
const safe = (f) => { try { return String(f()); } catch (e) { return ""; } };
const surfaces = [
  printed.join("\n"),
  JSON.stringify(pool.getStatus()),
  safe(() => JSON.stringify(pool)),
  inspect(pool, { depth: 6, showHidden: true }),
  JSON.stringify(typoPool.getStatus()),
  inspect(typoPool, { depth: 6, showHidden: true }),
];
const leaked = keys.filter((k) => surfaces.some((s) => s.includes(k)));
if (leaked.length) {
  console.error(`LEAK: ${leaked.length} API key(s) appeared in output or pool status`);
  process.exit(1);
}
out("no API key appeared in the output, getStatus(), JSON.stringify(pool) or util.inspect(pool)");
