// fast-check generators of the fuzzer: configurations (valid and with one hostile value),
// command sequences, stored states (usable, partly hostile, garbage).

import fc from "fast-check";
import { REASONS, MAX_TIME } from "./model.mjs";
import { OUTCOME_KINDS } from "./outcomes.mjs";

export const T0 = 1_700_000_000_000;

/**
 * Recognisable keys. Their alphabet (upper-case letters past F) appears in no id, provider,
 * model or error message the fuzzer makes, so any 8 characters of a key found in what the
 * pool shows are a leak.
 */
export const KEYS = [
  "sk-fuzz-GHJKLMNPQRSTUVWXYZ",
  "sk-fuzz-ZYXWVUTSRQPNMLKJHG",
  "sk-fuzz-MNGHPQJKTURSXYVWZL",
  "sk-ant-LZWVYXSRUTKJQPHGNM",
  "sk-goog-QRGHSTJKUVLMWXNPYZ",
  "sk-goog-YZWXUVSTQRNPLMJKGH",
];

export const IDS = ["a", "b", "k1", "__proto__", "constructor", "toString", "\u00fc-1", "\u03a9", "x y"];
export const PROVIDERS = ["openai", "anthropic", "google", "__proto__"];
const MODELS = ["m1", "gpt-4o", "claude"];

const opt = (arb) => fc.option(arb, { nil: undefined, freq: 2 });

// ── configuration ──────────────────────────────────────────────────────────────────────

const profileSpec = fc.record({
  id: opt(fc.constantFrom(...IDS)),
  provider: fc.constantFrom(...PROVIDERS),
  model: opt(fc.constantFrom(...MODELS)),
  key: fc.nat(KEYS.length - 1),
});

const fallbackSpec = fc.record({
  provider: fc.constantFrom(...PROVIDERS),
  model: fc.constantFrom("m1", "m2", "fb"),
  key: opt(fc.nat(KEYS.length - 1)),
});

const cooldownValue = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 1000, 60_000, 3_600_000, 86_400_000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 100_000_000 }) },
);

const policySpec = opt(
  fc.uniqueArray(
    fc.tuple(fc.constantFrom(...REASONS), fc.record({ rotate: fc.boolean(), schedule: fc.constantFrom("transient", "long", "none") }, { requiredKeys: [] })),
    { maxLength: 4, selector: ([r]) => r },
  ),
);

const timeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(T0) },
  { weight: 1, arbitrary: fc.constantFrom(0, MAX_TIME, MAX_TIME - 1) },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);

/** A template of a stored state; ids are resolved against the pool's at execution. */
const storedId = fc.oneof(
  { weight: 5, arbitrary: fc.nat(20) }, // the pool's i-th id
  {
    weight: 2,
    arbitrary: fc.constantFrom("other-1", "other-2", "__proto__", "constructor", "", "x\u0000y", "p\uD800", "k".repeat(1025), "fallback-openai-m1"),
  },
);
const storedTime = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -100_000_000, max: 100_000_000 }).map((off) => ({ off })) },
  { weight: 1, arbitrary: fc.constantFrom(-1, MAX_TIME + 2, "1700000000000", NaN, Infinity, null, 0, MAX_TIME, true, [1]) },
);
const storedRecord = fc.record(
  {
    errorCount: fc.oneof({ weight: 5, arbitrary: fc.nat(5) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, "2", 2 ** 32, null, 2 ** 32 - 1) }),
    lastUsed: storedTime,
    lastFailure: storedTime,
    lastSuccess: storedTime,
    cooldownUntil: storedTime,
    updatedAt: storedTime,
    cooldownStartedAt: storedTime,
    lastFailureReason: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...REASONS) }, { weight: 1, arbitrary: fc.constantFrom("bogus", 5, null, "RATE_LIMIT") }),
    cooldownLong: fc.oneof({ weight: 5, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom("yes", 1, null) }),
  },
  { requiredKeys: [] },
);
export const storedValue = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      form: fc.constantFrom("text", "text", "object"),
      version: fc.oneof({ weight: 12, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom("1", 2, null) }),
      // [id, record, whether the record also has an own "__proto__" field]
      entries: fc.array(fc.tuple(storedId, storedRecord, fc.boolean()), { maxLength: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", " ", "{", "null", "[]", "42", '"x"', '{"version":2,"profiles":{}}', '{"version":1}', '{"version":1,"profiles":[]}', "\u0000", '{"version":1,"profiles":{"a":{"errorCount":NaN}}}'),
  },
  { weight: 1, arbitrary: fc.json().map((text) => ({ raw: text })) },
  { weight: 1, arbitrary: fc.string().map((text) => ({ raw: text })) },
);

export const validConfig = fc.record({
  profiles: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 12, arbitrary: fc.array(profileSpec, { minLength: 1, maxLength: 6, size: "max" }) }),
  fallbacks: fc.array(fallbackSpec, { maxLength: 3 }),
  cooldowns: fc.record({
    maxRateLimitCooldownMs: cooldownValue,
    billingBackoffMs: cooldownValue,
    billingMaxMs: cooldownValue,
    failureWindowMs: cooldownValue,
  }),
  policy: policySpec,
  maxWaitMs: opt(fc.constantFrom(0, 1, 60_000, 3_600_000, Infinity)),
  storage: fc.constantFrom("none", "none", "memory", "settable"),
  initial: opt(storedValue),
  start: timeArb,
});

