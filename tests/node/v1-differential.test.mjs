// Differential test: key-carousel 1.1.0 itself (dev dependency `key-carousel-v1`) and our
// LlmKeyPool are driven through the same random sequences — construction, markFailure with
// every reason, markSuccess, clearCooldown, isInCooldown, a fake clock moving forward,
// getStatus, run with scripted tasks (serial, waiting through cooldowns, and concurrent) —
// and must agree on every return value, thrown error, status, log line and clock reading.
// The only normalisations are the documented differences (README, "Migrating from v1"), each
// marked "documented difference" below. KC_DIFF_RUNS sets the number of sequences (default
// 3000, at least 1000; KC_DIFF_SEED replays one seed).
//
// Not generated, because LlmKeyPool deliberately differs there (each difference has its own
// test in v1-compat.test.mjs and a row in the README): markFailure with a reason outside the
// nine, a FailoverError carrying such a reason, the caller's signal firing while a task runs
// (only already-aborted signals are generated), cooldowns that are NaN, infinite, null,
// strings or explicitly undefined, ids and providers with surrounding whitespace or control
// characters, a task that is not a function, a throwing logger, waits beyond 24.8 days.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as v1 from "key-carousel-v1";
import * as v2 from "key-carousel";

const RUNS = Math.max(1000, Number(process.env.KC_DIFF_RUNS) || 3000);
const REASONS = ["rate_limit", "server_error", "auth", "auth_permanent", "billing", "timeout", "model_not_found", "format", "unknown"];
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

// ── The fake clock (both implementations read Date.now() at each call) and fake timers ──

let clock = 0;
const realNow = Date.now;
const realSetTimeout = globalThis.setTimeout;
const immediate = () => new Promise((r) => setImmediate(r));

/**
 * Runs `fn` with Date.now() = the fake clock and setTimeout replaced by one that moves the
 * clock forward by the delay and fires on the next turn (a `run` waiting for a cooldown).
 */
async function withFakeTime(fn) {
  Date.now = () => clock;
  globalThis.setTimeout = (cb, ms) => {
    clock += ms;
    setImmediate(cb);
    return 0;
  };
  try {
    return await fn();
  } finally {
    Date.now = realNow;
    globalThis.setTimeout = realSetTimeout;
  }
}

// ── Generated errors (data), made into real thrown values per implementation ──

const FRAGMENTS = [
  "rate limit", "Rate-Limit", "ratelimit", "rate  limit", "RATE_LIMIT_EXCEEDED", "too many requests", "Throttled",
  "billing", "Payment required", "quota exceeded", "Quota limit", "quota", "exceeded quota", "insufficient funds",
  "insufficient_quota", "Insufficient credit", "insufficient balance", "Your credit balance is too low", "API usage limits",
  "This organization has been disabled", "account is suspended", "aka.ms/oai/quotaincrease", "unauthorized", "invalid api key",
  "Invalid x-api-key", "invalid apikey", "authentication", "Forbidden", "permission", "access denied",
  "accessdenied", "model gpt-9 not found", "The model does not exist", "unknown model", "context length",
  "context_length_exceeded", "token limit", "max_tokens", "timeout", "timed out", "time out", "timedout",
  "ETIMEDOUT", "ECONNABORTED", "service unavailable", "Service_Unavailable", "overloaded", "aborted",
  "\n", "\r", "\u2028", "İ", "ſ", "K", "é", "😀", " ", "-", "_", ".", "x",
];
const messageArb = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 4 }).map((a) => a.join("")) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: "grapheme", maxLength: 4 })), { maxLength: 4 }).map((a) => a.join("")) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
);
const statusArb = fc.oneof(
  fc.constantFrom(400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529, 200, 418),
  fc.integer({ min: -1, max: 700 }),
  fc.constantFrom(401.5, NaN, Infinity, "429", null),
);
const errorSpecArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("error"),
      ctor: fc.constantFrom("Error", "TypeError", "RangeError"),
      name: fc.option(fc.constantFrom("AbortError", "TimeoutError", "APIConnectionTimeoutError", "RateLimitError", "FailoverError"), { nil: undefined }),
      message: messageArb,
      status: fc.option(statusArb, { nil: undefined }),
      where: fc.constantFrom("status", "statusCode", "response"),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("plain"), message: messageArb, status: fc.option(statusArb, { nil: undefined }), where: fc.constantFrom("status", "statusCode", "response") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("string"), message: messageArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dom"), name: fc.constantFrom("AbortError", "TimeoutError", "NetworkError"), message: messageArb }) },
  // Each implementation gets its own FailoverError (v1 only recognises its own class).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("failover"), message: messageArb, reason: fc.option(fc.constantFrom(...REASONS), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("value"), value: fc.constantFrom(null, undefined, 42, 0, true) }) },
);

