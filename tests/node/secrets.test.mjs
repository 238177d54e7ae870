// API keys never leak; default ids are stable fingerprints.
import { test } from "node:test";
import assert from "node:assert/strict";
import util from "node:util";
import { Pool, ConfigError, AllProfilesExhaustedError } from "key-carousel";
import { manualClock, rejection, httpError } from "./helpers.mjs";

// Recognisable keys; their tails avoid hex digits so that no 8-character window of a key can
// coincide with a derived id or a timestamp.
const A = "sk-test-SECRET-AAAA-1q2w3e4r5t6y7u8i";
const B = "sk-test-SECRET-BBBB-9o8i7u6y5t4r3e2w";
const C = "sk-ant-SECRET-CCCC-zxcvbnmlkjhgfdsa";
const SECRETS = [A, B, C];

/** Fails if `text` contains any key or any 8-character piece of one. */
function assertNoLeak(text, where) {
  assert.equal(typeof text, "string", `${where}: expected text`);
  for (const key of SECRETS) {
    for (let i = 0; i + 8 <= key.length; i++) {
      const piece = key.slice(i, i + 8);
      if (text.includes(piece)) {
        assert.fail(`${where} leaks ${JSON.stringify(piece)} (characters ${i}..${i + 8} of a key):\n${text}`);
      }
    }
  }
}

function capture() {
  const lines = [];
  const logger = {};
  for (const level of ["debug", "info", "warn", "error"]) {
    logger[level] = (msg, ...args) => lines.push(`${level}: ${msg} ${args.map((a) => util.inspect(a, { depth: 10 })).join(" ")}`);
  }
  const consoleLines = [];
  const saved = {};
  for (const m of ["log", "info", "warn", "error", "debug", "trace"]) {
    saved[m] = console[m];
    console[m] = (...args) => consoleLines.push(`${m}: ${util.format(...args)}`);
  }
  return {
    logger,
    lines,
    consoleLines,
    restore() {
      Object.assign(console, saved);
    },
  };
}

