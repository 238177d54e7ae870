// What a task does in the fuzzer: return a value, or throw one of the error shapes the pool
// must understand — HTTP errors with a status, SDK-like error classes with headers (plain
// object, Headers, Map), FailoverError with any reason and retryAfterMs, bare strings and
// non-errors, aborts — each with the reason and Retry-After the SPEC gives it (SPEC §4,
// README "How it decides"). `expect(now)` is the reason and retry (ms) for a failure at `now`.

import { FailoverError } from "key-carousel";
import { REASONS } from "./model.mjs";

class APIError extends Error {
  constructor(status, message, headers, body) {
    super(message);
    this.status = status;
    this.headers = headers;
    if (body !== undefined) this.error = body;
  }
}
class RateLimitError extends APIError {}

const http = (status, message, extra = {}) => Object.assign(new Error(message), { status }, extra);

/** Plain HTTP-shaped errors: [status, message, reason]. */
const HTTP = [
  [429, "Too Many Requests", "rate_limit"],
  [429, "You exceeded your current quota, please check your plan", "billing"],
  [401, "Unauthorized", "auth"],
  [403, "Forbidden", "auth_permanent"],
  [402, "Payment Required", "billing"],
  [404, "The model does not exist", "model_not_found"],
  [400, "maximum context length exceeded", "format"],
  [400, "bad request", "format"],
  [500, "Internal Server Error", "server_error"],
  [503, "Service Unavailable", "server_error"],
  [529, "Overloaded", "server_error"],
  [599, "odd gateway", "server_error"],
  [408, "Request Timeout", "timeout"],
  [418, "teapot", "unknown"],
];

/** Thrown values that are not HTTP errors: [make, message as the pool reads it, reason]. */
const OTHER = [
  [() => new Error("connect ETIMEDOUT 10.0.0.1:443"), "connect ETIMEDOUT 10.0.0.1:443", "timeout"],
  [() => new Error("service unavailable"), "service unavailable", "server_error"],
  [() => new Error("rate limit reached"), "rate limit reached", "rate_limit"],
  [() => new Error("something odd"), "something odd", "unknown"],
  [() => "too many requests", "too many requests", "rate_limit"],
  [() => null, "null", "unknown"],
  [() => undefined, "undefined", "unknown"],
  [() => 42, "42", "unknown"],
  [() => ({}), "[object Object]", "unknown"],
  // A deadline's abort (fetch with AbortSignal.timeout()): its message says timeout, so a
  // timeout, and it rotates. (An abort whose message does not is the caller's: "abort".)
  [() => new DOMException("The operation was aborted due to timeout", "TimeoutError"), "The operation was aborted due to timeout", "timeout"],
  [() => new FailoverError("nine reasons only", { reason: "bogus" }), "nine reasons only", "unknown"],
  [() => http(429, "429 {\"error\":{\"type\":\"insufficient_quota\"}}", { error: { error: { type: "insufficient_quota" } } }), "429 {\"error\":{\"type\":\"insufficient_quota\"}}", "billing"],
  [
    () =>
      new Proxy(new Error("hostile"), {
        get(target, key) {
          if (key === "status" || key === "headers" || key === "cause") throw new Error("getter trap");
          return Reflect.get(target, key);
        },
      }),
    "hostile",
    "unknown",
  ],
];

/** Retry headers on a 429: [shape, headers(now), expected ms(now) or undefined]. */
const HEADERS = [
  ["object Retry-After: 7", () => ({ "Retry-After": "7" }), () => 7000],
  ["Headers retry-after-ms: 2500", () => new Headers({ "retry-after-ms": "2500" }), () => 2500],
  ["Map x-ratelimit-reset-requests: 6m0s", () => new Map([["x-ratelimit-reset-requests", "6m0s"], ["x-ratelimit-remaining-requests", "0"]]), () => 360_000],
  ["object retry-after: 1.5", () => ({ "retry-after": "1.5" }), () => 1500],
  ["object retry-after: 0", () => ({ "retry-after": "0" }), () => 0],
  ["Headers retry-after-ms: 20", () => new Headers({ "retry-after-ms": "20" }), () => 20],
  ["object retry-after: 90000 (past every cap)", () => ({ "retry-after": "90000" }), () => 90_000_000],
  ["object retry-after: soon (ignored)", () => ({ "retry-after": "soon" }), () => undefined],
  ["object retry-after: -3 (ignored)", () => ({ "retry-after": "-3" }), () => undefined],
  [
    "object retry-after: an HTTP date 42 s ahead",
    (now) => ({ "retry-after": new Date(aheadOf(now)).toUTCString() }),
    // HTTP dates have 4-digit years: past 9999 (or past Date's range) the header is ignored.
    (now) => (new Date(aheadOf(now)).getUTCFullYear() <= 9999 ? Math.max(0, aheadOf(now) - now) : undefined),
  ],
  ["object retry-after: Sun, 06 Nov 1994 08:49:37 GMT", () => ({ "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT" }), (now) => Math.max(0, 784_111_777_000 - now)],
];

