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
 * const { value } = await pool.run(({ apiKey, model }) => callTheModel(apiKey, model), { provider: "openai", model: "gpt-4o-mini" });
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

/**
 * One API key of one provider. {@link Pool} refuses fields it does not know
 * (`profiles[0].baseURL: unknown option`, a `ConfigError`), so a typo does not pass
 * unnoticed; keep your own per-key data in a map by `id`. {@link LlmKeyPool} ignores them, as
 * v1 did. {@link Pool} also refuses two profiles with the same provider, model and key.
 */
export type ProfileDefinition = {
  /**
   * Stable id, unique in the pool, shown in status, attempts and logs. When omitted it is
   * derived from the provider and a short fingerprint of the model and key
   * (`openai-1f3a9b2c4d5e6f`), so it survives restarts, reordering and added keys. 53 bits: no
   * real key can be found from it, but a key of a few characters can (give such keys an id).
   * An id or model that holds the key (whole, or 8 of its characters in a row; for keys of at
   * least 8 characters), or an id,
   * provider or model that is another profile's key, is a `ConfigError`: names are shown
   * everywhere.
   */
  id?: string | undefined;
  /** Provider name, e.g. `"openai"`; `run({ provider })` prefers profiles of this provider. */
  provider: string;
  /** Model this key is for; the task's `ctx.model` (else `run`'s `model`, else `"unknown"`). */
  model?: string | undefined;
  /** The secret. It is passed to your task and never appears in status, errors or logs. */
  apiKey: string;
  /**
   * {@link Pool} only: under round-robin, a profile of weight 3 serves three times as often
   * as one of weight 1 (it counts as three keys picked least recently first). A whole
   * number from 1 to 1000; default 1. Ignored by `strategy: "priority"`.
   *
   * ```ts
   * profiles: [{ provider: "openai", apiKey: paidTier, weight: 3 }, { provider: "openai", apiKey: freeTier }]
   * ```
   */
  weight?: number | undefined;
};

/**
 * A model to fall back to when every primary profile is unavailable. Its id is
 * `fallback-<provider>-<model>`. Without `apiKey` it borrows the key of the first profile of
 * `provider`, and is skipped when there is none. An `apiKey` of `""` (an environment
 * variable set but empty) is a `ConfigError` with {@link Pool}; {@link LlmKeyPool} skips
 * that fallback, as v1 did.
 */
export type FallbackModelDefinition = {
  provider: string;
  model: string;
  apiKey?: string | undefined;
};

/** Cooldown settings, in ms. Negative, NaN or infinite values are rejected. */
export type CooldownConfig = {
  /**
   * Cap of the transient schedule. Default 3 600 000 (1 h). Its steps are 60 s × 5^(n−1),
   * the exponent stopping at 3 as key-carousel 1.1.0's does: a cap above 7 500 000 (125 min)
   * is reached by a `Retry-After` only (a ladder of your own: `schedules.transient`).
   */
  maxRateLimitCooldownMs?: number | undefined;
  /**
   * First step of the long schedule. Default 18 000 000 (5 h). Its steps are this × 2^(n−1),
   * the exponent stopping at 10 (as key-carousel 1.1.0's).
   */
  billingBackoffMs?: number | undefined;
  /** Cap of the long schedule. Default 86 400 000 (24 h). */
  billingMaxMs?: number | undefined;
  /** A failure older than this restarts the error count. Default 86 400 000 (24 h). */
  failureWindowMs?: number | undefined;
};

/**
 * Which cooldown ladder a reason climbs; `"none"` cools nothing and counts nothing. A run
 * that rotates past a key on such a failure does not call that key again (it goes on with
 * the others, and gives up when none is left); the next run may.
 */
export type Schedule = "transient" | "long" | "none";

/** What one failure reason does. */
export type ReasonPolicy = {
  /** Try the next profile (`true`) or rethrow the error at once (`false`). */
  rotate?: boolean | undefined;
  /** Cooldown schedule for the profile that failed. */
  schedule?: Schedule | undefined;
  /**
   * When the call names a model (`run(task, { model })`) and the profile has no model of its
   * own: `"model"` rests the key for that model only (other models keep using it), `"key"`
   * rests the whole key. Default `"model"` for `rate_limit`, `timeout` and `model_not_found`,
   * `"key"` for the others. A second model failing on the same key within `failureWindowMs`
   * rests the whole key (`model_not_found` neither widens nor counts towards it).
   */
  scope?: "key" | "model" | undefined;
};

/**
 * A cooldown ladder: the rest after the 1st, 2nd, ... failure in a row, in ms (the last step
 * repeats; at most 10 steps, each not shorter than the one before), or `baseMs × factor^(n−1)`
 * capped at `capMs` (`factor` ≥ 1, default 2). A Retry-After is clamped to the ladder's cap:
 * its last step, or `capMs` (with `factor` 1 the ladder itself never rests longer than
 * `baseMs`, but a Retry-After may, up to `capMs`).
 */
export type Ladder = readonly number[] | { baseMs: number; factor?: number | undefined; capMs: number };

