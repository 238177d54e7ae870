// Secrets (issue 7): a scenario set spanning every feature — run, rotation on every failure
// reason, exhaustion, waiting, the caller's abort, the format rethrow, persistence to a
// memory store and a file store (with a bad stored value and a failing store), LlmKeyPool
// with its storagePath, the logger at every level, configuration and argument errors — run
// with recognisable keys that the "provider" echoes back whole and in pieces. Nothing the
// package shows may hold a key or any 8 characters of one: status, snapshots, stored files
// and values (and their corrupt copies), logger and console output, error messages and
// stack traces, attempts, JSON.stringify/String/util.inspect of the pools.
//
// Not covered, by design: an error the task throws and `run` rethrows untouched (a format
// error, the caller's abort) is the task's own object; if the provider echoed a key into
// it, it still holds it. The pool's log line about it is redacted.
import { test } from "node:test";
import assert from "node:assert/strict";
import util from "node:util";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, LlmKeyPool, FailoverError, ConfigError, AllProfilesExhaustedError, FAILURE_REASONS, memoryStore, mergeSnapshots } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { manualClock, rejection, httpError, tick } from "./helpers.mjs";

// Keys from an alphabet (upper-case letters past F, '_') that appears in nothing else the
// scenarios produce; one key extends another (a prefix), one is short.
const K = {
  openai1: "sk-proj-GHJKLMNPQRSTUVWXYZ_GHJK",
  openai2: "sk-proj-GHJKLMNPQRSTUVWXYZ_GHJK_MNPQRSTU", // extends openai1
  anthropic: "sk-ant-api03-ZYXWVUTSRQPNMLKJHG",
  google: "AIzaSyQWXZ_RTYUPLKJHGNMZXQWR",
  short: "sk-HJKLM",
};
const KEYS = Object.values(K);
const WINDOWS = new Set(KEYS.flatMap((k) => Array.from({ length: k.length - 7 }, (_, i) => k.slice(i, i + 8))));

/** Everything shown, as text, with where it came from. */
const shown = [];
const show = (where, value) => {
  let text;
  if (typeof value === "string") text = value;
  else if (value instanceof Error) text = `${value.name}: ${value.message}\n${value.stack}\n${util.inspect(value, { showHidden: true, depth: 10 })}`;
  else text = `${JSON.stringify(value)}\n${util.inspect(value, { showHidden: true, depth: 10 })}`;
  shown.push([where, text]);
};

function showPool(where, pool) {
  show(`${where}: getStatus()`, pool.getStatus());
  show(`${where}: JSON.stringify(pool)`, JSON.stringify(pool));
  show(`${where}: util.inspect(pool)`, util.inspect(pool, { showHidden: true, depth: Infinity }));
  show(`${where}: String(pool)`, String(pool));
  show(`${where}: template`, `${pool}`);
  show(`${where}: own properties`, Reflect.ownKeys(pool).map(String).join(","));
  show(`${where}: prototype`, Reflect.ownKeys(Object.getPrototypeOf(pool)).map(String).join(","));
}

/** What providers say: the key whole, a 12-character piece, the key of another profile. */
const echo = (key, i) =>
  [`Incorrect API key provided: ${key}.`, `key ending in ${key.slice(-12)} was rejected`, `Invalid x-api-key: '${key}'`, `key=${key.slice(2, 14)}...`][i % 4];

function logger(lines) {
  return Object.fromEntries(["debug", "info", "warn", "error"].map((level) => [level, (msg, ...rest) => lines.push(`${level}: ${msg} ${rest.map((r) => util.inspect(r)).join(" ")}`)]));
}