// ── one hostile value in an otherwise valid configuration ─────────────────────────────

/** [path of the faulty field, how to make the options faulty]. */
const COOLDOWN_FIELDS = ["maxRateLimitCooldownMs", "billingBackoffMs", "billingMaxMs", "failureWindowMs"];
export const FAULTS = [
  ...[null, 42, "x", []].map((v) => ["options", () => v]),
  ["foo", (o) => ({ ...o, foo: 1 })],
  ["__proto__", (o) => Object.defineProperty({ ...o }, "__proto__", { value: { clock: 1 }, enumerable: true })],
  ["constructor", (o) => ({ ...o, constructor: Object })],
  ...[undefined, {}, "x", null].map((v) => ["profiles", (o) => ({ ...o, profiles: v })]),
  ["profiles", (o) => ({ ...o, profiles: [] })],
  ...[null, 1, []].map((v) => ["profiles[1]", (o) => withProfile(o, 1, () => v)]),
  ["profiles[1].modle", (o) => withProfile(o, 1, (p) => ({ ...p, modle: "x" }))],
  ...[undefined, "", 1, null].map((v) => ["profiles[0].apiKey", (o) => withProfile(o, 0, (p) => ({ ...p, apiKey: v }))]),
  ...[undefined, 1, "", " x", "a\nb", "p".repeat(257), "p\uD800", "\u{1F600}".repeat(40_000)].map((v) => [
    "profiles[1].provider",
    (o) => withProfile(o, 1, (p) => ({ ...p, provider: v })),
  ]),
  ...[1, "", " a", "a\u0007", "i".repeat(300), "a\uDC00", "\u{1F600}".repeat(40_000)].map((v) => ["profiles[1].id", (o) => withProfile(o, 1, (p) => ({ ...p, id: v }))]),
  ["profiles[2].id", (o) => withProfile(o, 2, (p) => ({ ...p, id: o.profiles[0].id }))],
  ...[1, "", "m\uD800"].map((v) => ["profiles[0].model", (o) => withProfile(o, 0, (p) => ({ ...p, model: v }))]),
  ...[{}, "x", null].map((v) => ["fallbackModels", (o) => ({ ...o, fallbackModels: v })]),
  ["fallbackModels[0]", (o) => ({ ...o, fallbackModels: [null] })],
  ["fallbackModels[0].x", (o) => ({ ...o, fallbackModels: [{ provider: "openai", model: "m", x: 1 }] })],
  ["fallbackModels[0].provider", (o) => ({ ...o, fallbackModels: [{ provider: 1, model: "m" }] })],
  ...[undefined, "", 1, "m\uDFFF"].map((v) => ["fallbackModels[0].model", (o) => ({ ...o, fallbackModels: [{ provider: "openai", model: v }] })]),
  ...["", 1].map((v) => ["fallbackModels[0].apiKey", (o) => ({ ...o, fallbackModels: [{ provider: "openai", model: "m", apiKey: v }] })]),
  ["fallbackModels[1].id", (o) => ({ ...o, fallbackModels: [{ provider: "openai", model: "m" }, { provider: "openai", model: "m" }] })],
  ...[null, 5, []].map((v) => ["cooldowns", (o) => ({ ...o, cooldowns: v })]),
  ["cooldowns.x", (o) => ({ ...o, cooldowns: { x: 1 } })],
  ...COOLDOWN_FIELDS.flatMap((f) =>
    ["60000", null, NaN, Infinity, -Infinity, -1, MAX_TIME + 2, {}, [[[]]]].map((v) => [`cooldowns.${f}`, (o) => ({ ...o, cooldowns: { [f]: v } })]),
  ),
  ...[null, 5, []].map((v) => ["policy", (o) => ({ ...o, policy: v })]),
  ["policy.bogus", (o) => ({ ...o, policy: { bogus: {} } })],
  ...[null, 5].map((v) => ["policy.format", (o) => ({ ...o, policy: { format: v } })]),
  ["policy.format.x", (o) => ({ ...o, policy: { format: { x: 1 } } })],
  ["policy.auth.rotate", (o) => ({ ...o, policy: { auth: { rotate: "yes" } } })],
  ["policy.billing.schedule", (o) => ({ ...o, policy: { billing: { schedule: "fast" } } })],
  ...[-1, NaN, "5", null, -Infinity].map((v) => ["maxWaitMs", (o) => ({ ...o, maxWaitMs: v })]),
  ...[5, "x", null].map((v) => ["clock", (o) => ({ ...o, clock: v })]),
  ...[null, 5, "x"].map((v) => ["logger", (o) => ({ ...o, logger: v })]),
  ...[null, {}, { load() {} }, 5].map((v) => ["storage", (o) => ({ ...o, storage: v })]),
  ...["", 5].map((v) => ["storagePath", (o) => ({ ...o, storagePath: v })]),
  ["storagePath", (o) => ({ ...o, storage: { load() {}, save() {} }, storagePath: "/tmp/x" })],
  ...[-1, NaN, Infinity, "1"].map((v) => ["saveIntervalMs", (o) => ({ ...o, saveIntervalMs: v })]),
];