const CTORS = { Error, TypeError, RangeError };

/** A fresh thrown value described by `spec`, for library `lib`; `tag` tells them apart. */
function makeError(spec, lib, tag) {
  let err;
  switch (spec.kind) {
    case "error":
      err = new CTORS[spec.ctor](spec.message);
      if (spec.name !== undefined) err.name = spec.name;
      break;
    case "plain":
      err = { message: spec.message };
      break;
    case "string":
      return spec.message;
    case "value":
      return spec.value;
    case "dom":
      err = new DOMException(spec.message, spec.name);
      break;
    case "failover":
      err = new lib.FailoverError(spec.message, spec.reason === undefined ? undefined : { reason: spec.reason });
      break;
  }
  if (spec.status !== undefined) {
    if (spec.where === "response") err.response = { status: spec.status };
    else err[spec.where] = spec.status;
  }
  Object.defineProperty(err, "tag", { value: tag, enumerable: false });
  return err;
}

// ── Pools ──

const PROVIDERS = ["openai", "anthropic", "google"];
/** Mostly valid; now and then one of v1's validation errors (duplicate id, empty key or provider). */
const profileArb = fc.record({
  id: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("a", "b", "profile-1", "fallback-openai-gpt-4o") }),
  provider: fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...PROVIDERS) }, { weight: 1, arbitrary: fc.constant("") }),
  model: fc.constantFrom(undefined, undefined, "gpt-4o", "claude", "", "m1"),
  apiKey: fc.oneof({ weight: 40, arbitrary: fc.stringMatching(/^sk-[0-9a-f]{12}$/) }, { weight: 1, arbitrary: fc.constant("") }),
});
const fallbackArb = fc.record(
  {
    provider: fc.constantFrom(...PROVIDERS, "mistral"),
    model: fc.constantFrom("gpt-4o", "gpt-4o-mini", "claude", "gemini"),
    apiKey: fc.oneof(fc.stringMatching(/^sk-[0-9a-f]{12}$/), fc.constant("")),
  },
  { requiredKeys: ["provider", "model"] },
);
const cooldownValue = fc.oneof(
  { weight: 40, arbitrary: fc.integer({ min: 0, max: 48 * HOUR }) },
  { weight: 20, arbitrary: fc.constantFrom(0, 1, MIN, 5 * MIN, HOUR, 2 * HOUR) },
  { weight: 1, arbitrary: fc.integer({ min: -10, max: -1 }) }, // v1's "must be non-negative"
);
const configArb = fc.record(
  {
    profiles: fc.array(profileArb, { minLength: 1, maxLength: 5 }),
    fallbackModels: fc.array(fallbackArb, { maxLength: 3 }),
    cooldowns: fc.record(
      {
        maxRateLimitCooldownMs: cooldownValue,
        billingBackoffMs: cooldownValue,
        billingMaxMs: cooldownValue,
        failureWindowMs: fc.oneof(cooldownValue, fc.integer({ min: 0, max: 2 * HOUR })),
      },
      { requiredKeys: [] },
    ),
    maxWaitMs: fc.constantFrom(0, 30 * SEC, 10 * MIN, 2 * HOUR, 48 * HOUR),
  },
  { requiredKeys: ["profiles"] },
);

// ── Operations ──

