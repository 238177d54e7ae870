// LlmKeyPool as a v1 user meets it: exports, v1's validation messages, ids, `format`
// treatment, fake timers, async methods, a v1 TypeScript program compiling unchanged — and
// each deliberate difference from key-carousel 1.1.0 (the README's "Migrating from v1"
// table), shown side by side with v1 itself.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { getEventListeners } from "node:events";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import util from "node:util";
import * as v1 from "key-carousel-v1";
import * as v2 from "key-carousel";
import { LlmKeyPool, Pool, AllProfilesExhaustedError, ConfigError, FailoverError, classifyError } from "key-carousel";
import { MIN, HOUR, rejection, httpError, typecheck } from "./helpers.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const KEY0 = "sk-test-key-zero-0123456789";
const KEY1 = "sk-test-key-one-0123456789";
const two = () => [
  { provider: "openai", apiKey: KEY0 },
  { provider: "openai", apiKey: KEY1 },
];

/** Runs `fn` with Date.now() returning `t.now` (v1 and LlmKeyPool both read it at each call). */
async function atFakeTime(start, fn) {
  const real = Date.now;
  const t = { now: start };
  Date.now = () => t.now;
  try {
    return await fn(t);
  } finally {
    Date.now = real;
  }
}

/** The error `fn` throws (fails the test if it does not throw). */
function thrown(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail("expected a throw");
}

test("LlmKeyPool is exported from import and require, one class", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("key-carousel");
  assert.equal(typeof LlmKeyPool, "function");
  assert.equal(cjs.LlmKeyPool, LlmKeyPool);
  assert.equal(cjs.AllProfilesExhaustedError, AllProfilesExhaustedError);
  const pool = new cjs.LlmKeyPool({ profiles: two() });
  assert.ok(pool instanceof LlmKeyPool);
});

test("v1's validation errors, message for message", () => {
  const cases = [
    { profiles: [{ id: "x", provider: "openai", apiKey: "k1" }, { id: "x", provider: "openai", apiKey: "k2" }] },
    { profiles: [{ provider: "openai", apiKey: "k1" }, { id: "profile-0", provider: "openai", apiKey: "k2" }] },
    { profiles: [{ id: "x", provider: "openai", apiKey: "" }] },
    { profiles: [{ provider: "openai" }] },
    { profiles: [{ id: "x", provider: "", apiKey: "k" }] },
    { profiles: [{ provider: "openai", apiKey: "k" }], fallbackModels: [{ provider: "anthropic", model: "c", apiKey: "a" }, { provider: "anthropic", model: "c", apiKey: "b" }] },
    { profiles: [{ id: "fallback-openai-gpt", provider: "openai", apiKey: "k" }], fallbackModels: [{ provider: "openai", model: "gpt" }] },
    { profiles: [{ provider: "openai", apiKey: "k" }], cooldowns: { maxRateLimitCooldownMs: -1 } },
    { profiles: [{ provider: "openai", apiKey: "k" }], cooldowns: { billingBackoffMs: -1 } },
    { profiles: [{ provider: "openai", apiKey: "k" }], cooldowns: { billingMaxMs: -0.5 } },
    { profiles: [{ provider: "openai", apiKey: "k" }], cooldowns: { failureWindowMs: -1 } },
    { profiles: [] },
    { profiles: [], fallbackModels: [{ provider: "openai", model: "gpt" }] },
    { profiles: [], fallbackModels: [{ provider: "openai", model: "gpt", apiKey: "" }] },
  ];
  const expected = [
    'Duplicate profile ID: "x"',
    'Duplicate profile ID: "profile-0"',
    'Profile "x" has an empty API key',
    'Profile "profile-0" has an empty API key',
    'Profile "x" has an empty provider',
    'Duplicate fallback ID: "fallback-anthropic-c"',
    'Duplicate fallback ID: "fallback-openai-gpt"',
    "maxRateLimitCooldownMs must be non-negative",
    "billingBackoffMs must be non-negative",
    "billingMaxMs must be non-negative",
    "failureWindowMs must be non-negative",
    "At least one profile or fallback with an API key is required",
    "At least one profile or fallback with an API key is required",
    "At least one profile or fallback with an API key is required",
  ];
  cases.forEach((config, i) => {
    const ours = thrown(() => new LlmKeyPool(config));
    const theirs = thrown(() => new v1.LlmKeyPool(config));
    assert.equal(theirs.message, expected[i], `v1 itself, case ${i}`);
    assert.equal(ours.message, expected[i], `case ${i}`);
    assert.equal(ours.constructor, Error, `case ${i}: a plain Error, as in v1`);
  });
});

