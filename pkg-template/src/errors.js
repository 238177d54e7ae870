// The error classes users catch, the path a ConfigError names (itemPath), and the text of
// any thrown value (errorMessage).

/**
 * Thrown by a task to tell the pool why a call failed (the reason decides the cooldown).
 */
export class FailoverError extends Error {
  // Declared, as v1's are: own properties in v1's order (JSON.stringify(err) reads the same).
  failureReason;
  isTimeout;

  constructor(message, opts) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "FailoverError";
    this.failureReason = opts?.reason ?? "unknown";
    this.isTimeout = opts?.isTimeout ?? false;
    if (opts?.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Thrown by `run` when no profile could serve the call: every attempt failed, or every
 * profile is cooling down for longer than `maxWaitMs`.
 */
export class AllProfilesExhaustedError extends Error {
  attempts;

  constructor(attempts, opts) {
    const summary = attempts
      .map((a) => `  ${a.profileId} (${a.provider}/${a.model}): ${a.reason} \u2014 ${a.error}`)
      .join("\n");
    super(`All LLM profiles exhausted after ${attempts.length} attempt(s):\n${summary}`);
    this.name = "AllProfilesExhaustedError";
    this.attempts = attempts;
    if (opts?.retryAt !== undefined) this.retryAt = opts.retryAt;
    if (opts?.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/** A configuration value the pool cannot use; `field` is its path (`profiles[2].apiKey`). */
export class ConfigError extends TypeError {
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.name = "ConfigError";
    this.field = field;
  }
}

/**
 * A name the caller gave that is not known (an option, an event, a failure reason), as an
 * error shows it: one that could be a key (over 24 characters, or with characters other
 * than letters, digits, `_`, `$` and `-`) is not shown. A key passed by mistake as a name
 * must not reach the error, and the error may come before the pool knows its keys.
 */
export function shownName(name) {
  if (typeof name !== "string") return String(name);
  return /^[\w$-]{0,24}$/.test(name) ? name : `(a name of ${name.length} characters, not shown: it could be a key)`;
}

/**
 * The path of item `i` of the option `list` (and of its `field`): `profiles[2].id`, a
 * ConfigError's field. Made only for an error: a pool of 100,000 profiles would otherwise
 * make 500,000 strings.
 */
export function itemPath(list, i, field) {
  return field === undefined ? `${list}[${i}]` : `${list}[${i}].${field}`;
}

/**
 * The message of a thrown value, as v1 reads it: an Error's `message`, else the value as a
 * string; "" for a value that cannot be made one (`Object.create(null)`, a throwing
 * `toString` or `message` getter, a revoked Proxy). Whatever a task, listener or store
 * throws is reported through this, so reporting it never throws in turn.
 */
export function errorMessage(err) {
  try {
    if (err instanceof Error) return String(err.message);
    if (typeof err === "string") return err;
    return String(err);
  } catch {
    return "";
  }
}

/**
 * The message of a thrown value, as `Pool` and `classifyError` read it: a value that is not
 * an Error of this realm (a plain object `{ status, message }`, an Error of a worker or `vm`
 * context) gives its `message` when that is a string; anything else is read as by
 * errorMessage.
 */
export function errorText(err) {
  if (err !== null && typeof err === "object") {
    try {
      if (!(err instanceof Error) && typeof err.message === "string") return err.message;
    } catch {
      // a throwing getter or a revoked Proxy: as errorMessage reads it
    }
  }
  return errorMessage(err);
}

/** The longest error text an attempt keeps (a provider's HTML error page is a few KB). */
export const MAX_ATTEMPT_TEXT = 65536;

/**
 * `text` cut to MAX_ATTEMPT_TEXT characters, saying how many more there were: an attempt's
 * error, which is redacted, logged and joined into the exhausted error's message (a run's
 * 160 attempts of a 30 MB body made that message longer than a string may be).
 */
export function attemptText(text) {
  if (text.length <= MAX_ATTEMPT_TEXT) return text;
  let cut = MAX_ATTEMPT_TEXT;
  const c = text.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--; // not between the halves of a surrogate pair
  return `${text.slice(0, cut)} \u2026 (${text.length - cut} more characters)`;
}

/**
 * A store's error as text for logs and events: its message, else its name (node-redis
 * rejects with a `TimeoutError` whose message is ""), else "(no message)".
 */
export function storeErrorText(err) {
  const message = errorMessage(err);
  if (message !== "") return message;
  try {
    const name = err?.name;
    return typeof name === "string" && name !== "" ? name : "(no message)";
  } catch {
    return "(no message)";
  }
}