const behaviourArb = fc.record({
  advance: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 10 * MIN }) }),
  outcome: fc.oneof(
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("ok") }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("throw"), error: errorSpecArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("echoKey") }) },
  ),
});
const runOptsArb = fc.record(
  {
    provider: fc.constantFrom(...PROVIDERS, "mistral", "nobody", ""),
    model: fc.constantFrom("opt-model", ""),
    label: fc.constantFrom("agent", "x"),
    maxWaitMs: fc.constantFrom(0, 10 * SEC, 5 * MIN, 2 * HOUR, 30 * HOUR),
    signal: fc.constantFrom("none", "aborted"),
  },
  { requiredKeys: [] },
);
const opArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("markFailure"), who: fc.nat(), reason: fc.constantFrom(...REASONS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("markSuccess"), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clearCooldown"), who: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("isInCooldown"), who: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("advance"),
      ms: fc.oneof(fc.integer({ min: 0, max: 2 * MIN }), fc.integer({ min: 0, max: 30 * HOUR }), fc.constantFrom(MIN, 5 * MIN, HOUR, 5 * HOUR, 24 * HOUR + 1)),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("run"),
      script: fc.array(behaviourArb, { maxLength: 8 }),
      // The last behaviour forever: runs that fail on every key until the attempt limit.
      repeat: fc.boolean(),
      opts: fc.option(runOptsArb, { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("concurrent"),
      runs: fc.array(fc.record({ script: fc.array(behaviourArb, { maxLength: 4 }), hops: fc.integer({ min: 1, max: 3 }), provider: fc.option(fc.constantFrom(...PROVIDERS), { nil: undefined }) }), { minLength: 2, maxLength: 4 }),
    }),
  },
);
const startArb = fc.constantFrom(0, 1, 1_700_000_000_000, 1_700_000_000_123);

// ── One side of the comparison ──

/** The pool of one implementation, with a recording logger. */
function side(lib, config) {
  const logs = [];
  const logger = Object.fromEntries(["debug", "info", "warn", "error"].map((l) => [l, (msg) => logs.push([l, msg])]));
  let pool;
  try {
    pool = new lib.LlmKeyPool({ ...config, logger });
  } catch (e) {
    return { error: { isError: e instanceof Error, message: e.message }, logs };
  }
  return { pool, logs, lib, keys: [] };
}

/** What a settled promise or a thrown value looks like, comparable across implementations. */
function outcome(lib, settled) {
  if (settled.status === "fulfilled") return { ok: normaliseResult(settled.value) };
  const e = settled.reason;
  if (e instanceof lib.AllProfilesExhaustedError) {
    return { exhausted: { name: e.name, message: e.message, attempts: e.attempts } };
  }
  // Anything else is a value a task threw (rethrown) or an abort reason: compare by tag.
  return { rethrown: e?.tag ?? (typeof e === "object" ? "untagged" : e) };
}

function normaliseResult(r) {
  return r === undefined ? r : { ...r };
}

/** Runs one operation on one side (under withFakeTime); returns what it observed. */
async function apply(s, op, ids, runTags) {
  const id = (who) => (who % (ids.length + 1) === ids.length ? "no-such-profile" : ids[who % (ids.length + 1)]);
  const { pool, lib } = s;
  switch (op.op) {
    case "markFailure":
      return { value: await pool.markFailure(id(op.who), op.reason) };
    case "markSuccess":
      return { value: await pool.markSuccess(id(op.who)) };
    case "clearCooldown":
      return { value: await pool.clearCooldown(id(op.who)) };
    case "isInCooldown":
      return { value: pool.isInCooldown(id(op.who)) };
    case "advance":
      clock += op.ms;
      return {};
    case "run": {
      const calls = [];
      const task = scripted(lib, op.script, calls, runTags, 0, 0, op.repeat);
      const opts = op.opts === undefined ? undefined : runOptions(op.opts);
      const settled = await pool.run(task, opts).then((value) => ({ status: "fulfilled", value }), (reason) => ({ status: "rejected", reason }));
      return { calls, result: outcome(lib, settled) };
    }
    case "concurrent": {
      const calls = [];
      // maxWaitMs 0: concurrent runs never sleep, so the interleaving is set by the tasks'
      // setImmediate hops alone (each task hops at least once before it settles).
      const settled = await Promise.allSettled(
        op.runs.map((r, i) => pool.run(scripted(lib, r.script, calls, runTags, r.hops, i), { maxWaitMs: 0, provider: r.provider })),
      );
      return { calls, results: settled.map((x) => outcome(lib, x)) };
    }
  }
  throw new Error(`unknown op ${op.op}`);
}

function runOptions(o) {
  const opts = { ...o };
  if (o.signal === "aborted") opts.signal = AbortSignal.abort(Object.assign(new Error("caller gave up"), { tag: "caller-abort" }));
  else delete opts.signal;
  return opts;
}

