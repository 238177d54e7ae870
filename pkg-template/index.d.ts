/**
 * key-carousel 2 — in-process rotation of LLM API keys, with cooldowns, Retry-After,
 * provider fallback and no proxy to deploy.
 *
 * ```ts
 * import { Pool } from "key-carousel";
 * const pool = new Pool({
 *   profiles: [
 *     { provider: "openai", apiKey: process.env.OPENAI_KEY_1! },
 *     { provider: "openai", apiKey: process.env.OPENAI_KEY_2! },
 *   ],
 *   fallbackModels: [{ provider: "anthropic", model: "claude-3-5-haiku-latest", apiKey: process.env.ANTHROPIC_KEY }],
 * });
 * const { value } = await pool.run(({ apiKey, model }) => callTheModel(apiKey, model), { provider: "openai" });
 * ```
 * @packageDocumentation
 */

/**
 * Why a call failed. Decides how long the profile rests:
 * - transient schedule (1 min, 5 min, 25 min, 1 h): `rate_limit`, `server_error`, `auth`,
 *   `timeout`, `model_not_found`, `unknown`;
 * - long schedule (5 h, 10 h, 20 h, 24 h; the profile is `disabled`): `billing`, `auth_permanent`;
 * - `format` (HTTP 400, context too long) is the request's fault: by default `run` rethrows it
 *   at once and cools nothing.
 */
export type FailureReason =
  | "rate_limit"
  | "server_error"
  | "auth"
  | "auth_permanent"
  | "billing"
  | "timeout"
  | "model_not_found"
  | "format"
  | "unknown";

/** Every failure reason, in a fixed order. */
export declare const FAILURE_REASONS: readonly FailureReason[];

/** One API key of one provider. */
export type ProfileDefinition = {
  /**
   * Stable id, unique in the pool, shown in status, attempts and logs. When omitted it is
   * derived from the provider and a short non-reversible fingerprint of the model and key
   * (`openai-3fa2b1c9`), so it survives restarts, reordering and added keys.
   */
  id?: string;
  /** Provider name, e.g. `"openai"`; `run({ provider })` prefers profiles of this provider. */
  provider: string;
  /** Model this key is for; the task's `ctx.model` (else `run`'s `model`, else `"unknown"`). */
  model?: string;
  /** The secret. It is passed to your task and never appears in status, errors or logs. */
  apiKey: string;
};

/**
 * A model to fall back to when every primary profile is unavailable. Its id is
 * `fallback-<provider>-<model>`. Without `apiKey` it borrows the key of the first profile of
 * `provider`, and is skipped when there is none.
 */
export type FallbackModelDefinition = {
  provider: string;
  model: string;
  apiKey?: string;
};

/** Cooldown settings, in ms. Negative, NaN or infinite values are rejected. */
export type CooldownConfig = {
  /** Cap of the transient schedule. Default 3 600 000 (1 h). */
  maxRateLimitCooldownMs?: number;
  /** First step of the long schedule. Default 18 000 000 (5 h). */
  billingBackoffMs?: number;
  /** Cap of the long schedule. Default 86 400 000 (24 h). */
  billingMaxMs?: number;
  /** A failure older than this restarts the error count. Default 86 400 000 (24 h). */
  failureWindowMs?: number;
};

/** Which cooldown ladder a reason climbs; `"none"` cools nothing and counts nothing. */
export type Schedule = "transient" | "long" | "none";

/** What one failure reason does. */
export type ReasonPolicy = {
  /** Try the next profile (`true`) or rethrow the error at once (`false`). */
  rotate?: boolean;
  /** Cooldown schedule for the profile that failed. */
  schedule?: Schedule;
};

/**
 * Per-reason overrides of the default policy (every reason rotates on its schedule, except
 * `format`: `{ rotate: false, schedule: "none" }`).
 *
 * ```ts
 * new Pool({ profiles, policy: { format: { rotate: true, schedule: "transient" }, unknown: { rotate: false } } });
 * ```
 */
export type PolicyConfig = Partial<Record<FailureReason, ReasonPolicy>>;

/** Where the pool reports what it does. Every method is optional; a throwing logger is ignored. */
export type Logger = {
  debug?: (msg: string, ...args: unknown[]) => void;
  info?: (msg: string, ...args: unknown[]) => void;
  warn?: (msg: string, ...args: unknown[]) => void;
  error?: (msg: string, ...args: unknown[]) => void;
};

