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
  /**
   * Where the state (cooldowns, error counts, last use) is kept across restarts and shared
   * between processes: a built-in store (`fileStore(path)` from `key-carousel/file`,
   * `memoryStore()`, `webStorageStore()`) or your own `{ load, save }` (see {@link StateStore}).
   * Failures are written at once, success-only changes at most once per `saveIntervalMs`.
   */
  storage?: StateStore;
  /** key-carousel 1's option, kept: the same as `storage: fileStore(storagePath)` (Node, Deno, Bun). */
  storagePath?: string;
  /**
   * The longest a success-only change (lastUsed, lastSuccess, a success ending a cooldown)
   * waits before it is written: at most one such write per interval. Default 1000 ms.
   * Failures and `clearCooldown` are written at once.
   */
  saveIntervalMs?: number;
};

/** Options of one `run`. */
export type RunOptions = {
  /** Prefer profiles of this provider; others are used only when none of these is available. */
  provider?: string;
  /** Model for profiles that do not name one (`ctx.model`). */
  model?: string;
  /**
   * Aborts the call: waiting stops, and once it has fired, whatever the task throws (the
   * SDK's abort error) propagates untouched and no key is blamed. An abort you did not ask
   * for (an SDK's own timeout, a deadline inside the task) is a `timeout` and rotates.
   */
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
  /**
   * The `signal` given to `run`, to pass on to your HTTP client or SDK ({@link Pool} only;
   * {@link LlmKeyPool} passes v1's four fields).
   */
  signal?: AbortSignal;
};

/**
 * One failed attempt of a `run`. The error text has every configured key redacted.
 * `cooldownMs` and `retryAfterMs` are {@link Pool}'s; {@link LlmKeyPool} reports v1's fields.
 */
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

/**
 * One profile in a status, v1's fields: everything {@link LlmKeyPool} reports, and the part
 * of {@link ProfileStatus} that v1 code reads.
 */
export interface PoolProfileStatus {
  id: string;
  provider: string;
  model?: string;
  /** `disabled`: resting on the long schedule (billing, revoked key). */
  state: "available" | "cooldown" | "disabled";
  /**
   * When the rest ends (ms since the epoch). {@link Pool}: absent when available.
   * {@link LlmKeyPool}: as v1, the end of the last rest even once it has passed, until a
   * success or `clearCooldown`.
   */
  cooldownUntil?: number;
  /** Failures in a row (decays after `failureWindowMs`). */
  errorCount: number;
  /** {@link Pool}: last time the profile was picked or succeeded. {@link LlmKeyPool}: last success (v1). */
  lastUsed?: number;
  lastFailure?: number;
}

/** The status of one profile in {@link Pool}'s status: v1's fields and v2's. */
export interface ProfileStatus extends PoolProfileStatus {
  /** Ms until available; 0 when available. */
  remainingMs: number;
  /** Why it rests; absent when available. */
  reason?: FailureReason;
  lastSuccess?: number;
  /** Calls on this profile that are running now. */
  inFlight: number;
}

/**
 * The status of a pool, v1's shape: what {@link LlmKeyPool.getStatus} returns, and the part
 * of {@link DetailedPoolStatus} (what {@link Pool.getStatus} returns) that v1 code reads.
 */
export interface PoolStatus {
  /** Primaries in configuration order, then fallback models. */
  profiles: PoolProfileStatus[];
  totalAvailable: number;
  /** Profiles cooling down on the transient schedule (disabled ones are not counted). */
  totalInCooldown: number;
  /** Only when nothing is available: the reason of the last unavailable profile. */
  unavailableReason: FailureReason | null;
}

/** {@link Pool}'s status: v1's fields, plus totals of disabled profiles and the next recovery. */
export interface DetailedPoolStatus extends PoolStatus {
  profiles: ProfileStatus[];
  totalDisabled: number;
  /** Only when nothing is available: when the first profile recovers. */
  nextAvailableAt?: number;
}

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
   * @throws {RangeError} for an unknown id or reason, or a retryAfterMs that is not a finite number >= 0.
   * @throws {TypeError} for an id or reason that is not a string, or an unknown option.
   */
  markFailure(profileId: string, reason: FailureReason, options?: { retryAfterMs?: number }): void;
  /** Records a success: clears the cooldown; the error count decays with the failure window. */
  markSuccess(profileId: string): void;
  /** Whether the profile is resting now (cooldown or disabled). */
  isInCooldown(profileId: string): boolean;
  /** Ends the profile's rest and resets its error count. */
  clearCooldown(profileId: string): void;
  /** The state of every profile, built in one call into the core. */
  getStatus(): DetailedPoolStatus;
  /** The status: `JSON.stringify(pool)` shows ids and numbers, never a key. */
  toJSON(): DetailedPoolStatus;
}