/** A task that plays `script`, one behaviour per call, then succeeds (or repeats the last). */
function scripted(lib, script, calls, runTags, hops, runIndex = 0, repeat = false) {
  let n = 0;
  return async (ctx) => {
    const step = n < script.length || !repeat ? script[n] : script[script.length - 1];
    n++;
    calls.push({ run: runIndex, ctx: { ...ctx }, at: clock });
    for (let h = 0; h < hops; h++) await immediate();
    if (step === undefined) return `value-${runIndex}-${n}`;
    clock += step.advance;
    switch (step.outcome.kind) {
      case "ok":
        return `value-${runIndex}-${n}`;
      case "echoKey":
        throw Object.assign(new Error(`Incorrect API key provided: ${ctx.apiKey}. Check it.`), { status: 401 });
      case "throw":
        throw makeError(step.outcome.error, lib, `${runTags}-${runIndex}-${n}`);
    }
  };
}

/**
 * documented difference: error text in attempts and logs has every configured key replaced
 * by "[redacted]" in v2 (v1 printed keys that providers echo back). Applied to v1's output.
 */
function redactV1(value, keys) {
  if (typeof value === "string") return keys.reduce((s, k) => s.split(k).join("[redacted]"), value);
  if (Array.isArray(value)) return value.map((v) => redactV1(v, keys));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "apiKey" ? v : redactV1(v, keys)]));
  }
  return value;
}

const stats = { sequences: 0, constructed: 0, ops: 0, runs: 0, attempts: 0, waits: 0, attemptLimit: 0, concurrent: 0, sameKey: 0 };

async function sequence(start, config, ops) {
  clock = start;
  stats.sequences++;
  const a = side(v1, config);
  const b = side(v2, config);
  assert.deepStrictEqual(b.error, a.error, "construction");
  if (a.error) return;
  stats.constructed++;
  const ids = a.pool.getStatus().profiles.map((p) => p.id);
  const keys = [...new Set([...(config.profiles ?? []).map((p) => p.apiKey), ...(config.fallbackModels ?? []).map((f) => f.apiKey)].filter(Boolean))];
  for (const [i, op] of ops.entries()) {
    stats.ops++;
    const t = clock;
    const ra = await withFakeTime(() => apply(a, op, ids, i));
    const ta = clock;
    clock = t;
    const rb = await withFakeTime(() => apply(b, op, ids, i));
    const where = `op ${i} ${JSON.stringify(op)}`;
    assert.equal(clock, ta, `clock after ${where}`);
    assert.deepStrictEqual(rb, redactV1(ra, keys), where);
    if (ra.result?.exhausted || ra.result?.ok) stats.attempts += (ra.result.exhausted ?? ra.result.ok).attempts.length;
    if (op.op === "run") stats.runs++;
    if (op.op === "concurrent") {
      stats.concurrent++;
      // v1's signature: runs started together get the same key (the pick is recorded at success).
      const firsts = op.runs.map((_, i) => ra.calls.find((c) => c.run === i)?.ctx.profileId).filter(Boolean);
      if (new Set(firsts).size < firsts.length) stats.sameKey++;
    }
    // A run that ended on the attempt limit (its last call failed and no wait ended it).
    if (op.op === "run" && ra.result.exhausted && ra.calls.length >= 16 && ra.result.exhausted.attempts.length === ra.calls.length) stats.attemptLimit++;
    const sa = await withFakeTime(async () => a.pool.getStatus());
    const sb = await withFakeTime(async () => b.pool.getStatus());
    assert.deepStrictEqual(sb, sa, `status after ${where}`);
    assert.deepStrictEqual(b.logs, redactV1(a.logs, keys), `logs after ${where}`);
  }
  stats.waits += a.logs.filter(([, m]) => m.includes("All profiles in cooldown")).length;
}

test(`LlmKeyPool and key-carousel 1.1.0 agree on ${RUNS} random sequences`, async (t) => {
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(startArb, configArb, fc.array(opArb, { minLength: 5, maxLength: 40, size: "medium" }), sequence),
    { numRuns: RUNS, seed: process.env.KC_DIFF_SEED === undefined ? undefined : Number(process.env.KC_DIFF_SEED) },
  );
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  t.diagnostic(
    `${stats.sequences} sequences (${stats.constructed} constructed, the rest compared construction errors), ` +
      `${stats.ops} operations, ${stats.runs} serial runs, ${stats.attempts} failed attempts, ${stats.waits} waits, ` +
      `${stats.attemptLimit} runs stopped by the attempt limit, ${stats.concurrent} groups of concurrent runs ` +
      `(${stats.sameKey} sharing a key), ${secs} s`,
  );
  // The generators must reach the interesting paths, or the comparison proves little.
  assert.ok(stats.constructed > RUNS / 2, `only ${stats.constructed} pools constructed`);
  assert.ok(stats.waits > 20, `only ${stats.waits} runs waited for a cooldown`);
  assert.ok(stats.attempts > 1000, `only ${stats.attempts} failed attempts`);
  assert.ok(stats.attemptLimit > 5, `only ${stats.attemptLimit} runs reached the attempt limit`);
  assert.ok(stats.sameKey > 20, `only ${stats.sameKey} groups of concurrent runs shared a key`);
});