test("default ids, fallbacks borrowing keys, `format` rotating and cooling (v1), status with v1's fields only", async () => {
  await atFakeTime(1_000_000, async (t) => {
    const pool = new LlmKeyPool({
      profiles: [...two(), { provider: "anthropic", model: "claude", apiKey: "sk-ant-0123456789" }],
      fallbackModels: [{ provider: "anthropic", model: "haiku" }, { provider: "mistral", model: "small" }],
    });
    const seen = [];
    const res = await pool.run(({ profileId, apiKey, provider, model, ...rest }) => {
      seen.push({ profileId, apiKey, provider, model, rest });
      if (profileId === "profile-0") throw httpError(400, "This model's maximum context length is 8192 tokens");
      return "ok";
    }, { model: "gpt-4o" });
    assert.deepEqual(seen, [
      { profileId: "profile-0", apiKey: KEY0, provider: "openai", model: "gpt-4o", rest: {} },
      { profileId: "profile-1", apiKey: KEY1, provider: "openai", model: "gpt-4o", rest: {} },
    ]);
    assert.deepEqual(res, {
      value: "ok",
      profileId: "profile-1",
      provider: "openai",
      model: "gpt-4o",
      attempts: [{ profileId: "profile-0", provider: "openai", model: "gpt-4o", error: "This model's maximum context length is 8192 tokens", reason: "format" }],
    });
    assert.deepEqual(pool.getStatus(), {
      profiles: [
        { id: "profile-0", provider: "openai", model: undefined, state: "cooldown", cooldownUntil: t.now + MIN, errorCount: 1, lastUsed: undefined, lastFailure: t.now },
        { id: "profile-1", provider: "openai", model: undefined, state: "available", cooldownUntil: undefined, errorCount: 0, lastUsed: t.now, lastFailure: undefined },
        { id: "profile-2", provider: "anthropic", model: "claude", state: "available", cooldownUntil: undefined, errorCount: 0, lastUsed: undefined, lastFailure: undefined },
        // borrows profile-2's key; the mistral fallback has none to borrow and is skipped
        { id: "fallback-anthropic-haiku", provider: "anthropic", model: "haiku", state: "available", cooldownUntil: undefined, errorCount: 0, lastUsed: undefined, lastFailure: undefined },
      ],
      totalAvailable: 3,
      totalInCooldown: 1,
      unavailableReason: null,
    });
    // The v2 Pool rethrows the same 400 at once and cools nothing.
    const v2pool = new Pool({ profiles: two() });
    const err = await rejection(v2pool.run(() => {
      throw httpError(400, "context length");
    }));
    assert.equal(err.status, 400);
    assert.equal(v2pool.getStatus().totalAvailable, 2);
  });
});

test("fake timers work: the time is Date.now() at each call, waits are setTimeout", async () => {
  mock.timers.enable({ apis: ["Date", "setTimeout"], now: 1_700_000_000_000 });
  try {
    const pool = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }] });
    await pool.markFailure("profile-0", "rate_limit");
    assert.equal(pool.isInCooldown("profile-0"), true);
    assert.equal(pool.getStatus().profiles[0].cooldownUntil, 1_700_000_000_000 + MIN);
    mock.timers.tick(MIN - 1);
    assert.equal(pool.isInCooldown("profile-0"), true);
    mock.timers.tick(1);
    assert.equal(pool.isInCooldown("profile-0"), false);

    // A run that waits for the cooldown: it resolves when the fake clock gets there.
    await pool.markFailure("profile-0", "rate_limit"); // second failure: 5 min
    let done = false;
    const p = pool.run(() => "after the wait").then((r) => ((done = true), r));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    mock.timers.tick(5 * MIN);
    const res = await p;
    assert.equal(res.value, "after the wait");
    assert.equal(pool.getStatus().profiles[0].lastUsed, 1_700_000_000_000 + MIN + 5 * MIN);
  } finally {
    mock.timers.reset();
  }
});