/** Options of `new LlmKeyPool(...)`: key-carousel 1's, unchanged. Unknown options are ignored (as in v1). */
export type LlmKeyPoolConfig = {
  /** The API keys; without `id`, a profile is `profile-<index>` (v1's ids). */
  profiles: ProfileDefinition[];
  fallbackModels?: FallbackModelDefinition[];
  /** A JSON file shared with v1 processes; call `await pool.init()` after construction to load it. */
  storagePath?: string;
  /** Negative values throw `<field> must be non-negative` (v1's message); NaN, infinite and non-numbers throw a {@link ConfigError}. */
  cooldowns?: CooldownConfig;
  /** When every profile is cooling down, `run` waits for the soonest, unless it is further than this. Default: no limit. */
  maxWaitMs?: number;
  /** Gets v1's log lines (keys redacted); a logger that throws is ignored. */
  logger?: Logger;
};

/** What {@link LlmKeyPool.run} resolves with (v1's name for {@link RunResult}). */
export type LlmKeyPoolResult<T> = RunResult<T>;

/**
 * key-carousel 1.1.0's `LlmKeyPool`, for upgrading without changing code: v1's options,
 * methods, validation messages, ids (`profile-<index>`), classification (v1's rules),
 * treatment of `format` errors (they rotate and cool the key), and state machine (run by the
 * v2 core in v1 mode). The time is `Date.now()` at each call, so fake timers work.
 *
 * The differences from v1 are listed in the README ("Migrating from v1"); in short: keys are
 * redacted from attempts and logs, the caller's abort never cools a key, and input v1
 * accepted but then mishandled (NaN cooldowns, odd ids, a task that is not a function) is
 * rejected. For v2's behaviour (spreading concurrent calls, Retry-After, v2's classification,
 * `format` rethrown) use {@link Pool}.
 *
 * ```ts
 * import { LlmKeyPool } from "key-carousel";
 * const pool = new LlmKeyPool({
 *   profiles: [{ provider: "openai", apiKey: process.env.OPENAI_KEY_1! }, { provider: "openai", apiKey: process.env.OPENAI_KEY_2! }],
 *   maxWaitMs: 30_000,
 * });
 * const { value, profileId } = await pool.run(async ({ apiKey, model }) => callTheModel(apiKey, model), { model: "gpt-4o" });
 * ```
 */