// ── classification through run's attempts, and v2's classifyError against v1's ──

/** The reason a one-profile LlmKeyPool gives a thrown value, as its run reports it. */
async function reasonViaRun(lib, err) {
  const pool = new lib.LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "sk-classify-0001" }], maxWaitMs: 0 });
  try {
    await pool.run(() => {
      throw err;
    });
  } catch (e) {
    if (e instanceof lib.AllProfilesExhaustedError) return e.attempts[0].reason;
    return { rethrown: e === err };
  }
  return "resolved?";
}

test("classification: LlmKeyPool's run reports v1's classifyError; exported classifyError differs only as documented", async (t) => {
  let count = 0;
  let differ = 0;
  await fc.assert(
    fc.asyncProperty(errorSpecArb, async (spec) => {
      count++;
      const e1 = makeError(spec, v1, "x");
      const e2 = makeError(spec, v2, "x");
      const expected = v1.classifyError(e1);
      const viaV1 = await reasonViaRun(v1, e1);
      const viaV2 = await reasonViaRun(v2, e2);
      assert.deepStrictEqual(viaV2, viaV1);
      if (typeof viaV1 === "string") assert.equal(viaV2, expected);
      // documented difference: the exported classifyError uses v2's rules. On these errors
      // (no `code`, no `cause`) v2 only adds: 5xx → server_error, 408 → timeout, 413 and 422 →
      // format (whatever the message: the request's fault, as a 400), the name
      // APIConnectionTimeoutError → timeout, a 400 about the account's credit or usage limit →
      // billing and about a disabled organization → auth_permanent (Anthropic's answers), a
      // 429 saying "rate limit" next to "quota" → rate_limit, a 429 about credits, a spending
      // limit or billing (no "rate limit") → billing, and a plain object's `message` is
      // read (v1 read "[object Object]"): it is classified as an Error with that message and
      // status. Everything else must be v1's answer.
      const got = v2.classifyError(e2);
      if (got !== expected && spec.kind === "plain") {
        assert.equal(got, v2.classifyError(makeError({ ...spec, kind: "error", ctor: "Error" }, v2, "x")), `a plain object as its Error: ${JSON.stringify(spec)}`);
        differ++;
      } else if (got !== expected) {
        differ++;
        const status = spec.kind === "error" || spec.kind === "plain" ? spec.status : undefined;
        const is5xx = Number.isInteger(status) && status >= 500 && status <= 599;
        const allowed =
          (is5xx && got === "server_error") ||
          (status === 408 && got === "timeout") ||
          ((status === 413 || status === 422) && got === "format") ||
          (spec.name === "APIConnectionTimeoutError" && got === "timeout" && expected === "unknown") ||
          (status === 400 &&
            got === "billing" &&
            expected === "format" &&
            /credit balance|billing|insufficient.*(fund|credit)|usage limit/.test(spec.message.toLowerCase())) ||
          (status === 400 &&
            got === "auth_permanent" &&
            expected === "format" &&
            /(organization|account|workspace) (has been|is) (disabled|deactivated|suspended)/.test(spec.message.toLowerCase())) ||
          // A 429 that says "rate limit" and mentions a quota (Azure's), not a lack of funds.
          (status === 429 &&
            got === "rate_limit" &&
            expected === "billing" &&
            /rate.?limit/.test(spec.message.toLowerCase()) &&
            !/insufficient/.test(spec.message.toLowerCase())) ||
          // A 429 about credits, a spending limit or billing (xAI's, Moonshot's), not a rate limit.
          (status === 429 &&
            got === "billing" &&
            expected === "rate_limit" &&
            /credits|spending.limit|billing/.test(spec.message.toLowerCase()) &&
            !/rate.?limit/.test(spec.message.toLowerCase()));
        assert.ok(allowed, `classifyError: v2 ${got}, v1 ${expected}, for ${JSON.stringify(spec)}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.diagnostic(`${count} generated errors; exported classifyError differs from v1's on ${differ} (all documented)`);
  assert.ok(differ > 0, "the generator never produced a 5xx/408: the documented difference went untested");
});