/**
 * Cooldown ladders per reason class (which reasons use which class: {@link ReasonPolicy}).
 * - `"v1"` (default): transient 1 min, 5 min, 25 min, 1 h; long 5 h, 10 h, 20 h, 24 h (and the
 *   `cooldowns` fields that tune them);
 * - `"gentle"`: transient 30 s, 1 min, 5 min; long as v1;
 * - `{ transient?, long? }`: your own {@link Ladder} for a class (the other stays v1's). A
 *   custom ladder has its own cap: `cooldowns.maxRateLimitCooldownMs` (transient) and
 *   `billingBackoffMs`/`billingMaxMs` (long) cannot be combined with it.
 *
 * ```ts
 * new Pool({ profiles, schedules: "gentle" });
 * new Pool({ profiles, schedules: { transient: [10_000, 30_000, 120_000], long: { baseMs: 3_600_000, factor: 2, capMs: 86_400_000 } } });
 * ```
 */
export type Schedules = "v1" | "gentle" | { transient?: Ladder | undefined; long?: Ladder | undefined };

/**
 * Per-reason overrides of the default policy (every reason rotates on its schedule, except
 * `format`: `{ rotate: false, schedule: "none" }`).
 *
 * ```ts
 * new Pool({ profiles, policy: { format: { rotate: true, schedule: "transient" }, unknown: { rotate: false } } });
 * ```
 */
export type PolicyConfig = { [R in FailureReason]?: ReasonPolicy | undefined };

/** Where the pool reports what it does. Every method is optional; a throwing logger is ignored. */
export type Logger = {
  debug?: ((msg: string, ...args: unknown[]) => void) | undefined;
  info?: ((msg: string, ...args: unknown[]) => void) | undefined;
  warn?: ((msg: string, ...args: unknown[]) => void) | undefined;
  error?: ((msg: string, ...args: unknown[]) => void) | undefined;
};

/** Options of `new Pool(...)`. Unknown options are rejected (typos fail loudly). */
export type PoolOptions = {
  /** The API keys, in preference order (ties in round-robin go to the earlier one). */
  profiles: readonly ProfileDefinition[];
  fallbackModels?: readonly FallbackModelDefinition[] | undefined;
  cooldowns?: CooldownConfig | undefined;
  policy?: PolicyConfig | undefined;
  /**
   * When every profile is cooling down, `run` waits for the soonest to recover, unless that
   * is more than `maxWaitMs` away: then it throws {@link AllProfilesExhaustedError}. It
   * bounds each wait (a run that waits, fails again and waits again waits more than once).
   * A rest that ends early (`clearCooldown`, `markSuccess`, another process's state merged
   * in) wakes the waiting runs. Default: wait however long it takes.
   */
  maxWaitMs?: number | undefined;
  /** The time in ms since the epoch, read at every call. Default `Date.now` (fake timers work). */
  clock?: (() => number) | undefined;
  logger?: Logger | undefined;
  /**
   * Where the state (cooldowns, error counts, last use) is kept across restarts and shared
   * between processes: a built-in store (`fileStore(path)` from `key-carousel/file`,
   * `redisStore(client)`, `cloudflareKvStore(env.KV)`, `denoKvStore(kv)`, `webStorageStore()`,
   * `memoryStore()`) or your own `{ load, save }` (see {@link StateStore}).
   * Failures are written at once (a `run` that recorded one settles after that write, 1 s
   * at most), success-only changes at most once per `saveIntervalMs`. For a state of
   * thousands of profiles, whose write keeps the event loop busy for milliseconds, the next
   * write waits four times that long after the last, 1 s at most, and a run waits for its
   * failure's write that much longer (the README's "Cost").
   */
  storage?: StateStore | undefined;
  /**
   * key-carousel 1's option, kept: the same as `storage: fileStore(storagePath)` (Node, Deno,
   * Bun). Not together with `storage` (a {@link ConfigError}).
   */
  storagePath?: string | undefined;
  /**
   * The longest a success-only change (lastUsed, lastSuccess, a success ending a cooldown)
   * waits before it is written: at most one such write per interval. Default 1000 ms.
   * Failures and `clearCooldown` are written at once. At most 2,147,483,647 ms (24.8 days,
   * setTimeout's longest wait).
   */
  saveIntervalMs?: number | undefined;
  /**
   * The order within a group: `"round-robin"` (default; the profile picked least recently,
   * each counted `weight` times) or `"priority"` (always the first available profile in
   * configuration order, back to it as soon as it recovers; a sticky session that moved to
   * another profile stays there).
   */
  strategy?: "round-robin" | "priority" | undefined;
  /** Cooldown ladders: a preset or your own; see {@link Schedules}. */
  schedules?: Schedules | undefined;
  /**
   * Sticky sessions (`run(task, { session })`): how many sessions the pool remembers, the
   * least recently used forgotten first. Default `{ max: 10000 }`.
   */
  sessions?: { max?: number | undefined } | undefined;
};

/**
 * Options of one `run`. {@link Pool} refuses fields it does not know (a `TypeError`: `run
 * options: unknown option "temperature"`): pass the request's own options to your task, not
 * here.
 */