const aheadOf = (now) => Math.floor(now / 1000) * 1000 + 42_000;
const atLeastASecond = (ms) => (ms === undefined ? undefined : Math.max(ms, 1000));

const FAILOVER_RETRY = [undefined, 0, 1500, 1e12, -5, NaN, Infinity, "100"];

/**
 * An outcome for a generated selector: { name, make(ctx, now) -> thrown value or { value },
 * expect(now) -> { reason, retryMs, message } } ; `ok` outcomes return a value.
 */
export function outcome(sel) {
  const { kind, i = 0, j = 0, echo = 0 } = sel;
  switch (kind) {
    case "ok":
      return { name: "ok", ok: true };
    case "http": {
      const [status, message, reason] = HTTP[i % HTTP.length];
      return { name: `${status} ${message}`, make: () => http(status, message), expect: () => ({ reason, retryMs: undefined, message }) };
    }
    case "other": {
      const [make, message, reason] = OTHER[i % OTHER.length];
      return { name: `other ${message}`, make, expect: () => ({ reason, retryMs: undefined, message }) };
    }
    case "headers": {
      const [name, headers, ms] = HEADERS[i % HEADERS.length];
      const sdk = j % 3;
      return {
        name: `429 with ${name} (${["error.headers", "SDK class", "error.response.headers"][sdk]})`,
        make: (ctx, now) =>
          sdk === 0
            ? http(429, "Too Many Requests", { headers: headers(now) })
            : sdk === 1
              ? new RateLimitError(429, "429 Rate limit reached", headers(now))
              : http(429, "Too Many Requests", { response: { status: 429, headers: headers(now) } }),
        // A provider's wait is at least 1 s (README "How it decides"): a date already past is 1 s.
        expect: (now) => ({ reason: "rate_limit", retryMs: atLeastASecond(ms(now)), message: sdk === 1 ? "429 Rate limit reached" : "Too Many Requests" }),
      };
    }
    case "failover": {
      const reason = REASONS[i % REASONS.length];
      const retry = FAILOVER_RETRY[j % FAILOVER_RETRY.length];
      const valid = typeof retry === "number" && Number.isFinite(retry) && retry >= 0;
      return {
        name: `FailoverError ${reason} retryAfterMs=${String(retry)}`,
        make: () => new FailoverError(`verdict ${reason}`, { reason, retryAfterMs: retry }),
        expect: () => ({ reason, retryMs: valid ? retry : undefined, message: `verdict ${reason}` }),
      };
    }
    case "echo": {
      // The provider echoes the key: whole, or a 12-character piece of it.
      const [status, reason] = [[401, "auth"], [429, "rate_limit"], [500, "server_error"]][i % 3];
      const piece = echo % 2 === 1;
      const text = (key) => (piece ? `key ending in ${key.slice(-12)} was rejected` : `Incorrect API key provided: ${key}.`);
      return {
        name: `${status} echoing the key${piece ? " (a piece)" : ""}`,
        make: (ctx) => http(status, text(ctx.apiKey)),
        expect: () => ({ reason, retryMs: undefined, message: piece ? "key ending in [redacted] was rejected" : "Incorrect API key provided: [redacted]." }),
        echo: true,
      };
    }
    default:
      throw new Error(`no outcome kind ${kind}`);
  }
}

export const OUTCOME_KINDS = { http: HTTP.length, other: OTHER.length, headers: HEADERS.length, failover: REASONS.length };