test("markFailure/markSuccess/clearCooldown are async, storagePath and init() are accepted, unknown ids are ignored", async () => {
  const pool = new LlmKeyPool({ profiles: two(), storagePath: join(tmpdir(), "kc-v1-compat-state.json") });
  assert.equal(await pool.init(), undefined);
  const p = pool.markFailure("profile-0", "billing");
  assert.ok(p instanceof Promise);
  assert.equal(await p, undefined);
  assert.equal(pool.getStatus().profiles[0].state, "disabled");
  assert.ok(pool.markSuccess("profile-0") instanceof Promise);
  assert.ok(pool.clearCooldown("profile-0") instanceof Promise);
  for (const op of ["markFailure", "markSuccess", "clearCooldown"]) {
    assert.equal(await pool[op]("nope", "rate_limit"), undefined, op);
  }
  assert.equal(pool.isInCooldown("nope"), false);
  assert.equal(pool.getStatus().totalAvailable, 2);
});

test("kept from v1: the pick is recorded at success, so concurrent calls all go to one key", async () => {
  for (const lib of [v1, v2]) {
    const pool = new lib.LlmKeyPool({ profiles: two() });
    const got = await Promise.all(
      Array.from({ length: 5 }, () => pool.run(async ({ profileId }) => (await new Promise((r) => setImmediate(r)), profileId))),
    );
    assert.deepEqual(got.map((r) => r.value), Array(5).fill("profile-0"), lib === v1 ? "v1" : "ours");
  }
  const spread = new Pool({ profiles: two().map((p, i) => ({ ...p, id: `k${i}` })) });
  const got = await Promise.all(Array.from({ length: 4 }, () => spread.run(async ({ profileId }) => (await new Promise((r) => setImmediate(r)), profileId))));
  assert.deepEqual(got.map((r) => r.value).sort(), ["k0", "k0", "k1", "k1"], "the v2 Pool spreads them");
});

// ── The documented differences, side by side with v1 ──

test("difference: keys echoed into error messages are redacted in attempts, errors and logs", async () => {
  const runBoth = async (lib) => {
    const logs = [];
    const pool = new lib.LlmKeyPool({ profiles: two(), maxWaitMs: 0, logger: { warn: (m) => logs.push(m) } });
    const err = await rejection(pool.run(({ apiKey }) => {
      throw httpError(401, `Incorrect API key provided: ${apiKey}`);
    }));
    return { err, logs };
  };
  const theirs = await runBoth(v1);
  const ours = await runBoth(v2);
  assert.equal(theirs.err.attempts[0].error, `Incorrect API key provided: ${KEY0}`);
  assert.equal(ours.err.attempts[0].error, "Incorrect API key provided: [redacted]");
  assert.ok(ours.err instanceof AllProfilesExhaustedError);
  assert.equal(ours.err.message, theirs.err.message.split(KEY0).join("[redacted]").split(KEY1).join("[redacted]"));
  for (const text of [ours.err.message, ...ours.logs]) {
    assert.ok(!text.includes(KEY0) && !text.includes(KEY1), text);
  }
  assert.ok(theirs.logs.some((l) => l.includes(KEY0)), "v1 logged the key");
});

test("difference: once the caller's signal has fired, the key is not blamed", async () => {
  const runBoth = async (lib) => {
    const pool = new lib.LlmKeyPool({ profiles: two() });
    const ac = new AbortController();
    const reason = new Error("user cancelled");
    const err = await rejection(pool.run(() => {
      ac.abort(reason);
      throw new Error("Request was aborted."); // what an SDK throws
    }, { signal: ac.signal }));
    return { err, status: pool.getStatus().profiles[0] };
  };
  const theirs = await runBoth(v1);
  const ours = await runBoth(v2);
  assert.equal(theirs.err.message, "user cancelled");
  assert.equal(ours.err.message, "user cancelled"); // the caller gets what v1 threw…
  assert.equal(theirs.status.errorCount, 1); // …but v1 also cooled the key
  assert.equal(theirs.status.state, "cooldown");
  assert.equal(ours.status.errorCount, 0);
  assert.equal(ours.status.state, "available");

  // Unchanged from v1: a non-timeout AbortError from the task is rethrown as is, signal or not.
  const pool = new LlmKeyPool({ profiles: two() });
  const abort = new DOMException("This operation was aborted", "AbortError");
  assert.equal(await rejection(pool.run(() => Promise.reject(abort))), abort);
  assert.equal(pool.getStatus().totalAvailable, 2);
});