export declare class LlmKeyPool {
  /**
   * @throws {Error} with v1's messages: `Duplicate profile ID: "x"`, `Profile "x" has an empty
   *   API key`, `Profile "x" has an empty provider`, `Duplicate fallback ID: "x"`,
   *   `maxRateLimitCooldownMs must be non-negative` (and the other cooldowns), `At least one
   *   profile or fallback with an API key is required`.
   * @throws {ConfigError} for what v1 accepted but could not use (NaN or non-number cooldowns,
   *   ids or providers with surrounding whitespace, control characters or lone surrogates, non-string keys).
   */
  constructor(config: LlmKeyPoolConfig);
  /** Loads the state saved at `storagePath`; resolves at once without one. */
  init(): Promise<void>;
  /**
   * Runs `task` with a profile (round-robin by last success within the preferred provider,
   * then other providers, then fallback models); on failure classifies the error with v1's
   * rules, rests the profile and tries the next. When every profile rests, waits for the
   * soonest (up to `maxWaitMs`). At most `min(160, max(32, 24 + 8 × profiles))` iterations.
   * @throws {AllProfilesExhaustedError} with v1's message and `attempts`.
   * @throws an AbortError/TimeoutError the task threw whose message is not about a timeout,
   *   untouched; the signal's reason once `signal` has fired.
   */
  run<T>(task: (ctx: ProfileContext) => Promise<T>, opts?: RunOptions): Promise<LlmKeyPoolResult<T>>;
  /**
   * Records a failure: a rest on the reason's schedule, or, during a rest, one more error
   * (v1). An unknown id is ignored. Resolves once the state is written (with `storagePath`).
   */
  markFailure(profileId: string, reason: FailureReason): Promise<void>;
  /** Records a success: ends the rest, sets lastUsed. An unknown id is ignored. */
  markSuccess(profileId: string): Promise<void>;
  /** Whether the profile is resting now; `false` for an unknown id. */
  isInCooldown(profileId: string): boolean;
  /** Ends the rest and resets the error count. An unknown id is ignored. */
  clearCooldown(profileId: string): Promise<void>;
  /** v1's status: exactly v1's fields. */
  getStatus(): PoolStatus;
  /** The status: `JSON.stringify(pool)` shows ids and numbers, never a key. */
  toJSON(): PoolStatus;
  /**
   * Loads the stored state (with `storage` or `storagePath`) and merges it into the pool;
   * the first `run` does it itself when this was not called. Never rejects: a store that
   * cannot be read is reported through the logger (error) and the pool starts fresh; a
   * stored value that is garbage, truncated, of another version or of the wrong types is
   * copied aside (`<path>.corrupt-<time>` for files, the store decides for others), reported
   * once (warn), and the pool starts fresh. Without storage it resolves at once.
   */
  init(): Promise<void>;
  /**
   * Writes everything not yet written (for Workers: `ctx.waitUntil(pool.flush())`; before
   * `process.exit()`). Rejects with the store's error when that write fails; the pool keeps
   * the changes and tries again later.
   */
  flush(): Promise<void>;
  /** Flushes, then stops saving: no timers are left, later changes are not written. */
  close(): Promise<void>;
}

/** One profile's stored state: key-carousel 1's fields, then v2's. Times are ms since the epoch. */
export type ProfileRecord = {
  errorCount: number;
  /** Last pick (v2) or success (v1). */
  lastUsed?: number;
  lastFailure?: number;
  lastSuccess?: number;
  /** The recorded end of the last cooldown, possibly past. */
  cooldownUntil?: number;
  lastFailureReason?: FailureReason;
  /** When the cooldown group (cooldownUntil, lastFailureReason, errorCount, cooldownLong, cooldownStartedAt) last changed. */
  updatedAt?: number;
  /** The cooldown is on the long schedule (`disabled`). Absent: false. */
  cooldownLong?: boolean;
  cooldownStartedAt?: number;
};

/**
 * The stored state: key-carousel 1's file format (`version` 1), which 1.1.0 reads, with
 * v2's extra fields per profile. Ids the pool does not have are kept and written back
 * (another process may use them).
 */
export type Snapshot = {
  version: 1;
  profiles: { [id: string]: ProfileRecord };
};

/**
 * What a store holds: the JSON text, the parsed object, or `null`/`undefined` for nothing.
 * Anything else (garbage, wrong version, wrong types) is treated as bad state: the pool
 * starts fresh, asks the store to keep a copy, and warns once.
 */
export type StoredState = string | Snapshot | null | undefined;

/**
 * A place to keep the pool's state. Your own needs `load` and `save`; built-in adapters
 * implement `update` (read-merge-write, atomic where the store allows it).
 *
 * How writers racing on one store fare depends on `update`:
 * - file (`fileStore`): a lock file serialises writers on one machine or shared disk;
 *   each merges with the file under the lock, so no update is lost.
 * - Redis: the merge runs on the server in one script (`update` sends `merge(null)` and
 *   returns the merged value); atomic across machines.
 * - Cloudflare KV, Deno KV without a transaction, Web Storage across tabs: read, merge,
 *   write, not atomic: two writers at the same moment can overwrite each other, and the
 *   next write of either merges again (eventually consistent).
 * - `save` only (your callback): the pool writes its whole state, merged with what it
 *   loaded at start, and nothing else: the last writer wins. Implement `update` to merge.
 *
 * Merging is commutative, associative and idempotent (per id the timestamps take the
 * maximum and the cooldown fields come from the later event), so writing the same state
 * twice or in any order is harmless. See {@link mergeSnapshots}.
 *
 * ```ts
 * const pool = new Pool({
 *   profiles,
 *   storage: {
 *     load: () => db.get("llm-keys"),                          // string | object | null
 *     save: (snapshot) => db.set("llm-keys", JSON.stringify(snapshot)),
 *   },
 * });
 * await pool.init();
 * ```
 */