/** Options of `new Pool(...)`. Unknown options are rejected (typos fail loudly). */
export type PoolOptions = {
  /** The API keys, in preference order (ties in round-robin go to the earlier one). */
  profiles: ProfileDefinition[];
  fallbackModels?: FallbackModelDefinition[];
  cooldowns?: CooldownConfig;
  policy?: PolicyConfig;
  /**
   * When every profile is cooling down, `run` waits for the soonest to recover, unless that
   * is more than `maxWaitMs` away: then it throws {@link AllProfilesExhaustedError}.
   * Default: wait however long it takes.
   */
  maxWaitMs?: number;
  /** The time in ms since the epoch, read at every call. Default `Date.now` (fake timers work). */
  clock?: () => number;
  logger?: Logger;
};

/** Options of one `run`. */
export type RunOptions = {
  /** Prefer profiles of this provider; others are used only when none of these is available. */
  provider?: string;
  /** Model for profiles that do not name one (`ctx.model`). */
  model?: string;
  /** Aborts the call: waiting stops and the abort error propagates, untouched. */
  signal?: AbortSignal;
  /** Prefix of this call's log lines. */
  label?: string;
  /** Overrides the pool's `maxWaitMs` for this call. */
  maxWaitMs?: number;
};

/** What your task receives: the profile to use for this attempt. */
export type ProfileContext = {
  profileId: string;
  apiKey: string;
  provider: string;
  model: string;
  /** The `signal` given to `run`, to pass on to your HTTP client. */
  signal?: AbortSignal;
};

/** One failed attempt of a `run`. The error text has every configured key redacted. */
export type FailedAttempt = {
  profileId: string;
  provider: string;
  model: string;
  error: string;
  reason: FailureReason;
  /** The cooldown this failure started, in ms (absent when none started). */
  cooldownMs?: number;
  /** What the provider asked for (Retry-After and friends), in ms. */
  retryAfterMs?: number;
};

/** The result of a successful `run`. */
export type RunResult<T> = {
  value: T;
  profileId: string;
  provider: string;
  model: string;
  /** The attempts that failed before this one. */
  attempts: FailedAttempt[];
};

/** The status of one profile. */
export type ProfileStatus = {
  id: string;
  provider: string;
  model?: string;
  /** `disabled`: resting on the long schedule (billing, revoked key). */
  state: "available" | "cooldown" | "disabled";
  /** When the rest ends (ms since the epoch); absent when available. */
  cooldownUntil?: number;
  /** Ms until available; 0 when available. */
  remainingMs: number;
  /** Why it rests; absent when available. */
  reason?: FailureReason;
  lastFailureReason?: FailureReason;
  /** Failures in a row (decays after `failureWindowMs`). */
  errorCount: number;
  /** Last time the profile was picked or succeeded. */
  lastUsed?: number;
  lastFailure?: number;
  lastSuccess?: number;
  /** Calls on this profile that are running now. */
  inFlight: number;
  kind: "primary" | "fallback";
};

/** The status of the pool (v1's fields, plus totals of disabled profiles and the next recovery). */
export type PoolStatus = {
  /** Primaries in configuration order, then fallback models. */
  profiles: ProfileStatus[];
  totalAvailable: number;
  /** Profiles cooling down on the transient schedule (disabled ones are not counted). */
  totalInCooldown: number;
  totalDisabled: number;
  /** Only when nothing is available: the reason of the last unavailable profile. */
  unavailableReason: FailureReason | null;
  /** Only when nothing is available: when the first profile recovers. */
  nextAvailableAt?: number;
};

/**
 * A pool of API keys. Each `run` gets a profile (round-robin within the preferred
 * provider, then other providers, then fallback models), and a failing profile rests on
 * the schedule of its failure reason.
 *
 * ```ts
 * const pool = new Pool({ profiles: [{ provider: "openai", apiKey: k1 }, { provider: "openai", apiKey: k2 }] });
 * const res = await pool.run(async ({ apiKey, signal }) => {
 *   const r = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` }, signal });
 *   if (!r.ok) throw Object.assign(new Error(await r.text()), { status: r.status, headers: r.headers });
 *   return r.json();
 * });
 * console.log(res.profileId, res.attempts.length);
 * ```
 */