export type RunOptions = {
  /** Prefer profiles of this provider; others are used only when none of these is available. */
  provider?: string | undefined;
  /**
   * Model for profiles that do not name one (`ctx.model`). A model that holds one of the
   * pool's keys (8 of its characters in a row) is a `TypeError`.
   */
  model?: string | undefined;
  /**
   * Aborts the call: waiting (also for the first load of the state) stops, and once it has
   * fired, whatever the task throws (the SDK's abort error) propagates untouched and no key is
   * blamed ({@link Pool}: a task that returns anyway, as one reading a stream the SDK ended
   * quietly, gets `run` rejected with `signal.reason`, and no success counted); with {@link Pool}, a task that does not end within 100 ms of the abort is left
   * behind (`run` rejects with `signal.reason`; its key counts it in flight until it ends,
   * with no verdict; `LlmKeyPool` waits for the task, as v1). An
   * `AbortError`, `APIUserAbortError` or `TimeoutError` whose message is not about
   * a timeout ("timeout", "timed out") is taken for the caller's too, signal or not. A deadline that says so
   * (the OpenAI and Anthropic SDKs' `timeout`, fetch's `AbortSignal.timeout()`) is a
   * `timeout` and rotates.
   */
  signal?: AbortSignal | undefined;
  /** Prefix of this call's log lines. */
  label?: string | undefined;
  /** Overrides the pool's `maxWaitMs` for this call. */
  maxWaitMs?: number | undefined;
  /**
   * A sticky session ({@link Pool} only): calls of the same session are served by the same
   * profile while it is healthy (provider-side prompt caches stay warm), also calls made
   * together; when it rests, the session moves to the profile the retry is given, and stays
   * there (calls of the session still running on the old one retry there too). A session stays in
   * its group: when it had to move to a fallback model, it moves back once a profile of the
   * preferred provider is available. The pool remembers `sessions.max` sessions (LRU).
   *
   * ```ts
   * await pool.run(task, { session: `conversation-${conversationId}` });
   * ```
   */
  session?: string | undefined;
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
  signal?: AbortSignal | undefined;
};

/**
 * One failed attempt of a `run`. The error text has every configured key redacted.
 * `cooldownMs` and `retryAfterMs` are {@link Pool}'s; {@link LlmKeyPool} reports v1's fields.
 */
export type FailedAttempt = {
  profileId: string;
  provider: string;
  model: string;
  /**
   * The error's message, every configured key redacted: its first 65,536 characters, then
   * ` … (N more characters)` when it was longer.
   */
  error: string;
  reason: FailureReason;
  /** The cooldown this failure started, in ms (absent when none started). */
  cooldownMs?: number | undefined;
  /**
   * What the provider asked for (Retry-After and friends), in ms: at least 1000 (a
   * `retry-after: 0` or a date already past reads as 1 s); a FailoverError's own, as given.
   */
  retryAfterMs?: number | undefined;
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
 * One profile in a status, v1's fields (type aliases, as v1's: they fit `Record<string, unknown>`): everything {@link LlmKeyPool} reports, and the part
 * of {@link ProfileStatus} that v1 code reads.
 */
export type PoolProfileStatus = {
  id: string;
  provider: string;
  model?: string | undefined;
  /** `disabled`: resting on the long schedule (billing, revoked key). */
  state: "available" | "cooldown" | "disabled";
  /**
   * When the rest ends (ms since the epoch). {@link Pool}: `undefined` when available.
   * {@link LlmKeyPool}: as v1, the end of the last rest even once it has passed, until a
   * success or `clearCooldown`.
   */
  cooldownUntil?: number | undefined;
  /**
   * Failures in a row. It restarts from 0 at the first failure more than
   * `failureWindowMs` after the one before (so the status shows the old count until then).
   */
  errorCount: number;
  /** {@link Pool}: last time the profile was picked or succeeded. {@link LlmKeyPool}: last success (v1). */
  lastUsed?: number | undefined;
  lastFailure?: number | undefined;
};

/** The status of one profile in {@link Pool}'s status: v1's fields and v2's. */
export type ProfileStatus = PoolProfileStatus & {
  /** Ms until available; 0 when available. */
  remainingMs: number;
  /** Why it rests; `undefined` when available. */
  reason?: FailureReason | undefined;
  lastSuccess?: number | undefined;
  /** Calls on this profile that are running now. */
  inFlight: number;
  /**
   * The models this profile rests for (while it stays available to others); absent when
   * none. See {@link ReasonPolicy.scope}.
   */
  modelCooldowns?: ModelCooldownStatus[] | undefined;
};

/** A model-scoped rest: calls naming `model` skip the profile until `cooldownUntil`. */
export type ModelCooldownStatus = {
  model: string;
  state: "cooldown" | "disabled";
  cooldownUntil: number;
  remainingMs: number;
  reason?: FailureReason | undefined;
  errorCount: number;
};

/**
 * The status of a pool, v1's shape: what {@link LlmKeyPool.getStatus} returns, and the part
 * of {@link DetailedPoolStatus} (what {@link Pool.getStatus} returns) that v1 code reads.
 */
export type PoolStatus = {
  /** Primaries in configuration order, then fallback models. */
  profiles: PoolProfileStatus[];
  totalAvailable: number;
  /** Profiles cooling down on the transient schedule (disabled ones are not counted). */
  totalInCooldown: number;
  /** Only when nothing is available: the reason of the last unavailable profile. */
  unavailableReason: FailureReason | null;
};

/** {@link Pool}'s status: v1's fields, plus totals of disabled profiles and the next recovery. */
export type DetailedPoolStatus = Omit<PoolStatus, "profiles"> & {
  profiles: ProfileStatus[];
  totalDisabled: number;
  /** Only when nothing is available: when the first profile recovers (ms since the epoch). */
  nextAvailableAt?: number | undefined;
};