test("19. no key, nor any 8-character piece of one, appears in anything the pool shows", async () => {
  const cap = capture();
  try {
    const clock = manualClock();
    const pool = new Pool({
      profiles: [
        { provider: "openai", model: "gpt-4o", apiKey: A },
        { provider: "openai", model: "gpt-4o", apiKey: B },
        { provider: "anthropic", model: "claude-sonnet", apiKey: C },
      ],
      fallbackModels: [{ provider: "anthropic", model: "claude-haiku" }], // borrows C
      clock: clock.fn,
      maxWaitMs: 0,
      logger: cap.logger,
    });
    const seen = [];
    const shown = []; // [where, text]
    const show = (where, value) => shown.push([where, typeof value === "string" ? value : JSON.stringify(value)]);
    const snapshot = (label) => {
      show(`${label}: getStatus()`, pool.getStatus());
      show(`${label}: JSON.stringify(pool)`, JSON.stringify(pool));
      show(`${label}: util.inspect(pool)`, util.inspect(pool, { showHidden: true, depth: 10 }));
      show(`${label}: String(pool)`, String(pool));
      show(`${label}: \`\${pool}\``, `${pool}`);
      show(`${label}: own properties`, [...Object.getOwnPropertyNames(pool), ...Object.getOwnPropertySymbols(pool).map(String)].join(","));
    };

    // Rotation: the provider echoes the whole key (auth), then only a 12-character piece of it.
    const rotated = await pool.run(({ apiKey, profileId }) => {
      seen.push(apiKey);
      if (apiKey === A) throw httpError(401, `Incorrect API key provided: ${apiKey}. You can find your API key at https://example.com.`);
      if (apiKey === B) throw httpError(401, `Invalid authentication: key ending in ${apiKey.slice(-12)} was revoked`);
      return profileId;
    }, { provider: "openai" });
    assert.deepEqual(seen, [A, B, C], "the scenario used every primary key");
    assert.equal(rotated.attempts.length, 2);
    assert.deepEqual(rotated.attempts.map((a) => a.reason), ["auth", "auth"]);
    assert.match(rotated.attempts[0].error, /^Incorrect API key provided: /);
    show("rotation attempts", rotated.attempts);
    snapshot("after rotation");

    // Billing: the key is echoed in a 402 and the profile is disabled.
    clock.now += 2 * 60 * 60 * 1000; // the 1-min auth cooldowns are over
    seen.length = 0;
    const billed = await pool.run(({ apiKey, profileId }) => {
      seen.push(apiKey);
      if (apiKey === A) throw httpError(402, `Billing hard limit reached for ${apiKey}`);
      return profileId;
    }, { provider: "openai" });
    assert.equal(billed.attempts[0].reason, "billing");
    show("billing attempts", billed.attempts);
    snapshot("after billing");

    // Exhausted: every profile echoes its key in a 429, nothing is left, maxWaitMs is 0.
    clock.now += 60 * 60 * 1000;
    seen.length = 0;
    const exhausted = await rejection(
      pool.run(({ apiKey }) => {
        seen.push(apiKey);
        throw httpError(429, `Rate limit reached for key ${apiKey} (fragment ${apiKey.slice(3, 15)})`);
      }),
    );
    assert.ok(exhausted instanceof AllProfilesExhaustedError);
    assert.ok(exhausted.attempts.length >= 2, `attempts: ${exhausted.attempts.length}`);
    assert.ok(seen.includes(B) && seen.includes(C));
    show("exhausted: message", exhausted.message);
    show("exhausted: attempts", exhausted.attempts);
    show("exhausted: util.inspect", util.inspect(exhausted, { showHidden: true, depth: 10 }));
    snapshot("after exhaustion");

    // Format: rethrown as is (the provider's own object), but the log line is redacted.
    const fresh = new Pool({
      profiles: [{ provider: "openai", apiKey: A }, { provider: "openai", apiKey: B }],
      logger: cap.logger,
    });
    const formatError = httpError(400, `Incorrect API key provided: ${A}; also context length exceeded`);
    const thrown = await rejection(
      fresh.run(() => {
        throw formatError;
      }),
    );
    assert.equal(thrown, formatError);
    const formatLines = cap.lines.filter((l) => l.includes("format"));
    assert.ok(formatLines.length >= 1, `a log line reports the format failure:\n${cap.lines.join("\n")}`);
    show("format: status", fresh.getStatus());
    show("format: util.inspect(pool)", util.inspect(fresh, { showHidden: true, depth: 10 }));

    // ConfigErrors about profiles that hold keys.
    const configErrors = [
      () => new Pool({ profiles: [{ provider: "openai", apiKey: A }, { provider: "openai", apiKey: A }] }),
      () => new Pool({ profiles: [{ provider: "openai", apiKey: B, modle: "gpt-4o" }] }),
      () => new Pool({ profiles: [{ id: "x", provider: "openai", apiKey: A }, { id: "x", provider: "openai", apiKey: B }] }),
      () => new Pool({ profiles: [{ provider: 7, apiKey: C }] }),
      () => new Pool({ profiles: [{ provider: "openai", apiKey: A }], fallbackModels: [{ provider: "openai", model: "", apiKey: C }] }),
    ];
    for (const [i, make] of configErrors.entries()) {
      let err;
      assert.throws(make, (e) => ((err = e), e instanceof ConfigError), `config case ${i}`);
      show(`ConfigError ${i}: message`, err.message);
      show(`ConfigError ${i}: inspect`, util.inspect(err, { showHidden: true, depth: 10 }));
    }

    assert.ok(cap.lines.length >= 5, `the logger was used:\n${cap.lines.join("\n")}`);
    show("logger output", cap.lines.join("\n"));
    show("console output", cap.consoleLines.join("\n"));

    for (const [where, text] of shown) assertNoLeak(text, where);
  } finally {
    cap.restore();
  }
});