export declare class Pool {
  /** @throws {ConfigError} naming the field, e.g. `profiles[2].apiKey: must be a non-empty string`. */
  constructor(options: PoolOptions);
  /**
   * Runs `task` with a profile; on failure classifies the error, rests the profile and tries
   * the next one. Resolves with the first success.
   * @throws {AllProfilesExhaustedError} when every attempt failed, or every profile rests for
   *   longer than `maxWaitMs`.
   * @throws the task's own error at once for reasons whose policy does not rotate (`format`),
   *   and the caller's abort, untouched.
   */
  run<T>(task: (ctx: ProfileContext) => Promise<T> | T, options?: RunOptions): Promise<RunResult<T>>;
  /**
   * Records a failure of a profile, as `run` does. `retryAfterMs` replaces the schedule's
   * step (clamped to its cap). A failure during a cooldown counts but does not extend it.
   * @throws {RangeError} for an unknown id or reason.
   */
  markFailure(profileId: string, reason: FailureReason, options?: { retryAfterMs?: number }): void;
  /** Records a success: clears the cooldown; the error count decays with the failure window. */
  markSuccess(profileId: string): void;
  /** Whether the profile is resting now (cooldown or disabled). */
  isInCooldown(profileId: string): boolean;
  /** Ends the profile's rest and resets its error count. */
  clearCooldown(profileId: string): void;
  /** The state of every profile, built in one call into the core. */
  getStatus(): PoolStatus;
  /** The status: `JSON.stringify(pool)` shows ids and numbers, never a key. */
  toJSON(): PoolStatus;
}

/**
 * Throw this from a task to tell the pool why the call failed.
 *
 * ```ts
 * throw new FailoverError("quota used up", { reason: "billing" });
 * ```
 */
export declare class FailoverError extends Error {
  readonly failureReason: FailureReason;
  readonly isTimeout: boolean;
  /** Come back after this many ms (replaces the schedule's step). */
  readonly retryAfterMs?: number;
  constructor(
    message: string,
    opts?: { reason?: FailureReason; isTimeout?: boolean; cause?: unknown; retryAfterMs?: number },
  );
}

/** Thrown by `run` when no profile could serve the call. */
export declare class AllProfilesExhaustedError extends Error {
  /** Every failed attempt of the call, keys redacted. */
  readonly attempts: FailedAttempt[];
  /** When the soonest profile recovers (ms since the epoch), if the call gave up waiting. */
  readonly retryAt?: number;
  /** `retryAt` as a delay from the moment the call gave up. */
  readonly retryAfterMs?: number;
  constructor(attempts: FailedAttempt[], opts?: { retryAt?: number; retryAfterMs?: number });
}

/** A configuration value the pool cannot use. */
export declare class ConfigError extends TypeError {
  /** Path of the field, e.g. `profiles[2].apiKey` or `cooldowns.billingMaxMs`. */
  readonly field: string;
  constructor(field: string, problem: string);
}

/**
 * Maps any thrown value to a failure reason: a {@link FailoverError}'s own reason, else the
 * HTTP status (`status`, `statusCode`, `response.status`), the provider's error code, the
 * message, the error's name and its `cause`. Recognises the official OpenAI, Anthropic and
 * Google SDKs' errors.
 *
 * ```ts
 * classifyError(Object.assign(new Error("slow down"), { status: 429 })); // "rate_limit"
 * ```
 */
export declare function classifyError(error: unknown): FailureReason;

/**
 * Where {@link init} gets the WebAssembly module, in browsers: a URL (string or `URL`) or a
 * `Request` to fetch, a `Response` or a promise of one, the bytes (`ArrayBuffer`, typed
 * array), or a compiled `WebAssembly.Module`.
 */
export type WasmSource = string | ArrayBuffer | ArrayBufferView | object;

/**
 * Loads the WebAssembly module.
 *
 * - Node, Deno, Bun, Cloudflare Workers: the module is loaded at import; this resolves at
 *   once and `source` is ignored.
 * - Browsers (and the `default` build): call `await init()` once before using the pool;
 *   until then every use throws an error saying so. It fetches the package's own
 *   `key_carousel_bg.wasm` (bundlers such as Vite and webpack 5 emit it), unless `source`
 *   says where else to get it. Calling it again is harmless.
 *
 * ```ts
 * import { Pool, init } from "key-carousel";
 * await init();
 * const pool = new Pool({ profiles });
 * ```
 */
export declare function init(source?: WasmSource): Promise<void>;