test("no key, nor 8 characters of one, in anything the package shows, across every feature", async () => {
  const lines = [];
  const consoleLines = [];
  const saved = {};
  for (const m of ["log", "info", "warn", "error", "debug", "trace"]) {
    saved[m] = console[m];
    console[m] = (...args) => consoleLines.push(`${m}: ${util.format(...args)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "kc-secrets-"));
  try {
    const clock = manualClock();
    const memory = memoryStore();
    const profiles = [
      { provider: "openai", model: "gpt-4o", apiKey: K.openai1 },
      { provider: "openai", model: "gpt-4o", apiKey: K.openai2 },
      { provider: "anthropic", apiKey: K.anthropic },
      { id: "gemini", provider: "google", apiKey: K.google },
      { id: "tiny", provider: "google", apiKey: K.short },
    ];
    const fallbackModels = [{ provider: "anthropic", model: "claude-haiku" }, { provider: "mistral", model: "large" }]; // borrows; skipped (debug)
    const pool = new Pool({ profiles, fallbackModels, clock: clock.fn, logger: logger(lines), storage: memory, maxWaitMs: 0, saveIntervalMs: 1 });
    await pool.init();

    // Every reason, through HTTP errors and FailoverErrors, each echoing the key it was sent with.
    const statuses = [429, 500, 401, 403, 402, 408, 404, 400, 418];
    for (const [i, reason] of FAILURE_REASONS.entries()) {
      clock.now += 25 * 3600_000; // every rest over
      for (const style of ["http", "failover"]) {
        let own;
        const r = await pool
          .run(({ apiKey }) => {
            if (style === "http") throw (own = httpError(statuses[i], `${reason}: ${echo(apiKey, i)}`, { headers: { "retry-after": "1" } }));
            throw (own = new FailoverError(echo(apiKey, i + 1), { reason, retryAfterMs: 5 }));
          }, { label: `reason ${reason}` })
          .catch((e) => e);
        if (r === own) {
          // `format` does not rotate: the task's own error, rethrown untouched (see the top).
          assert.equal(reason, "format");
          continue;
        }
        show(`${reason} via ${style}`, r);
        if (r instanceof Error && r.attempts) show(`${reason} via ${style}: attempts`, r.attempts);
        if (!(r instanceof Error)) show(`${reason} via ${style}: result`, r);
      }
      showPool(`after ${reason}`, pool);
    }

    // Exhaustion after rotating over every key, every key echoed.
    clock.now += 25 * 3600_000;
    const exhausted = await rejection(pool.run(({ apiKey }) => Promise.reject(httpError(429, `Rate limit reached for ${apiKey}; other keys: ${KEYS.join(", ")}`))));
    assert.ok(exhausted instanceof AllProfilesExhaustedError);
    assert.ok(exhausted.attempts.length >= 5);
    show("exhausted", exhausted);
    show("exhausted: attempts", exhausted.attempts);

    // A wait (logged at warn), then success.
    clock.now += 25 * 3600_000;
    pool.markFailure("gemini", "rate_limit", { retryAfterMs: 1 });
    const waiting = new Pool({ profiles: [{ provider: "openai", apiKey: K.openai1 }], logger: logger(lines) });
    waiting.markFailure(waiting.getStatus().profiles[0].id, "rate_limit", { retryAfterMs: 5 });
    show("after a wait", await waiting.run(({ apiKey }) => `used ${apiKey.length} chars`));

    // The caller's abort: rethrown untouched, nothing logged with the key.
    const ac = new AbortController();
    const aborted = await rejection(pool.run(({ apiKey }) => {
      ac.abort(new Error("caller gave up"));
      throw new Error(`aborted request with ${apiKey.slice(0, 3)}`); // 3 characters: not a leak
    }, { signal: ac.signal }));
    show("abort", aborted);

    // Format: rethrown as the provider's own error; the log line is redacted.
    const formatError = httpError(400, `context length exceeded for ${K.openai2}`);
    const thrown = await rejection(pool.run(() => Promise.reject(formatError)));
    assert.equal(thrown, formatError);

    // Argument and configuration errors, some with keys where they do not belong.
    for (const call of [
      () => pool.markFailure(K.anthropic, "auth"),
      () => pool.markSuccess(K.google),
      () => pool.markFailure("gemini", "auth", { retryAfterMs: -1 }),
      () => new Pool({ profiles: [profiles[0], { ...profiles[0] }] }),
      () => new Pool({ profiles: [{ ...profiles[0], modle: "x" }] }),
      () => new Pool({ profiles: [{ provider: "openai", apiKey: K.openai1, id: "" }] }),
      () => new Pool({ profiles, cooldowns: { billingMaxMs: NaN } }),
      () => new LlmKeyPool({ profiles: [{ id: "x", provider: "openai", apiKey: K.openai1 }, { id: "x", provider: "openai", apiKey: K.openai2 }] }),
    ]) {
      let err;
      try {
        call();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof Error, "each call throws");
      show(`thrown by ${call}`.replace(/sk-[\w-]+|AIza\w+/g, "<key>"), err);
    }
    await assert.rejects(pool.run(42), TypeError);

    // Persistence: a bad stored value copied aside, a failing store (logger.error), a file.
    await pool.flush();
    show("memory store", memory.load());
    const badText = JSON.stringify({ version: 1, profiles: { gemini: { errorCount: "x" } } });
    let broken = true;
    const flaky = { name: "flaky", value: badText, corrupt: [], load: () => flaky.value, save(s) {
      if (broken) throw new Error("ECONNREFUSED 127.0.0.1:6379");
      flaky.value = JSON.stringify(s);
    }, keepCorrupt: (raw) => flaky.corrupt.push(raw) };
    const persisted = new Pool({ profiles, storage: flaky, clock: clock.fn, logger: logger(lines), saveIntervalMs: 1, maxWaitMs: 0 });
    await persisted.run(({ apiKey }) => Promise.reject(httpError(401, echo(apiKey, 0)))).catch((e) => show("flaky store run", e));
    await assert.rejects(persisted.flush());
    broken = false;
    await persisted.flush();
    show("flaky store value", flaky.value);
    show("flaky store copies", flaky.corrupt);
    showPool("persisted", persisted);
    await persisted.close();

    const path = join(dir, "state.json");
    writeFileSync(path, "{ not json");
    const filed = new Pool({ profiles, storage: fileStore(path), clock: clock.fn, logger: logger(lines), maxWaitMs: 0 });
    await filed.run(({ apiKey }) => Promise.reject(httpError(402, echo(apiKey, 1)))).catch((e) => show("file store run", e));
    await filed.close();
    for (const f of readdirSync(dir)) show(`file ${f}`, readFileSync(join(dir, f), "utf8"));
    show("mergeSnapshots", mergeSnapshots(readFileSync(path, "utf8"), memory.load()));

    // LlmKeyPool: v1's API, its storagePath, its logging.
    const v1path = join(dir, "v1-state.json");
    const v1 = new LlmKeyPool({
      profiles: profiles.map(({ provider, apiKey, model }) => ({ provider, apiKey, model })),
      fallbackModels,
      storagePath: v1path,
      logger: logger(lines),
      maxWaitMs: 0,
    });
    await v1.init();
    const v1run = await v1.run(({ apiKey, profileId }) => {
      if (profileId !== "profile-4") throw httpError(401, echo(apiKey, 2));
      return "ok";
    });
    show("LlmKeyPool run", v1run);
    await v1.markFailure("profile-4", "not-a-reason"); // warns
    show("LlmKeyPool exhausted", await v1.run(({ apiKey }) => Promise.reject(new Error(echo(apiKey, 3)))).catch((e) => e));
    showPool("LlmKeyPool", v1);
    await v1.close();
    show("LlmKeyPool file", readFileSync(v1path, "utf8"));

    showPool("end", pool);
    await pool.close();
    await tick(5);
    // Every level was used.
    for (const level of ["debug", "info", "warn", "error"]) assert.ok(lines.some((l) => l.startsWith(`${level}:`)), `logger.${level} was used`);
    show("logger", lines.join("\n"));
    show("console", consoleLines.join("\n"));
  } finally {
    Object.assign(console, saved);
    rmSync(dir, { recursive: true, force: true });
  }

  let checked = 0;
  for (const [where, text] of shown) {
    for (let i = 0; i + 8 <= text.length; i++) {
      const piece = text.slice(i, i + 8);
      if (WINDOWS.has(piece)) assert.fail(`${where} leaks ${JSON.stringify(piece)}:\n${text.slice(Math.max(0, i - 200), i + 200)}`);
    }
    checked += text.length;
  }
  assert.ok(shown.length > 100 && checked > 50_000, `${shown.length} things shown, ${checked} characters checked`);
});

test("the scenario's keys do reach the tasks (the check above is not vacuous)", async () => {
  const seen = new Set();
  const pool = new Pool({ profiles: KEYS.map((apiKey, i) => ({ id: `p${i}`, provider: "p", apiKey })), maxWaitMs: 0 });
  const e = await rejection(pool.run(({ apiKey }) => (seen.add(apiKey), Promise.reject(httpError(401, echo(apiKey, 0))))));
  assert.deepEqual([...seen].sort(), [...KEYS].sort());
  assert.ok(e.attempts.every((a) => a.error === "Incorrect API key provided: [redacted]."), JSON.stringify(e.attempts));
  assert.ok(!(e instanceof ConfigError));
});

test("a model name from the store that is one of this pool's keys is shown redacted in the status and the recover event (was: shown whole; another process, not holding that key, could not refuse it)", async () => {
  const secret = "sk-proj-SECRETSECRETSECRET0123456789";
  const clock = manualClock();
  const store = memoryStore();
  const rest = { errorCount: 1, cooldownUntil: clock.now + 1000, lastFailure: clock.now, updatedAt: clock.now, lastFailureReason: "model_not_found", cooldownStartedAt: clock.now };
  store.update(() => ({ version: 1, profiles: { k0: { errorCount: 0, models: { [secret]: rest } } } }));
  const pool = new Pool({
    profiles: [{ id: "k0", provider: "openai", apiKey: "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA" }, { id: "k1", provider: "openai", apiKey: secret }],
    storage: store,
    clock: clock.fn,
  });
  const recovered = [];
  pool.on("recover", (e) => recovered.push(e));
  await pool.init();
  const cooldowns = pool.getStatus().profiles[0].modelCooldowns;
  assert.equal(cooldowns.length, 1, "the rest is kept");
  assert.ok(!JSON.stringify(cooldowns).includes(secret.slice(-12)), JSON.stringify(cooldowns));
  clock.now += 2000;
  await pool.run(() => 1);
  assert.equal(recovered.length, 1);
  assert.ok(!JSON.stringify(recovered).includes(secret.slice(-12)), JSON.stringify(recovered));
  await pool.close();
});
