// The v2 Pool: the async API around the core's state machine. Keys, ids, providers and
// models live here (keys never enter the core); the core keeps indices and numbers.

import { core, statusColumns } from "./core.js";
import { AllProfilesExhaustedError, ConfigError, fromCore } from "./errors.js";
import { classifyError, errorMessage, isCallerAbort, retryAfterMs } from "./classify.js";
import { REASONS, REASON_CODE, resolvePolicy } from "./reasons.js";
import { LONE_SURROGATE, fingerprint, keyIndex, redact } from "./secrets.js";
import { Persister, StateLink, fileStoreFactory } from "./persist.js";

const STATES = ["available", "cooldown", "disabled"];
const COLS = 8;
const COOLDOWN_FIELDS = ["maxRateLimitCooldownMs", "billingBackoffMs", "billingMaxMs", "failureWindowMs"];
const POOL_OPTIONS = new Set([
  "profiles",
  "fallbackModels",
  "cooldowns",
  "policy",
  "maxWaitMs",
  "clock",
  "logger",
  "storage",
  "storagePath",
  "saveIntervalMs",
]);
const RUN_OPTIONS = new Set(["provider", "model", "signal", "label", "maxWaitMs"]);
const EMPTY = Object.freeze({});
const MAX_TIME = 2 ** 53;
const MAX_TIMEOUT = 2 ** 31 - 1;
const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const PROFILE_KEYS = new Set(["id", "provider", "model", "apiKey"]);
const FALLBACK_KEYS = new Set(["provider", "model", "apiKey"]);
const COOLDOWN_KEYS = new Set(COOLDOWN_FIELDS);

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function checkKeys(obj, allowed, path) {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) throw new ConfigError(path ? `${path}.${key}` : key, "unknown option");
  }
}

function optionalString(value, field) {
  if (value !== undefined && typeof value !== "string") throw new ConfigError(field, "must be a string");
}

/** The length of a name in UTF-16 units, or a cut of it that fits 16 bits. */
function cutLength(s) {
  if (s.length <= 0xffff) return s.length;
  const last = s.charCodeAt(0xfffe);
  return last >= 0xd800 && last <= 0xdbff ? 0xfffe : 0xffff;
}

/** Ids, providers and models cross into the core as UTF-8: no lone surrogates. */
function wellFormed(value, field) {
  if (typeof value === "string" && LONE_SURROGATE.test(value)) {
    throw new ConfigError(field, "must be well-formed Unicode (it holds a lone surrogate)");
  }
}

function checkWait(value, field) {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new ConfigError(field, "must be a non-negative number of ms (Infinity allowed)");
  }
}

/** The store of the `storage` / `storagePath` options, checked; undefined when none. */
function storeOption(options) {
  const { storage, storagePath } = options;
  if (storage !== undefined && storagePath !== undefined) {
    throw new ConfigError("storagePath", "give either storage or storagePath, not both");
  }
  if (storagePath !== undefined) {
    if (typeof storagePath !== "string" || storagePath === "") {
      throw new ConfigError("storagePath", "must be a non-empty string (the path of the state file)");
    }
    const make = fileStoreFactory();
    if (make === null) {
      throw new ConfigError("storagePath", "needs a file system; use `storage: fileStore(path)` from key-carousel/file where there is one");
    }
    return make(storagePath);
  }
  if (storage === undefined) return undefined;
  if (
    storage === null ||
    typeof storage !== "object" ||
    typeof storage.load !== "function" ||
    (typeof storage.save !== "function" && typeof storage.update !== "function")
  ) {
    throw new ConfigError("storage", "must be a store: an object with load() and save(snapshot) or update(merge)");
  }
  return storage;
}

function abortError(signal) {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    // setTimeout takes at most 2^31 - 1 ms; a longer wait wakes up early and the
    // caller's loop waits again.
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.min(ms, MAX_TIMEOUT));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The public API of key-carousel 2; see index.d.ts for the documentation. */
export class Pool {
  #core;
  #keys = [];
  #allKeys;
  #ids = [];
  #providers = [];
  #models = [];
  #index = new Map();
  #providerIndex = new Map();
  #policy;
  #clock;
  #logger;
  #maxWaitMs;
  #maxAttempts;
  #statusView = null;
  /** @type {Persister | undefined} */
  #persist;

