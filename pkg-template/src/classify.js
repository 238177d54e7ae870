// Extraction of an error's facts (status, message, name, code, headers, cause) from
// whatever a task threw: SDK errors, fetch errors, plain objects, strings. The rules
// that map facts to a reason live in the core (src/classify.rs); nothing here throws.

import { core } from "./core.js";
import { FailoverError, errorMessage, errorText } from "./errors.js";
import { REASONS, UNKNOWN } from "./reasons.js";

export { errorMessage };

function get(obj, key) {
  try {
    return obj !== null && (typeof obj === "object" || typeof obj === "function") ? obj[key] : undefined;
  } catch {
    return undefined;
  }
}

function extractStatus(err) {
  for (const v of [get(err, "status"), get(err, "statusCode"), get(get(err, "response"), "status")]) {
    if (typeof v === "number") return v;
  }
  return NaN;
}

/** `value instanceof cls`, false where asking throws (a Proxy's trap, a revoked Proxy). */
function isA(value, cls) {
  try {
    return value instanceof cls;
  } catch {
    return false;
  }
}

function extractName(err) {
  const name = isA(err, Error) ? get(err, "name") : undefined;
  return typeof name === "string" ? name : "";
}

/**
 * v2: the error's name, or its class's name when the name is the generic "Error" (the
 * OpenAI SDK leaves `name` alone: its APIUserAbortError is named "Error").
 */
function extractNameV2(err) {
  const name = extractName(err);
  if (name !== "Error") return name;
  const ctor = get(get(err, "constructor"), "name");
  return typeof ctor === "string" && ctor !== "" ? ctor : name;
}

const MAX_JSON_MESSAGE = 65536;

/**
 * The JSON error body that an SDK put into the message, or undefined: @google/genai's
 * ApiError message is the body (`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED",...}}`;
 * Vertex AI's and Code Assist's come as an array of one, `[{"error":...}]`; a body it did
 * not take for JSON, sent as text, it wraps as the `message` of a body of its own);
 * Anthropic's is "429 {...}"; a wrapper may put any text before it. Only the body's `error`
 * is read: JSON of anything else in a message (a request quoted) is read for nothing.
 */