test("difference: a failure reason outside the nine is recorded as 'unknown' (same cooldown), with a warning", async () => {
  await atFakeTime(5_000_000, async (t) => {
    const logs = [];
    const theirs = new v1.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }] });
    const ours = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }], logger: { warn: (m) => logs.push(m) } });
    await theirs.markFailure("profile-0", "rate-limit");
    await ours.markFailure("profile-0", "rate-limit");
    assert.equal(theirs.getStatus().unavailableReason, "rate-limit");
    assert.equal(ours.getStatus().unavailableReason, "unknown");
    assert.equal(ours.getStatus().profiles[0].cooldownUntil, theirs.getStatus().profiles[0].cooldownUntil);
    assert.equal(ours.getStatus().profiles[0].cooldownUntil, t.now + MIN);
    assert.match(logs[0], /unknown failure reason "rate-limit", recorded as "unknown"/);
    // The same for a FailoverError carrying such a reason, warned about too.
    const warned = [];
    const res = await new LlmKeyPool({ profiles: two(), logger: { warn: (m) => warned.push(m) } }).run(({ profileId }) => {
      if (profileId === "profile-0") throw new FailoverError("odd", { reason: "teapot" });
      return "ok";
    });
    assert.equal(res.attempts[0].reason, "unknown");
    assert.match(warned[0], /FailoverError of "profile-0": unknown failure reason "teapot", recorded as "unknown"/);
  });
});

test("difference: cooldowns v1 took but could not use are ConfigErrors; an explicit undefined is the default", async () => {
  for (const [value, field] of [[NaN, "maxRateLimitCooldownMs"], [Infinity, "billingBackoffMs"], [null, "billingMaxMs"], ["60000", "failureWindowMs"], [2 ** 60, "billingMaxMs"]]) {
    const err = thrown(() => new LlmKeyPool({ profiles: two(), cooldowns: { [field]: value } }));
    assert.ok(err instanceof ConfigError, `${field}: ${String(value)}`);
    assert.equal(err.field, `cooldowns.${field}`);
    assert.doesNotThrow(() => new v1.LlmKeyPool({ profiles: two(), cooldowns: { [field]: value } }), "v1 accepted it");
  }
  // What v1 did with NaN: the key never rests.
  const broken = new v1.LlmKeyPool({ profiles: two(), cooldowns: { maxRateLimitCooldownMs: NaN } });
  await broken.markFailure("profile-0", "rate_limit");
  assert.equal(broken.isInCooldown("profile-0"), false);
  // An explicit undefined: v1 replaced the default by it (the key never rests); here the default.
  const v1undef = new v1.LlmKeyPool({ profiles: two(), cooldowns: { billingMaxMs: undefined } });
  await v1undef.markFailure("profile-0", "billing");
  assert.equal(v1undef.isInCooldown("profile-0"), false);
  const ours = new LlmKeyPool({ profiles: two(), cooldowns: { billingMaxMs: undefined } });
  await ours.markFailure("profile-0", "billing");
  assert.equal(ours.isInCooldown("profile-0"), true);
  assert.equal(ours.getStatus().profiles[0].state, "disabled");
});