/**
 * The events of a {@link Pool} and their payloads: plain frozen objects with ids, provider,
 * model, reason, times and counts, never a key. `model` is the model the call used (the
 * profile's, else `run`'s `model`, else `"unknown"`), or the model a model-scoped rest is
 * for.
 */
export interface PoolEvents {
  /** A failure started a rest on the transient schedule (`scope: "model"`: for that model only). */
  cooldown: RestEvent;
  /** A failure started a rest on the long schedule (billing, revoked key): the profile is `disabled`. */
  disabled: RestEvent;
  /**
   * A rest is over, first noticed by a `run`, `getStatus`, `isInCooldown`, `metrics`, a mark
   * or `clearCooldown` (rests end on the clock, not on a timer; ended early: by
   * `clearCooldown`, `markSuccess`, or another process through the store). Emitted for rests
   * that end while a "recover" listener is attached, once per rest (also when the clock
   * steps back into a rest that had ended).
   */
  recover: {
    profileId: string;
    provider: string;
    /**
     * `scope: "model"`: the model the rest was for. `scope: "key"`: the profile's own
     * `model`, `undefined` when it has none (a key's rest is for every model, whichever call
     * started it; unlike "cooldown", which names that call's model).
     */
    model?: string | undefined;
    scope: "key" | "model";
    /** What the rest was for: the reason of the failure that started it (the profile's, or the pair's for `scope: "model"`). */
    reason?: FailureReason | undefined;
    at: number;
  };
  /** A `run` succeeded. `attempts`: the failed attempts before the one that succeeded. */
  success: { profileId: string; provider: string; model: string; attempts: number; session?: string };
  /** A `run` attempt failed: the {@link FailedAttempt} (error text redacted). */
  failure: FailedAttempt;
  /** `run` gave up with {@link AllProfilesExhaustedError}. */
  exhausted: { attempts: number; label: string; provider?: string; model?: string; retryAt?: number; retryAfterMs?: number };
  /**
   * Loading or saving the state failed (the pool goes on; a save is retried). `store`: the
   * store's name as the log shows it (a key in it redacted).
   */
  "persist-error": { store: string; operation: "load" | "save"; error: string; attempt: number };
}

/** The payload of "cooldown" and "disabled". */
export type RestEvent = {
  profileId: string;
  provider: string;
  /** The call's model: the profile's own, else `run`'s (or `markFailure`'s) `model`, else `"unknown"` (as `ctx.model`). */
  model: string;
  /** `"model"`: the profile rests for `model` only. */
  scope: "key" | "model";
  reason: FailureReason;
  /** When the rest ends (ms since the epoch). */
  until: number;
  cooldownMs: number;
  /** The failures in a row of the profile (of the pair profile/model when `scope` is "model"). */
  errorCount: number;
  /** A model-scoped failure that rested the whole key: another model had failed on it within the failure window. */
  widened?: true | undefined;
};

/** {@link Pool.metrics}: counts since the pool was created, in this process. */
export type PoolMetrics = {
  profiles: {
    id: string;
    provider: string;
    model?: string | undefined;
    successes: number;
    /** Every reason, 0 included (stable series for Prometheus). */
    failures: Record<FailureReason, number>;
    failuresTotal: number;
    /** Rests started (model-scoped ones included). */
    cooldowns: number;
    /** Calls running on the profile now. */
    inFlight: number;
  }[];
  totals: { successes: number; failures: number; cooldowns: number; inFlight: number; exhausted: number };
};