export interface StateStore {
  /** How logs name the store, e.g. `file /var/lib/app/keys.json`. */
  readonly name?: string;
  /** Reads the stored state. A rejection means "unreachable": logged, the pool starts fresh. */
  load(): StoredState | Promise<StoredState>;
  /** Writes the pool's whole state. Used when there is no `update`. */
  save?(snapshot: Snapshot): void | Promise<void>;
  /**
   * Read-merge-write, as atomically as the store allows: read the stored value, call
   * `merge(stored)` — it merges `stored` into the pool and returns the pool's whole state
   * to write — and write that. `merge` may be called more than once (e.g. to retry after a
   * conflicting write). A store that merges on its side (a Redis script) calls
   * `merge(null)` for the pool's own state, sends it, and returns the merged value, which the
   * pool merges in. A rejection is logged and the write retried later.
   */
  update?(merge: (stored: StoredState) => Snapshot): StoredState | void | Promise<StoredState | void>;
  /**
   * Keeps a copy of a bad stored value before it is overwritten; returns where (for the
   * warning), e.g. `<path>.corrupt-<time>` or a side key.
   */
  keepCorrupt?(raw: StoredState, problem: string): string | void | Promise<string | void>;
  /** Called by `pool.close()` after the last write. */
  close?(): void | Promise<void>;
}

/**
 * A store in this process's memory, kept as JSON text. Pools given the same store share
 * their state. For tests, and for runtimes with nothing else.
 */
export declare function memoryStore(): StateStore & {
  /** The bad values found in it, as they were. */
  readonly corrupt: StoredState[];
};

/**
 * A store in a Web Storage (`localStorage` by default) under `key` (default
 * `"key-carousel"`). A bad value is copied to `<key>.corrupt-<time>`. Tabs writing at the
 * same moment can overwrite each other; the next write merges again.
 * @throws {TypeError} when there is no Web Storage (pass one).
 */
export declare function webStorageStore(storage?: WebStorageLike, options?: { key?: string }): StateStore;

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) that `webStorageStore` uses. */
export type WebStorageLike = {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
};

/**
 * Merges two stored states with the rule every store uses: per id, `lastUsed`,
 * `lastFailure` and `lastSuccess` take the maximum; the cooldown group (`cooldownUntil`,
 * `lastFailureReason`, `errorCount`, `cooldownLong`, `cooldownStartedAt`, `updatedAt`) comes
 * whole from the record with the greater key `(updatedAt ?? max(lastFailure, lastSuccess) ?? -1,
 * cooldownUntil ?? -1, errorCount, lastFailureReason ?? "", cooldownLong, cooldownStartedAt ?? -1)`,
 * and `updatedAt` becomes that key's first part. Commutative, associative, idempotent.
 * Unusable fields are dropped.
 * @throws {TypeError} when either value as a whole is unusable (not JSON, wrong version),
 *   e.g. `mergeSnapshots: b is unusable: unsupported version 2`.
 */
export declare function mergeSnapshots(a: StoredState, b: StoredState): Snapshot;

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
 * Maps any thrown value to a failure reason with v2's rules: a {@link FailoverError}'s own
 * reason, else the HTTP status (`status`, `statusCode`, `response.status`), the provider's
 * error code (also from a JSON body in the message, as @google/genai throws it), the
 * message, the error's name and its `cause`. Recognises the official OpenAI, Anthropic and
 * Google SDKs' errors. v2's rules are v1's plus: any 5xx is `server_error` and 408 `timeout`
 * (v1: `unknown`), error codes, causes, and SDK timeout/abort classes; {@link LlmKeyPool}
 * classifies with v1's rules.
 *
 * ```ts
 * classifyError(Object.assign(new Error("slow down"), { status: 429 })); // "rate_limit"
 * ```
 */
export declare function classifyError(error: unknown): FailureReason;

/**
 * Loads the WebAssembly module. In Node it is loaded at import, so this resolves at once;
 * it exists for runtimes that must load it asynchronously.
 */
export declare function init(): Promise<void>;