  constructor(options) {
    if (!isObject(options)) throw new ConfigError("options", "must be an object { profiles, ... }");
    checkKeys(options, POOL_OPTIONS, "");
    const { profiles, fallbackModels = [], cooldowns = {}, maxWaitMs, clock = Date.now, logger } = options;
    if (!Array.isArray(profiles)) throw new ConfigError("profiles", "must be an array");
    if (!Array.isArray(fallbackModels)) throw new ConfigError("fallbackModels", "must be an array");
    if (!isObject(cooldowns)) throw new ConfigError("cooldowns", "must be an object");
    checkKeys(cooldowns, COOLDOWN_KEYS, "cooldowns");
    for (const f of COOLDOWN_FIELDS) {
      if (cooldowns[f] !== undefined && typeof cooldowns[f] !== "number") {
        throw new ConfigError(`cooldowns.${f}`, "must be a number of ms");
      }
    }
    checkWait(maxWaitMs, "maxWaitMs");
    const store = storeOption(options);
    const { saveIntervalMs = 1000 } = options;
    if (typeof saveIntervalMs !== "number" || !(saveIntervalMs >= 0) || saveIntervalMs === Infinity) {
      throw new ConfigError("saveIntervalMs", "must be a finite number of ms >= 0");
    }
    if (typeof clock !== "function") throw new ConfigError("clock", "must be a function returning ms since the epoch");
    if (logger !== undefined && (logger === null || typeof logger !== "object")) {
      throw new ConfigError("logger", "must be an object with debug/info/warn/error methods");
    }
    const [policy, policyBytes] = resolvePolicy(options.policy);
    this.#policy = policy;
    this.#clock = clock;
    this.#logger = logger;
    this.#maxWaitMs = maxWaitMs;

    // Validated here, then added to the core in one call.
    const ids = [];
    const fallbackFlags = [];
    const positions = [];
    const derived = new Map();
    profiles.forEach((def, i) => {
      const at = `profiles[${i}]`;
      if (!isObject(def)) throw new ConfigError(at, "must be an object { provider, apiKey, id?, model? }");
      checkKeys(def, PROFILE_KEYS, at);
      if (typeof def.apiKey !== "string" || def.apiKey === "") {
        throw new ConfigError(`${at}.apiKey`, "must be a non-empty string");
      }
      if (typeof def.provider !== "string") throw new ConfigError(`${at}.provider`, "must be a string");
      optionalString(def.id, `${at}.id`);
      optionalString(def.model, `${at}.model`);
      if (def.model === "") throw new ConfigError(`${at}.model`, "must not be empty");
      for (const f of ["provider", "id", "model"]) wellFormed(def[f], `${at}.${f}`);
      let id = def.id;
      if (id === undefined) {
        // Stable across restarts, reordering and added keys; reveals nothing of the key.
        id = `${def.provider}-${fingerprint(`${def.model ?? ""}\u0000${def.apiKey}`)}`;
        const twin = derived.get(id);
        if (twin !== undefined) {
          throw new ConfigError(`${at}.apiKey`, `same provider, model and key as profiles[${twin}]`);
        }
        derived.set(id, i);
      }
      this.#push(id, def.provider, def.model, def.apiKey, "primary");
      ids.push(id);
      fallbackFlags.push(0);
      positions.push(i);
    });
    const primaries = this.#providers.length;
    fallbackModels.forEach((fb, i) => {
      const at = `fallbackModels[${i}]`;
      if (!isObject(fb)) throw new ConfigError(at, "must be an object { provider, model, apiKey? }");
      checkKeys(fb, FALLBACK_KEYS, at);
      if (typeof fb.provider !== "string") throw new ConfigError(`${at}.provider`, "must be a string");
      if (typeof fb.model !== "string" || fb.model === "") {
        throw new ConfigError(`${at}.model`, "must be a non-empty string");
      }
      if (fb.apiKey !== undefined && (typeof fb.apiKey !== "string" || fb.apiKey === "")) {
        throw new ConfigError(`${at}.apiKey`, "must be a non-empty string when given");
      }
      for (const f of ["provider", "model"]) wellFormed(fb[f], `${at}.${f}`);
      const borrowed = this.#providers.indexOf(fb.provider);
      const apiKey = fb.apiKey ?? (borrowed >= 0 && borrowed < primaries ? this.#keys[borrowed] : undefined);
      if (apiKey === undefined) {
        this.#log("debug", `${at} skipped: no apiKey and no ${fb.provider} profile to borrow one from`);
        return;
      }
      const id = `fallback-${fb.provider}-${fb.model}`;
      this.#push(id, fb.provider, fb.model, apiKey, "fallback");
      ids.push(id);
      fallbackFlags.push(1);
      positions.push(i);
    });
    if (ids.length === 0) {
      throw new ConfigError("profiles", "at least one profile or fallback with an API key is required");
    }
    let c;
    try {
      c = new (core().Pool)(0, ...COOLDOWN_FIELDS.map((f) => cooldowns[f]), policyBytes);
      // Ids are at most 256 bytes long (checked in the core), so their lengths fit 16 bits;
      // longer ones are cut to a length the core rejects with the field's name (never
      // inside a surrogate pair, which the core would take for lengths that do not match).
      const names = [...new Set(this.#providers)];
      const nameIndex = new Map(names.map((p, i) => [p, i]));
      c.addProfiles(
        ids.join(""),
        Uint16Array.from(ids, cutLength),
        names.join(""),
        Uint16Array.from(names, cutLength),
        Uint32Array.from(this.#providers, (p) => nameIndex.get(p)),
        Uint8Array.from(fallbackFlags),
        Uint32Array.from(positions),
      );
    } catch (e) {
      c?.free();
      throw fromCore(e);
    }
    ids.forEach((id, idx) => this.#index.set(id, idx));
    this.#ids = ids;
    for (const p of new Set(this.#providers)) this.#providerIndex.set(p, c.providerIndex(p));
    this.#core = c;
    this.#allKeys = keyIndex(this.#keys);
    const n = this.#ids.length;
    this.#maxAttempts = Math.min(160, Math.max(32, 24 + 8 * n));
    if (store !== undefined) {
      this.#persist = new Persister({
        store,
        link: new StateLink({ core: c, ids, store, now: () => this.#now(), log: (level, msg) => this.#log(level, msg) }),
        log: (level, msg) => this.#log(level, msg),
        intervalMs: saveIntervalMs,
      });
    }
  }

  #push(id, provider, model, apiKey) {
    this.#providers.push(provider);
    this.#models.push(model);
    this.#keys.push(apiKey);
  }

  #now() {
    const t = this.#clock();
    if (typeof t !== "number") throw new TypeError(`clock() must return a number of ms, got ${typeof t}`);
    if (!(t >= 0 && t <= MAX_TIME)) throw new RangeError(`clock() must return ms since the epoch in [0, 2^53], got ${t}`);
    return t;
  }

  #log(level, message) {
    try {
      this.#logger?.[level]?.(message);
    } catch {
      // A logger that throws must not break the pool.
    }
  }

  #idx(id) {
    if (typeof id !== "string") throw new TypeError(`profile id must be a string, got ${typeof id}`);
    const idx = this.#index.get(id);
    // A key passed for an id (ctx.apiKey for ctx.profileId) is not printed.
    if (idx === undefined) throw new RangeError(`unknown profile id ${redact(JSON.stringify(id), "", this.#allKeys)}`);
    return idx;
  }

  #call(fn) {
    try {
      return fn();
    } catch (e) {
      throw fromCore(e);
    }
  }

  /** Records a failure in the core and logs it; returns the cooldown started (ms, or -1/-2). */
  #fail(idx, now, reason, retryMs, lease) {
    const code = REASON_CODE.get(reason);
    const cd = this.#core.fail(idx, now, code, retryMs ?? NaN, lease);
    // A failure that counted is written at once; one that did not (late, or a reason whose
    // schedule is "none") still changed the pick's lastUsed, written with the next batch.
    this.#persist?.change(cd !== -2 && this.#policy[code].schedule !== "none");
    if (cd >= 0) {
      const errorCount = this.#core.errorCount(idx);
      this.#log(
        "info",
        `Profile ${this.#ids[idx]} in cooldown for ${Math.round(cd / 1000)}s (errorCount=${errorCount}, reason=${reason})`,
      );
    }
    return cd;
  }