/**
 * A pool of API keys. Each `run` gets a profile (round-robin within the preferred
 * provider, then other providers, then fallback models), and a failing profile rests on
 * the schedule of its failure reason.
 *
 * ```ts
 * const pool = new Pool({ profiles: [{ provider: "openai", apiKey: k1 }, { provider: "openai", apiKey: k2 }] });
 * const res = await pool.run(async ({ apiKey, signal }) => {
 *   const r = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` }, signal: signal ?? null });
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
  run<T>(task: (ctx: ProfileContext) => PromiseLike<T> | T, options?: RunOptions): Promise<RunResult<T>>;
  /**
   * Records a failure of a profile, as `run` does. `retryAfterMs` replaces the schedule's
   * step (clamped to its cap). A failure during a cooldown counts but does not extend it.
   * `model`: the model the call was for, as `run`'s (model-scoped reasons rest the key for
   * that model only).
   * @throws {RangeError} for an unknown id or reason, or a retryAfterMs that is not a finite number >= 0.
   * @throws {TypeError} for an id or reason that is not a string, options that are not an object,
   * a retryAfterMs that is not a number, or an unknown option.
   */
  markFailure(profileId: string, reason: FailureReason, options?: { retryAfterMs?: number | undefined; model?: string | undefined }): void;
  /**
   * Records a success: clears the cooldown (with `model`: also that model's rest); the error
   * count decays with the failure window. With a store, it also ends a rest another process
   * stored that this pool has not seen yet, once the states merge.
   * @throws {RangeError} for an unknown id ({@link LlmKeyPool} ignores it, as v1).
   */
  markSuccess(profileId: string, options?: { model?: string | undefined }): void;
  /**
   * Whether the profile is resting now (cooldown or disabled).
   * @throws {RangeError} for an unknown id ({@link LlmKeyPool}: `false`, as v1).
   */
  isInCooldown(profileId: string): boolean;
  /**
   * Ends the profile's rest and resets its error count; with a store, also a rest another
   * process stored that this pool has not seen yet, once the states merge.
   * @throws {RangeError} for an unknown id ({@link LlmKeyPool} ignores it, as v1).
   */
  clearCooldown(profileId: string): void;
  /** The state of every profile, built in one call into the core. */
  getStatus(): DetailedPoolStatus;
  /** The status: `JSON.stringify(pool)` shows ids and numbers, never a key. */
  toJSON(): DetailedPoolStatus;
  /**
   * Loads the stored state (`storage` or `storagePath`) and merges it into the pool, waiting
   * up to 30 s for the store (a load that has not answered by then is taken as lost: logged,
   * and merged in should it still come); the first `run` starts it itself when this was not called, and runs wait
   * for it at most 5 s (then they go on, and the state is merged in when it comes). Never rejects: a store that cannot
   * be read is reported through the logger (error) and the pool starts fresh; a stored value
   * that is garbage, truncated, of another version or of the wrong types is copied aside
   * (the store decides where), reported once (warn), and the pool starts fresh. Without
   * storage it resolves at once.
   */
  init(): Promise<void>;
  /**
   * Writes every change made before the call (for Workers: `ctx.waitUntil(pool.flush())`;
   * before `process.exit()`); changes made while it waits go with the next write, so it
   * ends under load too. Rejects with the store's error when that write fails, or when the
   * store has not answered it in 30 s (each read or write it waits for is given 30 s; a lost
   * write is taken as failed); the pool keeps the changes and tries again later.
   */
  flush(): Promise<void>;
  /**
   * Flushes, then stops saving: no timers are left, later changes are not written (what
   * changes while its write runs, a run in flight failing, is written too, in up to three
   * more writes; a change after that is logged as not saved). Runs
   * waiting for a rest to end give up ({@link AllProfilesExhaustedError} with `retryAt`), and
   * later runs do not wait. Calling it again returns the same promise. When its write fails
   * it rejects with the store's error, as `flush` does, and the pool is closed all the same:
   * those changes are not saved (a warning says so) and no write is retried.
   */
  close(): Promise<void>;
  /**
   * Listens to an event (see {@link PoolEvents}). A listener that throws, or returns a
   * promise that rejects, is reported through the logger (error) and changes nothing else.
   *
   * ```ts
   * pool.on("cooldown", (e) => console.warn(`${e.profileId} rests ${e.cooldownMs} ms (${e.reason})`));
   * pool.on("exhausted", (e) => metrics.increment("llm.exhausted", { retryAfterMs: e.retryAfterMs }));
   * ```
   * @throws {TypeError} for an unknown event name or a listener that is not a function.
   */
  on<E extends keyof PoolEvents>(event: E, listener: (payload: Readonly<PoolEvents[E]>) => unknown): this;
  /** Removes a listener added with {@link Pool.on} (its most recent registration). */
  off<E extends keyof PoolEvents>(event: E, listener: (payload: Readonly<PoolEvents[E]>) => unknown): this;
  /**
   * Counts per profile since the pool was created (successes, failures by reason, rests
   * started, calls in flight), for Prometheus or a log line.
   *
   * ```ts
   * for (const p of pool.metrics().profiles) gauge.set({ profile: p.id }, p.inFlight);
   * ```
   */
  metrics(): PoolMetrics;
}

/** Options of `new LlmKeyPool(...)`: key-carousel 1's, unchanged. Unknown options are ignored (as in v1). */
export type LlmKeyPoolConfig = {
  /** The API keys; without `id`, a profile is `profile-<index>` (v1's ids). Mutable arrays, as v1's type. */
  profiles: ProfileDefinition[];
  fallbackModels?: FallbackModelDefinition[] | undefined;
  /** A JSON file shared with v1 processes; call `await pool.init()` after construction to load it. */
  storagePath?: string | undefined;
  /** Negative values throw `<field> must be non-negative` (v1's message); NaN, infinite and non-numbers throw a {@link ConfigError}. */
  cooldowns?: CooldownConfig | undefined;
  /** When every profile is cooling down, `run` waits for the soonest, unless it is further than this. Default: no limit. */
  maxWaitMs?: number | undefined;
  /**
   * Gets v1's log lines (keys redacted), except the state file's failures to load or save,
   * which are v2's (the README's migration table); a logger that throws is ignored.
   */
  logger?: Logger | undefined;
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
   *   ids or providers with surrounding whitespace, control characters or lone surrogates, non-string keys),
   *   and for a `provider` or `model` that holds a key, as {@link Pool} refuses it (a key whole,
   *   any profile's; in a `model`, also 8 characters in a row of the profile's own key).
   */
  constructor(config: LlmKeyPoolConfig);
  /**
   * Loads the state saved at `storagePath` and merges it in; each call reads it again (as
   * v1), picking up what other processes wrote. Resolves at once without `storagePath`.
   * Without a call, the first write loads it (v2: writes merge with what is stored).
   */
  init(): Promise<void>;
  /**
   * Runs `task` with a profile (round-robin by last success within the preferred provider,
   * then other providers, then fallback models); on failure classifies the error with v1's
   * rules, rests the profile and tries the next. When every profile rests, waits for the
   * soonest (up to `maxWaitMs`). At most `min(160, max(32, 24 + 8 × profiles))` iterations.
   * @throws {AllProfilesExhaustedError} with v1's message and `attempts`.
   * @throws an AbortError/TimeoutError the task threw whose message is not about a timeout,
   *   untouched; the signal's reason once `signal` has fired.
   * @throws {TypeError} `model: holds an API key …` for an `opts.model` that holds a key, whole or
   *   8 of its characters in a row (the task is not called; v1 showed it in attempts and errors).
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
   * Writes every change made before the call (before `process.exit()`). Never rejects, as in v1: a
   * write that fails is logged (error) and tried again later.
   */
  flush(): Promise<void>;
  /**
   * Flushes, then stops saving: no timers are left, later changes are not written (what
   * changes while its write runs, a run in flight failing, is written too, in up to three
   * more writes; a change after that is logged as not saved). Runs
   * waiting for a rest to end give up ({@link AllProfilesExhaustedError}, as v1's: no `retryAt`), and
   * later runs do not wait. Calling it again returns the same promise. Never rejects, as
   * `flush`: when its write fails (logged), the pool is closed all the same, those changes
   * are not saved (a warning says so) and no write is retried.
   */
  close(): Promise<void>;
}