function withProfile(o, i, f) {
  const profiles = o.profiles.slice();
  profiles[i] = f(profiles[i]);
  return { ...o, profiles };
}

export const hostileConfig = fc.record({ fault: fc.nat(FAULTS.length - 1), keys: fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 3, maxLength: 3 }) });

// ── commands ──────────────────────────────────────────────────────────────────────────

const advance = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(1, 999, 59_999, 60_000, 3_600_000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 100_000_000 }) },
);

export const outcomeSel = fc.record({
  kind: fc.oneof(
    { weight: 5, arbitrary: fc.constant("ok") },
    { weight: 5, arbitrary: fc.constant("http") },
    { weight: 2, arbitrary: fc.constant("other") },
    { weight: 2, arbitrary: fc.constant("headers") },
    { weight: 2, arbitrary: fc.constant("failover") },
    { weight: 1, arbitrary: fc.constant("echo") },
    { weight: 1, arbitrary: fc.constant("abort") },
  ),
  i: fc.nat(Math.max(...Object.values(OUTCOME_KINDS)) * 2),
  j: fc.nat(30),
  echo: fc.nat(1),
  adv: advance,
  breakClock: fc.oneof({ weight: 40, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  sync: fc.boolean(),
});

const runOptions = fc.record(
  {
    provider: fc.constantFrom(...PROVIDERS, "nope"),
    // No `model`: a call naming a model makes some failures model-scoped (per-model
    // cooldowns), which this reference model does not cover; tests/model.rs (the core's
    // reference model) and features.test.mjs do.
    maxWaitMs: fc.constantFrom(0, 1, 60_000, 3_600_000, Infinity, 100_000_000_000),
    label: fc.constantFrom("fuzz"),
  },
  { requiredKeys: [] },
);

const runCmd = fc.record({
  t: fc.constant("run"),
  outcomes: fc.array(outcomeSel, { maxLength: 6 }),
  opts: runOptions,
  signal: fc.constantFrom("none", "none", "controller", "aborted"),
  waitMode: fc.constantFrom("exact", "exact", "exact", "still", "half", "far", "abort"),
});

const startCmd = fc.record({
  t: fc.constant("start"),
  outcomes: fc.array(outcomeSel, { maxLength: 3 }),
  opts: runOptions,
  signal: fc.constantFrom("none", "controller"),
  waitMode: fc.constantFrom("exact", "still", "far"),
});

const settleCmd = fc.record({ t: fc.constant("settle"), k: fc.nat(10), outcome: outcomeSel });

const idSel = fc.oneof(
  { weight: 8, arbitrary: fc.nat(20) },
  { weight: 1, arbitrary: fc.constantFrom(42, undefined, null, "nope", "__proto__", "", "hasOwnProperty").map((v) => ({ raw: v })) },
  { weight: 1, arbitrary: fc.constantFrom("object", "symbol").map((v) => ({ make: v })) },
);
const reasonSel = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...REASONS) }, { weight: 1, arbitrary: fc.constantFrom("RATE_LIMIT", "", 42, null, undefined, "bogus", "__proto__") });
const markOptions = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.record({ retryAfterMs: fc.oneof(fc.nat(10_000_000), fc.constantFrom(0, 1e12, -1, NaN, Infinity, "5", null, undefined)) }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 5, "x", [], { retryAfter: 5000 }) },
);

const clockCmd = fc.record({
  t: fc.constant("clock"),
  op: fc.oneof(
    { weight: 8, arbitrary: advance.map((d) => ({ advance: d })) },
    { weight: 2, arbitrary: fc.constantFrom(1, 1000, 3_600_000, 31_536_000_000).map((d) => ({ rewind: d })) },
    { weight: 1, arbitrary: fc.constant({ advance: 31_536_000_000 }) }, // a year
    { weight: 1, arbitrary: fc.constantFrom(0, MAX_TIME, T0).map((v) => ({ set: v })) },
    { weight: 2, arbitrary: fc.constantFrom(NaN, -1, MAX_TIME + 2, Infinity, "1700000000000", undefined, "throw").map((v) => ({ bad: v })) },
  ),
});

export const command = fc.oneof(
  { weight: 8, arbitrary: runCmd },
  { weight: 2, arbitrary: startCmd },
  { weight: 2, arbitrary: settleCmd },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("markFailure"), id: idSel, reason: reasonSel, options: markOptions }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("markSuccess"), id: idSel }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("clearCooldown"), id: idSel }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("isInCooldown"), id: idSel }) },
  { weight: 5, arbitrary: clockCmd },
  { weight: 2, arbitrary: fc.constant({ t: "flush" }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("external"), value: storedValue }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("merge"), a: fc.oneof(fc.constant("store"), storedValue), b: fc.oneof(fc.constant("store"), storedValue) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("badRun"), which: fc.nat(30) }) },
);