  /** Ends the lease of a call without a verdict (the caller aborted, the clock failed). */
  #release(idx) {
    this.#core.release(idx);
    this.#persist?.change(false); // the pick's lastUsed
  }

  /** The time a call on `idx` ended; a clock that fails ends its lease first, then throws. */
  #endTime(idx) {
    try {
      return this.#now();
    } catch (e) {
      this.#release(idx);
      throw e;
    }
  }

  async run(task, options) {
    if (typeof task !== "function") throw new TypeError("run(task): task must be a function");
    const o = options === undefined ? EMPTY : this.#runOptions(options);
    const signal = o.signal;
    const label = o.label ?? "key-carousel";
    const pref = o.provider === undefined ? -1 : this.#providerIndex.get(o.provider) ?? -1;
    const attempts = [];
    if (this.#persist !== undefined && !this.#persist.loaded) await this.#persist.load();
    for (let i = 0; i < this.#maxAttempts; i++) {
      if (signal?.aborted) throw abortError(signal);
      const now = this.#now();
      const idx = this.#call(() => this.#core.acquire(now, pref));
      if (idx < 0) {
        await this.#waitForRecovery(now, o, attempts, label);
        continue;
      }
      const ctx = {
        profileId: this.#ids[idx],
        apiKey: this.#keys[idx],
        provider: this.#providers[idx],
        model: this.#models[idx] ?? o.model ?? "unknown",
        signal,
      };
      let value;
      try {
        value = await task(ctx);
      } catch (err) {
        if (isCallerAbort(err, signal)) {
          this.#release(idx);
          throw err;
        }
        const reason = classifyError(err);
        // An HTTP-date Retry-After is a point in time: measure it from the failure.
        const failedAt = this.#endTime(idx);
        const retryMs = retryAfterMs(err, failedAt);
        const cd = this.#call(() => this.#fail(idx, failedAt, reason, retryMs, now));
        const error = redact(errorMessage(err), ctx.apiKey, this.#allKeys);
        const attempt = { profileId: ctx.profileId, provider: ctx.provider, model: ctx.model, error, reason };
        if (cd >= 0) attempt.cooldownMs = cd;
        if (retryMs !== undefined) attempt.retryAfterMs = retryMs;
        attempts.push(attempt);
        this.#log("warn", `[${label}] Profile ${ctx.profileId} failed: ${reason} \u2014 ${error}`);
        if (!this.#policy[REASON_CODE.get(reason)].rotate) throw err;
        continue;
      }
      const doneAt = this.#endTime(idx);
      this.#call(() => this.#core.succeed(idx, doneAt, now));
      if (this.#persist !== undefined) this.#persist.change(false);
      return { value, profileId: ctx.profileId, provider: ctx.provider, model: ctx.model, attempts };
    }
    throw new AllProfilesExhaustedError(attempts);
  }

  #runOptions(options) {
    if (!isObject(options)) throw new TypeError("run(task, options): options must be an object");
    for (const key of Object.keys(options)) {
      if (!RUN_OPTIONS.has(key)) throw new TypeError(`run options: unknown option ${JSON.stringify(key)}`);
    }
    for (const key of ["provider", "model", "label"]) {
      if (options[key] !== undefined && typeof options[key] !== "string") {
        throw new TypeError(`run options: ${key} must be a string`);
      }
    }
    const s = options.signal;
    if (
      s !== undefined &&
      (s === null ||
        typeof s !== "object" ||
        typeof s.aborted !== "boolean" ||
        typeof s.addEventListener !== "function" ||
        typeof s.removeEventListener !== "function")
    ) {
      throw new TypeError("run options: signal must be an AbortSignal");
    }
    try {
      checkWait(options.maxWaitMs, "maxWaitMs");
    } catch (e) {
      throw new TypeError(`run options: ${e.message}`);
    }
    return options;
  }

  async #waitForRecovery(now, o, attempts, label) {
    const wait = this.#call(() => this.#core.waitMs(now));
    const maxWait = o.maxWaitMs ?? this.#maxWaitMs;
    if (wait < 0) throw new AllProfilesExhaustedError(attempts);
    if (maxWait !== undefined && wait > maxWait) {
      throw new AllProfilesExhaustedError(attempts, { retryAt: now + wait, retryAfterMs: wait });
    }
    this.#log("warn", `[${label}] All profiles in cooldown, waiting ${Math.round(wait / 1000)}s`);
    await sleep(Math.max(1, Math.ceil(wait)), o.signal);
  }

  markFailure(profileId, reason, options) {
    const idx = this.#idx(profileId);
    if (typeof reason !== "string") throw new TypeError(`reason must be a string, got ${typeof reason}`);
    if (!REASON_CODE.has(reason)) {
      throw new RangeError(`unknown failure reason ${JSON.stringify(reason)} (expected one of ${REASONS.join(", ")})`);
    }
    let retryMs;
    if (options !== undefined) {
      if (!isObject(options)) throw new TypeError("markFailure options must be an object { retryAfterMs? }");
      for (const key of Object.keys(options)) {
        if (key !== "retryAfterMs") throw new TypeError(`markFailure options: unknown option ${JSON.stringify(key)}`);
      }
      retryMs = options.retryAfterMs;
      if (retryMs !== undefined && (typeof retryMs !== "number" || !Number.isFinite(retryMs) || retryMs < 0)) {
        throw new RangeError("retryAfterMs must be a finite number of ms >= 0");
      }
    }
    this.#call(() => this.#fail(idx, this.#now(), reason, retryMs, NaN));
  }

  markSuccess(profileId) {
    const idx = this.#idx(profileId);
    this.#call(() => this.#core.succeed(idx, this.#now(), NaN));
    this.#persist?.change(false);
  }

  isInCooldown(profileId) {
    const idx = this.#idx(profileId);
    return this.#call(() => this.#core.isCooling(idx, this.#now()));
  }

  clearCooldown(profileId) {
    const idx = this.#idx(profileId);
    this.#call(() => this.#core.clearCooldown(idx, this.#now()));
    this.#persist?.change(true);
  }

  /** Loads the stored state (once); `run` does it itself when this was not called. */
  async init() {
    if (this.#persist !== undefined) await this.#persist.load();
  }

  /** Writes every pending change; rejects with the store's error when that write fails. */
  async flush() {
    if (this.#persist !== undefined) await this.#persist.flush();
  }

  /** Flushes, then stops saving (no timers left). */
  async close() {
    if (this.#persist !== undefined) await this.#persist.close();
  }

  getStatus() {
    const now = this.#now();
    const cols = (this.#statusView = statusColumns(this.#core, now, this.#statusView));
    const n = this.#ids.length;
    const profiles = new Array(n);
    for (let i = 0, b = 0; i < n; i++, b += COLS) {
      const code = cols[b];
      const cooling = code !== 0;
      const lastUsed = cols[b + 3];
      const lastFailure = cols[b + 4];
      const lastSuccess = cols[b + 5];
      const until = cols[b + 1];
      profiles[i] = {
        id: this.#ids[i],
        provider: this.#providers[i],
        model: this.#models[i],
        state: STATES[code],
        cooldownUntil: cooling ? until : undefined,
        errorCount: cols[b + 2],
        lastUsed: lastUsed === lastUsed ? lastUsed : undefined,
        lastFailure: lastFailure === lastFailure ? lastFailure : undefined,
        lastSuccess: lastSuccess === lastSuccess ? lastSuccess : undefined,
        reason: cooling ? REASONS[cols[b + 6]] : undefined,
        remainingMs: cooling ? until - now : 0,
        inFlight: cols[b + 7],
      };
    }
    const t = n * COLS;
    const next = cols[t + 4];
    return {
      profiles,
      totalAvailable: cols[t],
      totalInCooldown: cols[t + 1],
      totalDisabled: cols[t + 2],
      unavailableReason: cols[t + 3] < 0 ? null : REASONS[cols[t + 3]],
      nextAvailableAt: next === next ? next : undefined,
    };
  }

  /** `JSON.stringify(pool)` gives the status: ids and numbers, never a key. */
  toJSON() {
    return this.getStatus();
  }

  toString() {
    return `[Pool: ${this.#ids.length} profiles]`;
  }

  get [Symbol.toStringTag]() {
    return "Pool";
  }

  [INSPECT]() {
    let s;
    try {
      s = this.getStatus();
    } catch {
      return `Pool { profiles: ${this.#ids.length} }`; // the clock fails: no status, but no throw
    }
    return `Pool { profiles: ${this.#ids.length}, available: ${s.totalAvailable}, inCooldown: ${s.totalInCooldown}, disabled: ${s.totalDisabled} }`;
  }
}