/** One profile's stored state: key-carousel 1's fields, then v2's. Times are ms since the epoch. */
export type ProfileRecord = {
  errorCount: number;
  /** Last pick (v2) or success (v1). */
  lastUsed?: number | undefined;
  lastFailure?: number | undefined;
  lastSuccess?: number | undefined;
  /** The recorded end of the last cooldown, possibly past. */
  cooldownUntil?: number | undefined;
  lastFailureReason?: FailureReason | undefined;
  /** When the cooldown group (cooldownUntil, lastFailureReason, errorCount, cooldownLong, cooldownStartedAt) last changed. */
  updatedAt?: number | undefined;
  /** The cooldown is on the long schedule (`disabled`). Absent: false. */
  cooldownLong?: boolean | undefined;
  cooldownStartedAt?: number | undefined;
  /**
   * The key's model-scoped rests (`policy` scope `"model"`), by model: the cooldown fields
   * of a record, without `lastUsed` and `lastSuccess`. key-carousel 1 ignores them.
   */
  models?: { [model: string]: Omit<ProfileRecord, "lastUsed" | "lastSuccess" | "models"> } | undefined;
};

/**
 * The stored state: key-carousel 1's file format (`version` 1), which 1.1.0 reads, with
 * v2's extra fields per profile. Ids the pool does not have are kept and written back
 * (another process may use them).
 *
 * A snapshot the pool gives a store (`save`, `update`'s merge) has `profiles` (and each
 * record's `models`) made with `Object.create(null)`: an id such as `__proto__` or
 * `constructor` is an entry like any other. Read it with `Object.hasOwn` or `in`, not with
 * `profiles.hasOwnProperty(id)`, which that object does not have. Its `profiles` is made
 * from the pool's state when first read (`fileStore` writes the snapshot's text without
 * it), then stays a plain property (on a snapshot frozen or sealed before that, a getter
 * answering the same object); reading, assigning, spreading, cloning and `JSON.stringify`
 * see an ordinary object.
 *
 * ```ts
 * let localCopy: string | null = null;
 * const store: StateStore = {
 *   load: () => localCopy,
 *   save: (s) => {
 *     if (Object.hasOwn(s.profiles, "key-1")) console.log(s.profiles["key-1"].cooldownUntil);
 *     localCopy = JSON.stringify(s);
 *   },
 * };
 * ```
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
 * - Redis (`redisStore`): the merge runs on the server in one script (`update` sends
 *   `merge(null)` and returns the merged value); atomic across machines, no update is lost.
 * - Deno KV (`denoKvStore`): read, merge, then commit with a check of the entry's
 *   versionstamp, again on a conflict; atomic, no update is lost.
 * - Cloudflare KV (`cloudflareKvStore`), Web Storage across tabs (`webStorageStore`): read,
 *   merge, write, not atomic: two writers at the same moment can overwrite each other, and
 *   the next write of the one that lost merges its state back (eventually consistent).
 * - `load` and `save` (your callbacks): each write calls `load` first, merges what it read and
 *   saves the result; not atomic: writers one after the other lose nothing, two that race
 *   may (the next write of the one that lost merges its state back). Implement `update` to
 *   merge atomically.
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
  readonly name?: string | undefined;
  /** Reads the stored state. A rejection means "unreachable": logged, the pool starts fresh. */
  load(): StoredState | Promise<StoredState>;
  /**
   * Writes the pool's whole state. Used when there is no `update`: each write calls `load`
   * first and merges what it read, so writers one after the other lose nothing (two that
   * race may: `update` is atomic). What it returns is awaited and otherwise ignored (a
   * client's `"OK"` is fine); a rejection is logged and the write retried later.
   */
  save?(snapshot: Snapshot): unknown;
  /**
   * Read-merge-write, as atomically as the store allows: read the stored value, call
   * `merge(stored)` — it merges `stored` into the pool and returns the pool's whole state
   * to write — and write that. `merge` may be called more than once (e.g. to retry after a
   * conflicting write). When `stored` is unusable and its copy (`keepCorrupt`) is not kept
   * yet, `merge` throws instead: let that through without writing (the pool keeps the copy,
   * then calls `update` again). A store that merges on its side (a Redis script) calls
   * `merge(null)` for the pool's own state, sends it, and returns the merged value, which the
   * pool merges in; any other return value that is not a state (a client's `"OK"`) is
   * ignored. A rejection is logged and the write retried later.
   *
   * `context.now` is the pool's clock (ms since the epoch; absent when the clock reads
   * badly). A store that merges on its side should forget by it what the pool forgets: a
   * stored record of an id the pool did not send, once every time in it is more than 30
   * days before `now` (the Redis store does).
   */
  update?(
    merge: (stored: StoredState) => Snapshot,
    context: { readonly now?: number },
  ): StoredState | void | Promise<StoredState | void>;
  /**
   * Keeps a copy of a bad stored value before it is overwritten; returns where (for the
   * warning), e.g. `<path>.corrupt-<time>` or a side key. While it fails (throws), the pool
   * does not overwrite the value: its writes fail, logged and retried. A store without it
   * keeps no copy: the value is overwritten at the first write, and the warning says so.
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
 * `"key-carousel"`). A bad value is copied to `<key>.corrupt-<time>` (moved there when there is no room for a copy). Tabs writing at the
 * same moment can overwrite each other; the next write merges again.
 * @throws {TypeError} when there is no Web Storage (pass one).
 */
