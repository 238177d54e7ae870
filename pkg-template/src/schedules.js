// The `schedules` and `strategy` options: cooldown ladders per reason class and the pick
// order, checked here (errors name the field, with the messages of the core's
// `Ladder::steps` / `Ladder::geometric` in src/backoff.rs) and encoded for the core, which
// refuses anything invalid again (a RangeError: it keeps its wasm small by leaving the
// messages to this layer).

import { ConfigError, shownName } from "./errors.js";

/** The "gentle" preset's transient ladder: 30 s, 1 min, 5 min. */
export const GENTLE = Object.freeze([30_000, 60_000, 300_000]);
const STRATEGIES = ["round-robin", "priority"];
const CLASSES = ["transient", "long"];
const LADDER_KEYS = new Set(["baseMs", "factor", "capMs"]);
const MAX_STEPS = 10;
const MAX_MS = 2 ** 53;
const NONE = new Float64Array(0);

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A duration in ms, or a ConfigError naming `field` (the core's messages). */
function ms(v, field) {
  if (typeof v !== "number") throw new ConfigError(field, v === undefined ? "is required" : "must be a number of ms");
  if (Number.isNaN(v)) throw new ConfigError(field, "must be a number, got NaN");
  if (!Number.isFinite(v)) throw new ConfigError(field, "must be finite");
  if (v < 0) throw new ConfigError(field, "must be non-negative");
  if (v > MAX_MS) throw new ConfigError(field, "must be at most 2^53 ms");
  return v;
}

/** One class's ladder: an array of steps or { baseMs, factor = 2, capMs }; encoded for the core. */
function ladder(value, field) {
  if (Array.isArray(value)) {
    if (value.length < 1 || value.length > MAX_STEPS) throw new ConfigError(field, "must have 1 to 10 steps");
    // Each step read once (a hole is `undefined`, so "is required"; a getter cannot pass the
    // checks with one value and reach the core with another).
    const steps = Array.from(value);
    steps.forEach((v, i) => {
      ms(v, `${field}[${i}]`);
      if (i > 0 && v < steps[i - 1]) throw new ConfigError(`${field}[${i}]`, "must not be shorter than the step before");
    });
    return Float64Array.from([1, ...steps]);
  }
  if (!isObject(value)) {
    throw new ConfigError(field, "must be an array of steps in ms or { baseMs, factor?, capMs }");
  }
  for (const k of Object.keys(value)) {
    if (!LADDER_KEYS.has(k)) throw new ConfigError(`${field}.${shownName(k)}`, "unknown option");
  }
  const { baseMs, factor = 2, capMs } = value;
  ms(baseMs, `${field}.baseMs`);
  ms(capMs, `${field}.capMs`);
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
    throw new ConfigError(`${field}.factor`, "must be a finite number >= 1");
  }
  if (capMs < baseMs) throw new ConfigError(`${field}.capMs`, "must not be less than baseMs");
  return Float64Array.from([2, baseMs, factor, capMs]);
}

/**
 * Resolves `schedules`: `"v1"` (default), `"gentle"`, or `{ transient?, long? }`.
 * Returns the core's encodings `[transient, long]` (empty: v1's ladder).
 */
export function resolveSchedules(option, cooldowns) {
  if (option === undefined || option === "v1") return [NONE, NONE];
  let transient = NONE;
  let long = NONE;
  if (option === "gentle") {
    transient = ladder(GENTLE, "schedules");
  } else if (typeof option === "string") {
    throw new ConfigError("schedules", `unknown preset ${JSON.stringify(shownName(option))} (expected "v1" or "gentle")`);
  } else if (isObject(option)) {
    for (const k of Object.keys(option)) {
      if (!CLASSES.includes(k)) throw new ConfigError(`schedules.${shownName(k)}`, `unknown reason class (expected "transient" or "long")`);
    }
    if (option.transient !== undefined) transient = ladder(option.transient, "schedules.transient");
    if (option.long !== undefined) long = ladder(option.long, "schedules.long");
  } else {
    throw new ConfigError("schedules", `must be "v1", "gentle" or { transient?, long? }`);
  }
  // A custom ladder has its own cap: the v1 fields it replaces would silently do nothing.
  const clash = (fields, replaced, by) => {
    for (const f of fields) {
      if (replaced.length > 0 && cooldowns[f] !== undefined) {
        throw new ConfigError(`cooldowns.${f}`, `has no effect with ${by}: give the ladder its own cap`);
      }
    }
  };
  clash(["maxRateLimitCooldownMs"], transient, option === "gentle" ? 'schedules: "gentle"' : "schedules.transient");
  clash(["billingBackoffMs", "billingMaxMs"], long, "schedules.long");
  return [transient, long];
}

/** `strategy` → the core's code (0 round-robin, 1 priority). */
export function resolveStrategy(option) {
  if (option === undefined) return 0;
  const code = STRATEGIES.indexOf(option);
  if (code < 0) throw new ConfigError("strategy", `must be "round-robin" or "priority"`);
  return code;
}