test("20. default ids are <provider>-<8 hex>, stable across constructions, reordering and added keys", () => {
  const defs = [
    { provider: "openai", apiKey: "sk-one-aaaaaaaaaaaa" },
    { provider: "openai", apiKey: "sk-two-bbbbbbbbbbbb" },
    { provider: "anthropic", apiKey: "sk-ant-cccccccccccc" },
  ];
  const ids = (profiles) => new Pool({ profiles }).getStatus().profiles.map((p) => p.id);
  const first = ids(defs);
  assert.match(first[0], /^openai-[0-9a-f]{8}$/);
  assert.match(first[1], /^openai-[0-9a-f]{8}$/);
  assert.match(first[2], /^anthropic-[0-9a-f]{8}$/);
  assert.equal(new Set(first).size, 3);

  assert.deepEqual(ids(defs.map((d) => ({ ...d }))), first, "same ids from a second construction");
  assert.deepEqual(ids([defs[2], defs[0], defs[1]]), [first[2], first[0], first[1]], "reordered");
  const grown = ids([{ provider: "openai", apiKey: "sk-new-dddddddddddd" }, ...defs]);
  assert.deepEqual(grown.slice(1), first, "a key added in front");
  assert.match(grown[0], /^openai-[0-9a-f]{8}$/);
  assert.ok(!first.includes(grown[0]));

  let err;
  assert.throws(
    () => new Pool({ profiles: [defs[0], { ...defs[0] }] }),
    (e) => ((err = e), true),
  );
  assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
  assert.equal(err.field, "profiles[1].apiKey");
  assert.match(err.message, /^profiles\[1\]\.apiKey: /);
});

test("a key in what a store, a listener or a caller's argument says is redacted in logs and errors too", async () => {
  const { LlmKeyPool } = await import("key-carousel");
  const cap = capture();
  try {
    const nl = `${A}\n`; // read from a file with its newline: JSON would escape it
    const failing = {
      load: () => {
        throw new Error(`401 Unauthorized: invalid token ${A}`);
      },
      update: () => {
        throw new Error(`401 Unauthorized: invalid token ${B}`);
      },
    };
    const pool = new Pool({ profiles: [{ id: "a", provider: "openai", apiKey: nl }, { id: "b", provider: "openai", apiKey: B }], storage: failing, logger: cap.logger, saveIntervalMs: 10 });
    pool.on("cooldown", () => {
      throw new Error(`listener saw ${B}`);
    });
    await pool.init();
    pool.markFailure("a", "rate_limit");
    await pool.flush().catch(() => {});
    const thrown = [];
    for (const call of [() => pool.markFailure(nl, "rate_limit"), () => pool.clearCooldown(nl), () => pool.markFailure("a", `Incorrect API key provided: ${B}`)]) {
      try {
        call();
      } catch (e) {
        thrown.push(e.message);
      }
    }
    await pool.close().catch(() => {}); // the store's own error, as the store threw it
    const v1 = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: C }], logger: cap.logger });
    await v1.markFailure("profile-0", `Incorrect API key provided: ${C}`);
    assert.equal(thrown.length, 3, "each bad call threw");
    for (const m of thrown) assertNoLeak(m, "error message");
    assert.ok(cap.lines.some((l) => l.includes("loading state") && l.includes("[redacted]")), cap.lines.join("\n"));
    assert.ok(cap.lines.some((l) => l.includes("listener threw") && l.includes("[redacted]")), cap.lines.join("\n"));
    assertNoLeak(cap.lines.join("\n"), "logger output");
  } finally {
    cap.restore();
  }
});

test("a key shorter than 8 characters is redacted where it stands alone, not inside words", async () => {
  const pool = new Pool({ profiles: [{ id: "t", provider: "openai", apiKey: "test" }, { id: "e", provider: "openai", apiKey: "e" }], maxWaitMs: 0 });
  const err = await rejection(pool.run(() => Promise.reject(httpError(503, "Service temporarily unavailable (key: test; then: e)"))));
  assert.ok(err instanceof AllProfilesExhaustedError);
  for (const a of err.attempts) assert.equal(a.error, "Service temporarily unavailable (key: [redacted]; then: [redacted])");
});

test("a piece of another configured key in a provider's error is redacted too", async () => {
  const pool = new Pool({ profiles: [{ id: "a", provider: "openai", apiKey: A }, { id: "b", provider: "openai", apiKey: B }], maxWaitMs: 0 });
  // Each call's error quotes the last 12 characters of the other key (an SDK client kept from
  // an earlier key, or a message naming several).
  const other = (key) => (key === A ? B : A).slice(-12);
  const err = await rejection(pool.run(({ apiKey }) => Promise.reject(httpError(401, `Incorrect API key provided: key ending in ${other(apiKey)}`))));
  assert.ok(err instanceof AllProfilesExhaustedError);
  for (const a of err.attempts) assert.equal(a.error, "Incorrect API key provided: key ending in [redacted]");
  assertNoLeak(err.message, "exhausted message");
});