export declare function webStorageStore(storage?: WebStorageLike, options?: { key?: string | undefined }): StateStore;

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) that `webStorageStore` uses. */
export type WebStorageLike = {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  /**
   * Used only to move a bad value aside when there is no room for a copy of it: without it,
   * such a value is never kept, so the pool never overwrites it (its writes fail, logged).
   */
  removeItem?(key: string): void;
};

/**
 * A store in one Redis string at `key` (default `"key-carousel"`), shared by every process
 * and machine using it. `client` is yours: an ioredis client or a node-redis (`redis` v4 or
 * v5) client, connected (the store never connects, quits or listens to it).
 *
 * Each write runs one Lua script on the server (EVALSHA; EVAL when the server does not have
 * it yet, e.g. after a restart): it reads the stored state, merges the pool's state into it
 * with the core's rule and stores the result, atomically; the pool then merges the result
 * in, so it learns the cooldowns others wrote. So writers racing never lose an update,
 * however many machines share the key. A bad stored value (not JSON, another version, wrong
 * types, a key of another Redis type) is moved aside to `{<key>}:corrupt:<time>` (`<key>:corrupt:<time>` when the key has a hash tag) by the same
 * script, and the pool starts fresh (warning once).
 *
 * While Redis is unreachable, runs go on (at start, runs wait for the first load at most 5 s,
 * or until their `signal` fires, then go on and merge the state in when it comes); what happens to a write depends on your client's settings: with an offline
 * queue (both clients' default) it waits for the reconnection,
 * without one (ioredis `enableOfflineQueue: false`, node-redis `disableOfflineQueue: true`)
 * it fails at once, is logged and retried with backoff, and the state converges once Redis
 * is back. node-redis needs an `error` listener on the client, or a lost connection ends
 * the process. It works in Redis Cluster: the copy of a bad value is in the key's hash slot
 * (a key that holds a `}` but no hash tag needs one there, e.g. `"{llm-keys}"`).
 *
 * ```ts
 * import { Redis } from "ioredis";
 * const pool = new Pool({ profiles, storage: redisStore(new Redis(process.env.REDIS_URL!), { key: "my-app:llm-keys" }) });
 *
 * import { createClient } from "redis";
 * const client = await createClient({ url: process.env.REDIS_URL! }).on("error", console.error).connect();
 * const pool2 = new Pool({ profiles, storage: redisStore(client) });
 * ```
 * @throws {TypeError} when `client` is neither an ioredis nor a node-redis client.
 */
export declare function redisStore(client: IoRedisLike | NodeRedisLike, options?: { key?: string | undefined }): StateStore & {
  /** The client API recognised. */
  readonly client: "ioredis" | "redis";
  readonly key: string;
};

/** The part of an ioredis client that `redisStore` uses. */
export type IoRedisLike = {
  evalsha(sha: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, nx: "NX"): Promise<unknown>;
};

/** The part of a node-redis (`redis` v4 or v5) client that `redisStore` uses. */
export type NodeRedisLike = {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { NX: true }): Promise<unknown>;
};

/**
 * A store in Cloudflare Workers KV under `key` (default `"key-carousel"`).
 *
 * Each write reads the value, merges the pool's state into it and puts the result. KV has
 * no transactions and is eventually consistent, so:
 * - guaranteed: every put carries the writer's whole state merged with what it read; a
 *   failure is put at once, unless the pool put less than `minWriteIntervalMs` ago
 *   (default 1000, KV's limit of one write per second per key): then when it ends;
 * - eventual: a put is visible in other locations within about 60 s (reads are cached that
 *   long); two writers at about the same moment (in different locations, up to ~60 s apart)
 *   are last-writer-wins, and what the loser wrote is merged back by its next put: the
 *   state converges as long as pools keep writing.
 *
 * In a Worker, let the write finish after the response: `ctx.waitUntil(pool.flush())`.
 * A bad value is copied to `<key>:corrupt:<time>` and the pool starts fresh (warning once).
 *
 * Make the pool once per isolate, not per request: pools made per request pile up (Workers
 * do not give their memory back), and each one starts cold.
 *
 * ```ts
 * let pool: Pool | undefined; // one per isolate, made at its first request
 * export default {
 *   async fetch(request: Request, env: { KV: KVNamespace }, ctx: ExecutionContext) {
 *     pool ??= new Pool({ profiles, storage: cloudflareKvStore(env.KV, { key: "llm-keys" }) });
 *     const { value } = await pool.run(({ apiKey }) => callTheModel(apiKey));
 *     ctx.waitUntil(pool.flush());
 *     return new Response(value);
 *   },
 * };
 * ```
 * @throws {TypeError} when `namespace` is not a KV binding.
 */