test("difference: ids and providers must be names the state can be keyed by", () => {
  const cases = [
    [{ profiles: [{ id: "", provider: "openai", apiKey: "k" }] }, "profiles[0].id"],
    [{ profiles: [{ id: " a", provider: "openai", apiKey: "k" }] }, "profiles[0].id"],
    [{ profiles: [{ id: "a\nb", provider: "openai", apiKey: "k" }] }, "profiles[0].id"],
    [{ profiles: [{ id: "x".repeat(257), provider: "openai", apiKey: "k" }] }, "profiles[0].id"],
    [{ profiles: [{ id: 7, provider: "openai", apiKey: "k" }] }, "profiles[0].id"],
    [{ profiles: [{ provider: "openai ", apiKey: "k" }] }, "profiles[0].provider"],
    [{ profiles: [{ provider: "openai", apiKey: 12345 }] }, "profiles[0].apiKey"],
    [{ profiles: [{ provider: "openai", apiKey: "k" }], fallbackModels: [{ provider: "", model: "m", apiKey: "k2" }] }, "fallbackModels[0].provider"],
  ];
  for (const [config, field] of cases) {
    const err = thrown(() => new LlmKeyPool(config));
    assert.ok(err instanceof ConfigError, field);
    assert.equal(err.field, field);
    assert.doesNotThrow(() => new v1.LlmKeyPool(config), `v1 accepted ${field}`);
  }
});

test("several faults: the first profile's is reported, whether v1's check or the core's finds it", () => {
  // The core checks names after v1's checks, for all the profiles at once; a name it refuses
  // still comes before a v1 error in a later profile, as when they were added one by one.
  const badName = { id: " a", provider: "openai", apiKey: "k1" };
  const noKey = { id: "b", provider: "openai", apiKey: "" };
  const err1 = thrown(() => new LlmKeyPool({ profiles: [badName, noKey] }));
  assert.ok(err1 instanceof ConfigError);
  assert.equal(err1.field, "profiles[0].id");
  const err2 = thrown(() => new LlmKeyPool({ profiles: [noKey, badName] }));
  assert.equal(err2.message, 'Profile "b" has an empty API key');
  // A bad fallback name comes after every profile, and before a later fallback's duplicate.
  const fb = { provider: "openai ", model: "m", apiKey: "k2" };
  const err3 = thrown(() => new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "k" }], fallbackModels: [fb, fb] }));
  assert.equal(err3.field, "fallbackModels[0].provider");
  const ok = { provider: "openai", model: "m", apiKey: "k2" };
  const err4 = thrown(() => new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "k" }], fallbackModels: [ok, ok] }));
  assert.equal(err4.message, 'Duplicate fallback ID: "fallback-openai-m"');
  assert.ok(!(err4 instanceof ConfigError), "v1's own error");
  // The same as key-carousel 1.1.0 where v1 has the error.
  assert.equal(thrown(() => new v1.LlmKeyPool({ profiles: [noKey, badName] })).message, err2.message);
  assert.equal(thrown(() => new v1.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "k" }], fallbackModels: [ok, ok] })).message, err4.message);
});

test("difference: a task that is not a function is a TypeError, not a failure of every key", async () => {
  const theirs = new v1.LlmKeyPool({ profiles: two(), maxWaitMs: 0 });
  const err1 = await rejection(theirs.run("not a function"));
  assert.equal(err1.name, "AllProfilesExhaustedError");
  assert.equal(theirs.getStatus().totalInCooldown, 2);
  const ours = new LlmKeyPool({ profiles: two(), maxWaitMs: 0 });
  const err2 = await rejection(ours.run("not a function"));
  assert.ok(err2 instanceof TypeError);
  assert.equal(ours.getStatus().totalAvailable, 2);
});

test("difference: a logger that throws is ignored", async () => {
  const logger = { info: () => { throw new Error("log sink down"); }, warn: () => { throw new Error("log sink down"); } };
  const task = ({ profileId }) => {
    if (profileId === "profile-0") throw httpError(429, "Too Many Requests");
    return "ok";
  };
  const err = await rejection(new v1.LlmKeyPool({ profiles: two(), logger }).run(task));
  assert.equal(err.message, "log sink down");
  const res = await new LlmKeyPool({ profiles: two(), logger }).run(task);
  assert.equal(res.value, "ok");
  assert.equal(res.attempts[0].reason, "rate_limit");
});

