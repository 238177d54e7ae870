// Failure reasons, their codes in the core, and the per-reason policy option.

import { ConfigError, shownName } from "./errors.js";

/** In core code order (src/reason.rs). */
export const REASONS = Object.freeze([
  "rate_limit",
  "server_error",
  "auth",
  "auth_permanent",
  "billing",
  "timeout",
  "model_not_found",
  "format",
  "unknown",
]);

export const REASON_CODE = new Map(REASONS.map((r, i) => [r, i]));
export const UNKNOWN = REASON_CODE.get("unknown");

const SCHEDULES = ["transient", "long", "none"];
const SCOPES = ["key", "model"];
/** Reasons that, when a call names a model, rest the key for that model only (v2's default). */
const MODEL_SCOPED = new Set(["rate_limit", "timeout", "model_not_found"]);

/** v2's default policy: `format` is the request's fault (rethrow, no cooldown). */
export function defaultPolicy() {
  return REASONS.map((r) => ({
    rotate: r !== "format",
    schedule: r === "format" ? "none" : r === "billing" || r === "auth_permanent" ? "long" : "transient",
    scope: MODEL_SCOPED.has(r) ? "model" : "key",
  }));
}

/** Merges the user's `policy` option over the defaults; returns [policies, bytes for the core]. */
export function resolvePolicy(option) {
  const policies = defaultPolicy();
  if (option !== undefined) {
    if (option === null || typeof option !== "object" || Array.isArray(option)) {
      throw new ConfigError("policy", "must be an object keyed by failure reason");
    }
    for (const key of Object.keys(option)) {
      const code = REASON_CODE.get(key);
      if (code === undefined) {
        throw new ConfigError(`policy.${shownName(key)}`, `unknown failure reason (expected one of ${REASONS.join(", ")})`);
      }
      const entry = option[key];
      // Absent, as every other optional field given `undefined` (`{ format: cond ? {...} : undefined }`).
      if (entry === undefined) continue;
      if (entry === null || typeof entry !== "object") {
        throw new ConfigError(`policy.${key}`, "must be an object { rotate?, schedule?, scope? }");
      }
      for (const k of Object.keys(entry)) {
        if (k !== "rotate" && k !== "schedule" && k !== "scope") throw new ConfigError(`policy.${key}.${shownName(k)}`, "unknown option");
      }
      if (entry.rotate !== undefined) {
        if (typeof entry.rotate !== "boolean") throw new ConfigError(`policy.${key}.rotate`, "must be a boolean");
        policies[code].rotate = entry.rotate;
      }
      if (entry.schedule !== undefined) {
        if (!SCHEDULES.includes(entry.schedule)) {
          throw new ConfigError(`policy.${key}.schedule`, `must be one of "transient", "long", "none"`);
        }
        policies[code].schedule = entry.schedule;
      }
      if (entry.scope !== undefined) {
        if (!SCOPES.includes(entry.scope)) throw new ConfigError(`policy.${key}.scope`, `must be "key" or "model"`);
        policies[code].scope = entry.scope;
      }
    }
  }
  const bytes = new Uint8Array(
    policies.map((p) => (p.rotate ? 1 : 0) | (SCHEDULES.indexOf(p.schedule) << 1) | (p.scope === "model" ? 8 : 0)),
  );
  return [policies, bytes];
}