function bodyInMessage(err) {
  const message = errorText(err);
  if (message.length > MAX_JSON_MESSAGE) return undefined;
  const body = errorBodyIn(message);
  const inner = get(get(body, "error"), "message");
  if (typeof inner === "string" && /^\s*[{[]/.test(inner)) return errorBodyIn(inner) ?? body;
  return body;
}

/** Where a JSON body may start in a message is tried this many times (a "[tag]" before it). */
const BODY_STARTS = 8;

/**
 * The first JSON error body in `text` (an object with an `error`, or an array whose first
 * entry is one) from one of its first BODY_STARTS "{" or "[" to the text's end; undefined
 * when there is none.
 */
function errorBodyIn(text) {
  const starts = /[{[]/g;
  for (let n = 0; n < BODY_STARTS; n++) {
    const found = starts.exec(text);
    if (found === null) return undefined;
    let value;
    try {
      value = JSON.parse(text.slice(found.index));
    } catch {
      continue;
    }
    if (Array.isArray(value)) value = value[0];
    if (value !== null && typeof value === "object" && get(value, "error") !== undefined) return value;
  }
  return undefined;
}

/** The `details` entries of a Google error body of this type (`…google.rpc.RetryInfo`). */
function googleDetails(body, type) {
  const details = get(get(body, "error"), "details");
  if (!Array.isArray(details)) return [];
  return details.filter((d) => {
    const t = get(d, "@type");
    return typeof t === "string" && t.endsWith(`google.rpc.${type}`);
  });
}

/**
 * The candidate error codes, in order of preference, comma-separated for the core (which
 * takes the first it knows): the SDK's `code`, the body's code and type, then a Google
 * body's ErrorInfo reason and status.
 */
function extractCodes(err) {
  const body = get(err, "error");
  const inMessage = bodyInMessage(err);
  const inner = get(inMessage, "error");
  const candidates = [
    get(err, "code"),
    get(body, "code"),
    get(get(body, "error"), "type"),
    get(body, "type"),
    get(err, "type"),
    get(inner, "code"),
    get(inner, "type"),
    ...googleDetails(inMessage, "ErrorInfo").map((d) => get(d, "reason")),
    get(inner, "status"),
  ];
  return candidates.filter((v) => typeof v === "string" && v !== "" && !v.includes(",")).join(",");
}

function isFailoverError(err) {
  return isA(err, FailoverError) || (isA(err, Error) && get(err, "name") === "FailoverError" && typeof get(err, "failureReason") === "string");
}

/**
 * What a FailoverError gives as its reason when that is not one of the nine (a typo such as
 * "rate-limit"; key-carousel 1 stored any string), which the pools record as "unknown" and
 * say so; undefined for anything else.
 */
export function unknownFailoverReason(err) {
  if (!isFailoverError(err)) return undefined;
  const r = get(err, "failureReason");
  return REASONS.includes(r) ? undefined : typeof r === "string" ? r : errorMessage(r);
}

/** The most of a message the rules read: its first and last 32,768 characters. */
const MATCHED_HALF = 32768;

/**
 * `text`, or of a longer one (an HTML page, a whole request echoed back) its start and its
 * end: the core reads the message in its own memory, which keeps the size it grew to.
 */
function matchedText(text) {
  return text.length <= 2 * MATCHED_HALF ? text : `${text.slice(0, MATCHED_HALF)}\n${text.slice(-MATCHED_HALF)}`;
}

/** How many `cause`s deep an error is read (classification and Retry-After). */
const MAX_CAUSE_DEPTH = 4;

function classifyWith(err, v1, depth) {
  if (isFailoverError(err)) {
    const r = get(err, "failureReason");
    // `isTimeout` with no reason given says what the failure was (v1 ignored it).
    if (r === "unknown" && !v1 && get(err, "isTimeout") === true) return "timeout";
    return REASONS.includes(r) ? r : "unknown";
  }
  // v1 lowercases the message with toLowerCase() before matching; the core folds ASCII only.
  const message = matchedText(v1 ? errorMessage(err) : errorText(err)).toLowerCase();
  if (v1) return REASONS[core().classify(extractStatus(err), message, extractName(err), "", true)];
  const status = extractStatus(err);
  const codes = extractCodes(err);
  const cause = depth < MAX_CAUSE_DEPTH ? get(err, "cause") : undefined;
  const hasCause = cause !== undefined && cause !== null && cause !== err;
  // A wrapper with no status nor code of its own (`new Error(`chat failed: ${e.message}`,
  // { cause: e })`) says less than the error it wraps, when that one has a status: its
  // message's patterns would go by the wrapped error's text alone.
  if (hasCause && status !== status && codes === "" && hasStatus(cause, depth + 1)) return classifyWith(cause, v1, depth + 1);
  const code = core().classify(status, message, extractNameV2(err), codes, false);
  if (code === UNKNOWN && hasCause) return classifyWith(cause, v1, depth + 1);
  return REASONS[code];
}

/**
 * The first answer `look` gives (not undefined) for `err`, then for the errors it wraps
 * (`cause`), `err` being `depth` deep, down to MAX_CAUSE_DEPTH; undefined when none gives one.
 */
function inCauses(err, depth, look) {
  for (let e = err, d = depth; d <= MAX_CAUSE_DEPTH && e !== undefined && e !== null; d++) {
    const answer = look(e);
    if (answer !== undefined) return answer;
    const next = get(e, "cause");
    if (next === e) return undefined;
    e = next;
  }
  return undefined;
}

/**
 * Whether `err` or an error it wraps has an HTTP error status (400–599: not a Response's
 * 200 an SSE client attached, nor a process's exit code); a FailoverError ends the search.
 */
function hasStatus(err, depth) {
  const httpError = (e) => {
    if (isFailoverError(e)) return false;
    const status = extractStatus(e);
    return status >= 400 && status <= 599 ? true : undefined;
  };
  return inCauses(err, depth, httpError) ?? false;
}

/**
 * Maps any thrown value to a failure reason (v2 rules: v1's plus any 5xx, 408, the
 * SDKs' error codes, and the error's `cause`).
 */
export function classifyError(err) {
  return classifyWith(err, false, 0);
}

/** v1's rules, exactly. */
export function classifyErrorV1(err) {
  return classifyWith(err, true, 0);
}

/**
 * The caller's abort, which `run` rethrows at once, untouched, blaming no key: the run's
 * signal has fired (whatever the task threw then: fetch rethrows the signal's reason, the
 * OpenAI and Anthropic SDKs an APIUserAbortError, @google/genai a bare AbortError), or the
 * task threw an abort whose message is not about a timeout (SPEC §4: a controller of the
 * caller's own, not given to `run`, fired; every other key would fail on it at once too).
 * A timeout is not an abort: an SDK's own timeout (APIConnectionTimeoutError) and
 * `AbortSignal.timeout()` with fetch ("…due to timeout") rotate.
 */
export function isCallerAbort(err, signal) {
  if (signal?.aborted === true) return true;
  // Also an abort the task wrapped (`throw new Error("chat failed", { cause: e })`): read
  // down the causes to the first that says what happened (a timeout, an abort, a
  // FailoverError's own reason).
  const says = (e) => (isFailoverError(e) || core().isTimeoutMessage(matchedText(errorText(e))) ? false : ABORTS_V2.has(extractNameV2(e)) ? true : undefined);
  return inCauses(err, 0, says) ?? false;
}

/**
 * v1's rule (LlmKeyPool): an AbortError/TimeoutError whose message is not about a timeout
 * is the caller's abort.
 */
export function isV1NonTimeoutAbort(err) {
  return !isFailoverError(err) && ABORTS_V1.has(extractName(err)) && !core().isTimeoutMessage(matchedText(errorMessage(err)));
}

/** The error names of an abort, by v1's rules and v2's (the SDKs' class too). */
const ABORTS_V1 = new Set(["AbortError", "TimeoutError"]);
const ABORTS_V2 = new Set([...ABORTS_V1, "APIUserAbortError"]);

// ── Retry-After ─────────────────────────────────────────────────────────────

function headerGetter(headers) {
  if (headers === null || typeof headers !== "object") return null;
  const getFn = get(headers, "get");
  if (typeof getFn === "function") {
    // Headers (case-insensitive) or Map (exact keys: the lower-case name, else any
    // key that matches it case-insensitively).
    return (name) => {
      try {
        const v = getFn.call(headers, name);
        if (v !== undefined && v !== null) return v;
        if (typeof headers.keys === "function" && !(typeof Headers !== "undefined" && headers instanceof Headers)) {
          for (const key of headers.keys()) {
            if (typeof key === "string" && key.toLowerCase() === name) return getFn.call(headers, key);
          }
        }
      } catch {
        // a hostile object: no headers
      }
      return undefined;
    };
  }
  return (name) => {
    try {
      for (const key of Object.keys(headers)) {
        if (key.toLowerCase() === name) return headers[key];
      }
    } catch {
      // a hostile object: no headers
    }
    return undefined;
  };
}

/** The names of `headers` (a plain object, `Headers` or `Map`), lower-cased; [] for a hostile object. */
function headerNames(headers) {
  try {
    const keys = typeof get(headers, "get") === "function" ? (typeof headers.keys === "function" ? [...headers.keys()] : []) : Object.keys(headers);
    return keys.filter((k) => typeof k === "string").map((k) => k.toLowerCase());
  } catch {
    return [];
  }
}

function headerValue(get, name) {
  let v = get(name);
  if (Array.isArray(v)) v = v[0];
  if (typeof v === "number") v = String(v);
  return typeof v === "string" ? v : undefined;
}

function fromHeaders(headers, now, rateLimit) {
  const h = headerGetter(headers);
  if (h === null) return undefined;
  const parse = core().parseRetryHeader;
  const ms = headerValue(h, "retry-after-ms");
  if (ms !== undefined) {
    const v = parse(1, ms, now);
    if (!Number.isNaN(v)) return v;
  }
  const ra = headerValue(h, "retry-after");
  if (ra !== undefined) {
    const v = parse(0, ra, now);
    if (!Number.isNaN(v)) return v;
  }
  // x-ratelimit-reset-*: when a rate limit refills, so only for a rate limit (they come on
  // every answer, a 500's too). The later reset of the limits used up (remaining 0), else the
  // later of all: the 429 does not always say which limit it hit (a request needing more
  // tokens than remain), and the sooner one is often the request count's, refilling in
  // milliseconds. Each limit has its header: `-requests` and `-tokens` (OpenAI, Groq),
  // `-requests-day` and `-tokens-minute` (Cerebras)… A bare `x-ratelimit-reset` is not read:
  // a time since the epoch for some providers (in seconds or ms), a wait for others.
  if (!rateLimit) return undefined;
  let usedUp;
  let latest;
  const RESET = "x-ratelimit-reset-";
  for (const name of headerNames(headers)) {
    if (!name.startsWith(RESET) || name.length === RESET.length) continue;
    const kind = name.slice(RESET.length);
    const value = headerValue(h, name);
    if (value === undefined) continue;
    const v = parse(2, value, now);
    if (Number.isNaN(v)) continue;
    if (headerValue(h, `x-ratelimit-remaining-${kind}`)?.trim() === "0") usedUp = Math.max(usedUp ?? v, v);
    latest = Math.max(latest ?? v, v);
  }
  return usedUp ?? latest;
}

/**
 * The shortest wait a provider's answer sets: `retry-after: 0`, a date already past (HTTP
 * dates have whole seconds; clocks differ) or a limit that resets in 20 ms would otherwise
 * let the key be called again at once, each 429 a new failure counted, up the schedule in
 * one `run`. (A FailoverError's own `retryAfterMs` is the caller's: taken as it is.)
 */
export const MIN_PROVIDER_RETRY_MS = 1000;

/**
 * How long the provider asked us to wait, in ms (at least MIN_PROVIDER_RETRY_MS), from
 * `retry-after-ms`, `retry-after` (seconds or HTTP date) or, for a `rate_limit` failure,
 * `x-ratelimit-reset-*` (`-requests`, `-tokens`, `-tokens-minute`…) on the headers (a plain
 * object, `Headers` or `Map`) of the error, its `response` or its causes (as deep as
 * classification reads), or the `RetryInfo.retryDelay` of a Google error body in a message;
 * a FailoverError's own `retryAfterMs` as it is.
 */
export function retryAfterMs(err, now, reason) {
  const own = get(err, "retryAfterMs");
  if (isFailoverError(err) && typeof own === "number" && Number.isFinite(own) && own >= 0) return own;
  // The error, then its causes as deep as classifyError reads them (an SDK's error wrapped
  // by the caller's, and that by a framework's).
  return inCauses(err, 0, (e) => {
    for (const holder of [e, get(e, "response")]) {
      const v = fromHeaders(get(holder, "headers"), now, reason === "rate_limit");
      if (v !== undefined) return Math.max(v, MIN_PROVIDER_RETRY_MS);
    }
    // @google/genai keeps no headers on its errors; the body's RetryInfo says "37s".
    for (const info of googleDetails(bodyInMessage(e), "RetryInfo")) {
      const delay = get(info, "retryDelay");
      if (typeof delay !== "string") continue;
      const v = core().parseRetryHeader(2, delay, now);
      if (!Number.isNaN(v)) return Math.max(v, MIN_PROVIDER_RETRY_MS);
    }
    return undefined;
  });
}