test("an async logger whose promise rejects leaves no unhandled rejection, from LlmKeyPool and Pool (was: one per message, which ends a Node process by default; v1 too; found by an audit)", async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    const logger = { info: async () => { throw new Error("log sink down"); }, warn: async () => { throw new Error("log sink down"); } };
    const task = ({ profileId }) => {
      if (profileId === "profile-0") throw httpError(429, "Too Many Requests");
      return "ok";
    };
    assert.equal((await new LlmKeyPool({ profiles: two(), logger }).run(task)).value, "ok");
    const profiles = two().map((p, i) => ({ ...p, id: `profile-${i}` }));
    assert.equal((await new Pool({ profiles, logger }).run(task)).value, "ok");
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled.map((e) => e.message), []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("difference: waits beyond setTimeout's 24.8 days are waited in full; no abort listener is left behind", async () => {
  const real = globalThis.setTimeout;
  const realNow = Date.now;
  const runBoth = async (lib) => {
    let now = 1_000_000;
    const delays = [];
    Date.now = () => now;
    globalThis.setTimeout = (cb, ms) => {
      delays.push(ms);
      now += ms;
      setImmediate(cb);
      return 0;
    };
    try {
      const day = 24 * HOUR;
      const pool = new lib.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }], cooldowns: { billingBackoffMs: 30 * day, billingMaxMs: 30 * day } });
      await pool.markFailure("profile-0", "billing");
      const ac = new AbortController();
      const res = await pool.run(() => "back", { signal: ac.signal });
      return { res, delays, listeners: getEventListeners(ac.signal, "abort").length };
    } finally {
      globalThis.setTimeout = real;
      Date.now = realNow;
    }
  };
  const theirs = await runBoth(v1);
  const ours = await runBoth(v2);
  const total = 30 * 24 * HOUR;
  assert.deepEqual(theirs.delays, [total]); // Node fires such a timer after 1 ms
  assert.deepEqual(ours.delays, [2 ** 31 - 1, total - (2 ** 31 - 1)]);
  assert.equal(ours.res.value, "back");
  assert.equal(theirs.listeners, 1);
  assert.equal(ours.listeners, 0);
});

test("difference: JSON.stringify and util.inspect show the status, never a key", () => {
  const theirs = new v1.LlmKeyPool({ profiles: two() });
  assert.ok(util.inspect(theirs, { depth: 5 }).includes(KEY0), "v1's inspect shows keys");
  const ours = new LlmKeyPool({ profiles: two() });
  for (const text of [JSON.stringify(ours), util.inspect(ours, { depth: 5 }), String(ours)]) {
    assert.ok(!text.includes(KEY0) && !text.includes(KEY1), text);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(ours)).profiles.map((p) => p.id), ["profile-0", "profile-1"]);
});

test("difference: the exported classifyError uses v2's rules; LlmKeyPool's run keeps v1's", async () => {
  const e500 = httpError(500, "Internal Server Error");
  assert.equal(v1.classifyError(e500), "unknown");
  assert.equal(classifyError(e500), "server_error");
  const res = await new LlmKeyPool({ profiles: two() }).run(({ profileId }) => {
    if (profileId === "profile-0") throw e500;
    return "ok";
  });
  assert.equal(res.attempts[0].reason, "unknown");
});

// ── A v1 TypeScript program compiles unchanged against our types ──

const tsc = join(root, "node_modules", ".bin", "tsc");

test("a v1 TypeScript program type-checks unchanged against our types", { skip: !existsSync(tsc) && "typescript is not installed" }, async () => {
  const againstV1 = await typecheck("v1-program.ts", { target: join(root, "node_modules", "key-carousel-v1") });
  assert.equal(againstV1.code, 0, `the sample is not a valid v1 program:\n${againstV1.out}`);
  const againstOurs = await typecheck("v1-program.ts", { target: join(root, "pkg") });
  assert.equal(againstOurs.code, 0, `a v1 program does not compile against key-carousel 2:\n${againstOurs.out}`);
  const v2program = await typecheck("v2-program.ts", { target: join(root, "pkg") });
  assert.equal(v2program.code, 0, `a v2 program does not compile:\n${v2program.out}`);
  // The check can fail: a wrong reason is a type error.
  const wrong = await typecheck("v1-wrong.ts", { target: join(root, "pkg") });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.out, /rate-limit/);
});