export declare function cloudflareKvStore(
  namespace: KvNamespaceLike,
  options?: { key?: string | undefined; minWriteIntervalMs?: number | undefined },
): StateStore & { readonly key: string };

/** The part of a Workers KV namespace binding that `cloudflareKvStore` uses. */
export type KvNamespaceLike = {
  get(key: string, type: "text"): Promise<string | null>;
  put(key: string, value: string): Promise<unknown>;
};

/**
 * A store in Deno KV under `key` (default `["key-carousel"]`; a string is a one-part key).
 *
 * Each write is an atomic read-merge-write: read the entry, merge the pool's state into it,
 * commit with a check of the entry's versionstamp; when another writer committed in
 * between, read and merge again (at most 50 times in a row; a local KV file busy with
 * another process is retried the same way). So writers racing, in one process or many,
 * never lose an update. The value must fit Deno KV's 64 KiB: a state of more than 30,000
 * characters of JSON is stored gzip-compressed (a `Uint8Array`), which holds about 1,400
 * profiles that have all failed at different times (a profile never used takes a fifth of
 * that); a larger state fails to save (logged). A bad value is copied to `[...key, "corrupt", <time>]` and the pool
 * starts fresh (warning once). `Deno.openKv` needs `--unstable-kv` outside Deno Deploy.
 *
 * ```ts
 * const kv = await Deno.openKv();
 * const pool = new Pool({ profiles, storage: denoKvStore(kv, { key: ["my-app", "llm-keys"] }) });
 * ```
 * @throws {TypeError} when `kv` is not a Deno.Kv.
 */
export declare function denoKvStore(
  kv: DenoKvLike,
  options?: { key?: string | readonly DenoKvKeyPart[] | undefined },
): StateStore & { readonly key: readonly DenoKvKeyPart[] };

/** A part of a Deno KV key. */
export type DenoKvKeyPart = string | number | bigint | boolean | Uint8Array;

/** The part of `Deno.Kv` that `denoKvStore` uses. */
export type DenoKvLike = {
  get(key: readonly DenoKvKeyPart[]): Promise<{ value: unknown; versionstamp: string | null }>;
  set(key: readonly DenoKvKeyPart[], value: unknown): Promise<unknown>;
  atomic(): DenoKvAtomicLike;
};

/** The part of `Deno.AtomicOperation` that `denoKvStore` uses. */
export type DenoKvAtomicLike = {
  check(...checks: { key: readonly DenoKvKeyPart[]; versionstamp: string | null }[]): DenoKvAtomicLike;
  set(key: readonly DenoKvKeyPart[], value: unknown): DenoKvAtomicLike;
  commit(): Promise<{ ok: boolean }>;
};

/**
 * Merges two stored states with the rule every store uses: per id, `lastUsed`,
 * `lastFailure` and `lastSuccess` take the maximum; the cooldown group (`cooldownUntil`,
 * `lastFailureReason`, `errorCount`, `cooldownLong`, `cooldownStartedAt`, `updatedAt`) comes
 * whole from the record with the greater key `(updatedAt ?? max(lastFailure, lastSuccess) ?? -1,
 * cooldownUntil ?? +Infinity, errorCount, lastFailureReason ?? "", cooldownLong, cooldownStartedAt ?? -1)`
 * (at an equal time the record without a rest wins), and `updatedAt` becomes that key's
 * first part. Commutative, associative, idempotent (for records with a time: a model's
 * record with none says nothing, and is dropped).
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
  /**
   * With no `reason`: {@link Pool} takes the failure for a `timeout` (v1, and {@link LlmKeyPool},
   * for `unknown`).
   */
  readonly isTimeout: boolean;
  /** Come back after this many ms (replaces the schedule's step). */
  readonly retryAfterMs?: number | undefined;
  constructor(
    message: string,
    opts?: { reason?: FailureReason | undefined; isTimeout?: boolean | undefined; cause?: unknown; retryAfterMs?: number | undefined },
  );
}

/** Thrown by `run` when no profile could serve the call. */
export declare class AllProfilesExhaustedError extends Error {
  /** Every failed attempt of the call, keys redacted. */
  readonly attempts: FailedAttempt[];
  /**
   * When a profile is next available to this call (ms since the epoch; for a call naming a
   * model, one that does not rest for it): set when the call gave up while every profile it
   * could use was resting — it would have waited longer than `maxWaitMs`, or it ran out of
   * attempts. Absent when nothing rests (the attempts failed without resting a key), and
   * always from {@link LlmKeyPool} (v1's error had no such field).
   */
  readonly retryAt?: number | undefined;
  /** `retryAt` as a delay from the moment the call gave up. */
  readonly retryAfterMs?: number | undefined;
  constructor(attempts: FailedAttempt[], opts?: { retryAt?: number | undefined; retryAfterMs?: number | undefined });
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
 * message (also a plain object's `message`: `throw { status: 503, message }`), the error's
 * name and its `cause`. Recognises the official OpenAI, Anthropic and
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