test("a config without an iterable profiles list throws v1's TypeError, in v1's words", () => {
  for (const config of [{}, { profiles: null }, { profiles: 5 }]) {
    const want = thrown(() => new v1.LlmKeyPool(config));
    const got = thrown(() => new v2.LlmKeyPool(config));
    assert.equal(got.constructor, TypeError);
    assert.equal(got.message, want.message, JSON.stringify(config));
  }
});

test("LlmKeyPool.init() again reads the file again, as v1's: it picks up what another process wrote", async () => {
  const { mkdtempSync } = await import("node:fs");
  const storagePath = join(mkdtempSync(join(tmpdir(), "kc-v1-reinit-")), "state.json");
  const a = new LlmKeyPool({ profiles: two(), storagePath });
  const b = new LlmKeyPool({ profiles: two(), storagePath });
  await a.init();
  await b.init();
  await a.markFailure("profile-0", "rate_limit"); // awaited: written
  assert.equal(b.isInCooldown("profile-0"), false);
  await b.init();
  assert.equal(b.isInCooldown("profile-0"), true, "b read the file again");
  assert.equal(b.isInCooldown("profile-1"), false);
  await a.close?.();
  await b.close?.();
});

test("run() reports through markFailure/markSuccess as v1's does: a subclass's override and a spy see every call", async () => {
  for (const lib of [v1, v2]) {
    const calls = [];
    class Counting extends lib.LlmKeyPool {
      async markFailure(id, reason) {
        calls.push(["fail", id, reason]);
        return super.markFailure(id, reason);
      }
      async markSuccess(id) {
        calls.push(["ok", id]);
        return super.markSuccess(id);
      }
    }
    const pool = new Counting({ profiles: [{ provider: "openai", apiKey: KEY0 }, { provider: "openai", apiKey: `${KEY0}-b` }] });
    let first = true;
    await pool.run(() => (first ? ((first = false), Promise.reject(httpError(429, "Too Many Requests"))) : "ok"));
    assert.deepEqual(calls, [["fail", "profile-0", "rate_limit"], ["ok", "profile-1"]], lib === v1 ? "v1" : "v2");
    assert.equal(pool.isInCooldown("profile-0"), true);

    const spied = new lib.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }] });
    const spy = mock.method(spied, "markSuccess");
    await spied.run(() => "ok");
    assert.equal(spy.mock.callCount(), 1, lib === v1 ? "v1" : "v2");
    assert.deepEqual(spy.mock.calls[0].arguments, ["profile-0"]);

    // A spy on the prototype (jest.spyOn(LlmKeyPool.prototype, ...), instrumentation that
    // wraps the class's methods) sees run()'s calls too (was: none, in v2).
    const onFailure = mock.method(lib.LlmKeyPool.prototype, "markFailure");
    const onSuccess = mock.method(lib.LlmKeyPool.prototype, "markSuccess");
    try {
      const wrapped = new lib.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: KEY0 }, { provider: "openai", apiKey: `${KEY0}-b` }] });
      let once = true;
      await wrapped.run(() => (once ? ((once = false), Promise.reject(httpError(429, "Too Many Requests"))) : "ok"));
      const seen = (m) => m.mock.calls.map((c) => c.arguments);
      assert.deepEqual([seen(onFailure), seen(onSuccess)], [[["profile-0", "rate_limit"]], [["profile-1"]]], lib === v1 ? "v1" : "v2");
      assert.equal(wrapped.isInCooldown("profile-0"), true);
    } finally {
      onFailure.mock.restore();
      onSuccess.mock.restore();
    }
  }
});

test("a subclass's markSuccess that throws fails the attempt, as v1's (was: the run rejected at once); errors serialize as v1's", async () => {
  const outcome = async (lib) => {
    class Flaky extends lib.LlmKeyPool {
      async markSuccess() {
        throw new Error("success hook failed");
      }
    }
    const pool = new Flaky({ profiles: [{ provider: "openai", apiKey: KEY0 }, { provider: "openai", apiKey: `${KEY0}-b` }], maxWaitMs: 0 });
    let calls = 0;
    const err = await rejection(pool.run(() => (calls++, "ok")));
    return {
      error: err.name,
      attempts: err.attempts?.map((a) => [a.profileId, a.reason, a.error]),
      calls,
      states: pool.getStatus().profiles.map((p) => p.state),
    };
  };
  const mine = await outcome(v2);
  assert.deepEqual(mine, await outcome(v1));
  assert.equal(mine.calls, 2);
  // Own properties in v1's order: JSON.stringify of the errors reads the same.
  for (const make of [(l) => new l.FailoverError("x", { reason: "auth" }), (l) => new l.AllProfilesExhaustedError([])]) {
    assert.equal(JSON.stringify(make(v2)), JSON.stringify(make(v1)));
  }
});

test("init() logs \"Loaded persisted state\" only when it read a state, as v1", async () => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const dir = mkdtempSync(join(tmpdir(), "kc-v1-init-"));
  const profiles = [{ provider: "openai", apiKey: KEY0 }];
  const infos = async (lib, path) => {
    const lines = [];
    const pool = new lib.LlmKeyPool({ profiles, storagePath: path, logger: { info: (m) => lines.push(m), warn() {}, error() {}, debug() {} } });
    await pool.init();
    await pool.close?.();
    return lines.filter((l) => l.startsWith("Loaded persisted state"));
  };
  const good = join(dir, "good.json");
  writeFileSync(good, JSON.stringify({ version: 1, profiles: { "profile-0": { errorCount: 1, lastFailure: Date.now() } } }));
  const bad = join(dir, "bad.json");
  for (const lib of [v1, v2]) {
    writeFileSync(bad, "{not json");
    assert.deepEqual(await infos(lib, join(dir, "none.json")), [], "no file");
    assert.deepEqual(await infos(lib, bad), [], "a bad file");
    assert.deepEqual(await infos(lib, good), ["Loaded persisted state for 1 profiles"], "a state");
  }
});

test("LlmKeyPool: a Date.now() out of range is a RangeError naming the time in every call, and changes nothing (was: named only by getStatus)", async (t) => {
  const pool = new v2.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "sk-range-aaaaaaaaaaaa" }] });
  for (const bad of [-5, 2 ** 53 + 10]) {
    t.mock.method(Date, "now", () => bad);
    const calls = {
      getStatus: () => pool.getStatus(),
      isInCooldown: () => pool.isInCooldown("profile-0"),
      markFailure: () => pool.markFailure("profile-0", "rate_limit"),
      markSuccess: () => pool.markSuccess("profile-0"),
      run: () => pool.run(() => "x"),
    };
    for (const [name, call] of Object.entries(calls)) {
      let err;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof RangeError, `${name} at ${bad}: ${err}`);
      assert.ok(err.message.endsWith(`got ${bad}`), `${name}: ${err.message}`);
    }
    t.mock.restoreAll();
  }
  const s = pool.getStatus().profiles[0];
  assert.equal(s.errorCount, 0);
  assert.equal(s.lastUsed, undefined);
});

test("LlmKeyPool keeps v1's AbortError for an abort whose reason is null (Pool rethrows the null, as fetch does)", async () => {
  const profiles = [{ id: "a", provider: "openai", apiKey: "sk-abort-aaaaaaaaaaaaaaaa" }];
  for (const Class of [v1.LlmKeyPool, LlmKeyPool]) {
    const pool = new Class({ profiles, logger: { info() {}, warn() {}, error() {} } });
    const ac = new AbortController();
    ac.abort(null);
    const before = await pool.run(async () => 1, { signal: ac.signal }).then(() => "resolved", (e) => e);
    assert.equal(before?.name, "AbortError", Class === LlmKeyPool ? "v2's LlmKeyPool" : "v1");
    pool.markFailure("a", "rate_limit");
    const ac2 = new AbortController();
    const waiting = pool.run(async () => 1, { signal: ac2.signal }).then(() => "resolved", (e) => e);
    await new Promise((r) => setTimeout(r, 5));
    ac2.abort(null);
    assert.equal((await waiting)?.name, "AbortError", Class === LlmKeyPool ? "v2's LlmKeyPool" : "v1");
  }
});
