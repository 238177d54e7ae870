// LlmKeyPool: key-carousel 1.1.0's API, kept for drop-in upgrades. The state machine is the
// core's (mode 1 = v1 semantics: the pick is recorded at success, `disabled` follows the last
// failure reason, markFailure during a cooldown still counts, every reason rotates); this file
// only holds what v1 kept in JS: validation with v1's messages, keys, the run loop, logging.
// Each place where it deliberately differs from v1 is marked "v1 difference" and listed in
// the README's "Migrating from v1" section.

import { CorePool, MAX_TIME } from "./core.js";
import { abortReasonV1 as abortReason, sleep } from "./wait.js";
import { logTo } from "./events.js";
import { Persister, StateLink, fileStoreFactory, refreshWhile } from "./persist.js";
import { AllProfilesExhaustedError, ConfigError, attemptText, itemPath, shownName } from "./errors.js";
import { classifyErrorV1, errorMessage, isV1NonTimeoutAbort, unknownFailoverReason } from "./classify.js";
import { REASONS, REASON_CODE } from "./reasons.js";
import { MIN_LEAK, holdsAnyKey, holdsKey, keyIndex, keyIndexOf, redact, wellFormed } from "./secrets.js";
import { COOLDOWN_FIELDS, KEY_IN_NAME, refuseKeysAsNames, renamedDerived } from "./options.js";
import { COOLDOWN_UNTIL, ERROR_COUNT, LAST_FAILURE, LAST_SUCCESS, LAST_USED, STATE, STATES, VALUES } from "./columns.js";

const MODE_V1 = 1;
const V1_POLICY = new Uint8Array(0); // empty: the mode's default policy (v1's)
const DEFAULT_LABEL = "llm-failover";
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** The error for a time out of range (built out of line: it stays off the normal path). */
function badTime(t) {
  return new RangeError(`time must be a finite number of ms in [0, 2^53], got ${t}`);
}

/** key-carousel 1.1.0's `LlmKeyPool`; see index.d.ts for the documentation. */
export class LlmKeyPool {
  #core;
  /** What close() returned: a second call gets the same promise. */
  #closing;
  #ids = [];
  #providers = [];
  #models = [];
  #keys = [];
  #allKeys = null;
  /** The models runs named that hold no key (checked once each; forgotten past 1,000). */
  #cleanModels = new Set();

  /** The keys indexed for redaction, built when first needed (a failure), not at construction. */
  #keyIndex() {
    return (this.#allKeys = keyIndexOf(this.#allKeys, this.#keys));
  }
  #index = new Map();
  #providerIndex = new Map();
  #storagePath;
  /** @type {Persister | undefined} */
  #persister;
  #statusView = null;
  #maxWaitMs;
  #logger;
  #maxIterations;

  constructor(config) {
    this.#storagePath = config.storagePath;
    this.#maxWaitMs = config.maxWaitMs;
    this.#logger = config.logger;

    // v1's checks first, in v1's order and with v1's messages (plain Errors).
    const cd = config.cooldowns ?? {};
    if (config.cooldowns) {
      for (const f of COOLDOWN_FIELDS) {
        if (cd[f] !== undefined && cd[f] < 0) throw new Error(`${f} must be non-negative`);
      }
    }
    // v1 difference: v1 took NaN, Infinity, null and strings (and broke on them later: a NaN
    // cooldown never ends). They are ConfigErrors naming the field here.
    for (const f of COOLDOWN_FIELDS) {
      if (cd[f] !== undefined && typeof cd[f] !== "number") {
        throw new ConfigError(`cooldowns.${f}`, "must be a number of ms");
      }
    }
    const c = new CorePool(MODE_V1, ...COOLDOWN_FIELDS.map((f) => cd[f]), V1_POLICY);

    // v1's checks profile by profile, in JS; the core then takes the profiles in one call and
    // checks what v1 did not (names it accepts). Added one by one, a profile the core refused
    // stopped the loop there: so the core gets the profiles before the first one JS refused,
    // and its error, for an earlier profile, comes first.
    const fallbackFlags = [];
    const positions = [];
    let refused;
    // Every key of the config (of its arrays: an iterator is read once, as v1 reads it), for
    // the messages below: a name there may hold a key of a profile read later.
    const configKeys = () => {
      const keys = [...this.#keys];
      try {
        for (const list of [config.profiles, config.fallbackModels]) {
          if (Array.isArray(list)) for (const d of list) if (typeof d?.apiKey === "string") keys.push(d.apiKey);
        }
      } catch {
        // A getter that throws: the keys read so far.
      }
      return keys;
    };
    try {
      let idx = 0;
      // The names as read, in columns, for refuseKeysAsNames.
      const readProviders = [];
      const readModels = [];
      const defs = config.profiles;
      // v1's own TypeError, with its words (a minified name would show in ours).
      if (typeof defs?.[Symbol.iterator] !== "function") throw new TypeError("config.profiles is not iterable");
      for (const def of defs) {
        const id = def.id ?? `profile-${idx}`;
        // v1's messages name the id: with any key read so far redacted from it (v1 takes
        // any id, a key too, and keeps it; the pool shows its ids as given).
        const named = () => redact(String(id), "", keyIndex([...configKeys(), ...(typeof def.apiKey === "string" ? [def.apiKey] : [])]));
        if (this.#index.has(id)) throw new Error(`Duplicate profile ID: "${named()}"`);
        if (!def.apiKey) throw new Error(`Profile "${named()}" has an empty API key`);
        if (!def.provider) throw new Error(`Profile "${named()}" has an empty provider`);
        // v1 difference: ids, providers and keys must be strings, and ids and providers
        // names the core accepts (no surrounding whitespace, no control characters, ≤ 256 bytes).
        this.#checkStrings("profiles", idx, id, def.provider, def.apiKey);
        // v2 difference: a provider or model that holds a key is refused, as by Pool (the
        // pool shows them; v1 took any, and showed a key so given in its status and errors).
        if (holdsKey(def.model, def.apiKey)) throw new ConfigError(itemPath("profiles", idx, "model"), KEY_IN_NAME);
        readProviders.push(def.provider);
        readModels.push(def.model);
        this.#push(id, def.provider, def.model, def.apiKey);
        fallbackFlags.push(0);
        positions.push(idx);
        idx++;
      }
      let position = 0;
      const fallbackProviders = [];
      const fallbackModelNames = [];
      for (const fb of config.fallbackModels ?? []) {
        fallbackProviders.push(fb.provider);
        fallbackModelNames.push(fb.model);
        const fallbackId = `fallback-${fb.provider}-${fb.model}`;
        const borrowed = this.#providers.findIndex((p, j) => j < idx && p === fb.provider);
        const apiKey = fb.apiKey ?? (borrowed >= 0 ? this.#keys[borrowed] : undefined);
        if (apiKey) {
          if (this.#index.has(fallbackId)) throw new Error(`Duplicate fallback ID: "${redact(fallbackId, "", keyIndex([...configKeys(), apiKey]))}"`);
          try {
            this.#checkStrings("fallbackModels", position, fallbackId, fb.provider, apiKey);
          } catch (e) {
            throw renamedDerived(e, () => true);
          }
          if (holdsKey(fb.model, apiKey)) throw new ConfigError(itemPath("fallbackModels", position, "model"), KEY_IN_NAME);
          this.#push(fallbackId, fb.provider, fb.model, apiKey);
          fallbackFlags.push(1);
          positions.push(position);
        }
        position++;
      }
      // Every name of 8 or more characters looked at (the bounds Pool measures as it reads
      // only let it skip work).
      refuseKeysAsNames(
        { count: readProviders.length, provider: readProviders, model: readModels },
        { count: fallbackProviders.length, provider: fallbackProviders, model: fallbackModelNames },
        this.#keys,
        MIN_LEAK,
        Infinity,
      );
    } catch (e) {
      refused = e;
    }
    try {
      if (this.#ids.length > 0) c.addAll(this.#ids, this.#providers, fallbackFlags, positions);
    } catch (e) {
      c.free();
      // v1's ids are the profile's own or `profile-<i>`: a fallback's is the only one made.
      throw renamedDerived(e, () => true);
    }
    if (refused !== undefined) {
      c.free();
      throw refused;
    }
    if (this.#ids.length === 0) {
      c.free();
      throw new Error("At least one profile or fallback with an API key is required");
    }
    for (let i = 0; i < this.#ids.length; i++) {
      const p = this.#providers[i];
      if (fallbackFlags[i] === 0 && !this.#providerIndex.has(p)) this.#providerIndex.set(p, c.providerIndex(p));
    }
    this.#core = c;
    this.#maxIterations = Math.min(160, Math.max(32, 24 + this.#ids.length * 8));
    if (this.#storagePath) {
      const makeFileStore = fileStoreFactory();
      if (makeFileStore === null) throw new ConfigError("storagePath", "needs a file system (Node, Deno or Bun)");
      const store = makeFileStore(this.#storagePath);
      const log = (level, msg) => this.#log(level, msg);
      this.#persister = new Persister({
        store,
        link: new StateLink({ core: c, ids: this.#ids, store, now: () => this.#now(), log, imported: (cut) => this.#imported(cut) }),
        log,
        intervalMs: 1000,
      });
    }
  }

  /** `list` and `i` name the item (`profiles[2]`), in an error only. */
  #checkStrings(list, i, id, provider, apiKey) {
    if (typeof id !== "string") throw new ConfigError(itemPath(list, i, "id"), "must be a string");
    if (typeof provider !== "string") throw new ConfigError(itemPath(list, i, "provider"), "must be a string");
    if (typeof apiKey !== "string") throw new ConfigError(itemPath(list, i, "apiKey"), "must be a string");
    wellFormed(id, list, i, "id");
    wellFormed(provider, list, i, "provider");
  }

  /** Records a profile that passed v1's checks; the core gets them all at once. */
  #push(id, provider, model, apiKey) {
    this.#index.set(id, this.#ids.length);
    this.#ids.push(id);
    this.#providers.push(provider);
    this.#models.push(model);
    this.#keys.push(apiKey);
  }

  /**
   * Time as v1 reads it: `Date.now()` at every call, so fake timers work. A time out of
   * range (a fake clock set before 1970) is a RangeError naming it, before anything changes.
   */
  #now() {
    const t = Date.now();
    if (!(t >= 0 && t <= MAX_TIME)) throw badTime(t);
    return t;
  }

  /** `redacted`: the message (or the function making it) holds nothing not redacted already. */
  #log(level, message, redacted = false) {
    // What a store or a provider said (or a reason passed in) may hold a key.
    // v1 difference: a throwing logger broke v1's run (and a rejecting one left an unhandled
    // rejection); both are ignored here.
    logTo(this.#logger, level, redacted ? message : () => redact(message, "", this.#keyIndex()));
  }

  /**
   * Saves the state after a change (`urgent`: a failure or a cleared cooldown). The public
   * methods wait for the write, as v1's did; `run` does not (v2 difference: a failure is
   * written within milliseconds, successes at most once a second, instead of rewriting the
   * file on every call). As in v1, a failed save is logged (logger.error), never thrown.
   */
  async #persist(urgent, wait) {
    if (this.#persister === undefined) return;
    this.#persister.change(urgent);
    if (!wait) return;
    try {
      await this.#persister.flush();
    } catch {
      // Reported through the logger by the Persister.
    }
  }

  /**
   * Loads the persisted state when `storagePath` is set (merging it with this pool's); as in
   * v1, each call reads the file again, so it also picks up what other processes wrote.
   */
  async init() {
    if (this.#persister === undefined) return;
    this.#stateRead = false;
    await this.#persister.reload(true);
    // As v1: only when a stored state was read (not for no file, nor a bad one).
    if (this.#stateRead) this.#log("info", `Loaded persisted state for ${this.#ids.length} profiles`);
  }

  /** Whether the last load imported a stored state (for init's log line). */
  #stateRead = false;
  /** The wake-ups of the runs waiting for a rest to end (see `sleep`). */
  #wakers = new Set();
  /** close() was called: runs no longer wait for a rest to end. */
  #closed = false;

  /**
   * A stored state was merged in: when it ended or shortened a rest (another process's
   * clearCooldown, the CLI's `clear`), the waiting runs look again.
   */
  #imported(cut) {
    this.#stateRead = true;
    if (cut) for (const wake of [...this.#wakers]) wake();
  }

  /** v2 addition: writes what is pending (`run` coalesces success-only writes). */
  async flush() {
    try {
      await this.#persister?.flush();
    } catch {
      // Reported through the logger by the Persister.
    }
  }

  /**
   * v2 addition: flushes, then stops saving (no timers left). Runs waiting for a rest to end
   * give up now, and later ones do not wait.
   */
  close() {
    return (this.#closing ??= this.#shutDown());
  }

  async #shutDown() {
    this.#closed = true;
    for (const wake of [...this.#wakers]) wake();
    await this.#persister?.close().catch(() => {});
  }

  async run(task, opts) {
    // v1 difference: v1 called a non-function task, caught the TypeError and failed every key.
    if (typeof task !== "function") throw new TypeError("run(task): task must be a function");
    // v2 difference: a model that holds a key (whole, or 8 characters of one in a row) is
    // refused, as by Pool: the run would show it in its attempts, result and errors.
    const model = opts?.model;
    if (typeof model === "string" && model.length >= MIN_LEAK && !this.#cleanModels.has(model)) {
      if (holdsAnyKey(model, this.#keyIndex())) throw new TypeError(`model: ${KEY_IN_NAME}`);
      if (this.#cleanModels.size >= 1000) this.#cleanModels.clear();
      this.#cleanModels.add(model);
    }
    const attempts = [];
    const signal = opts?.signal;
    const label = opts?.label ?? DEFAULT_LABEL;
    // As v1, whose runs awaited each failure's write: the run settles once its failures are
    // written (see Persister.saved). 0: no failure to wait for.
    let saving = 0;
    const pref = opts?.provider ? this.#providerIndex.get(opts.provider) ?? -1 : -1;
    let woken = false;
    for (let iteration = 0; iteration < this.#maxIterations; iteration++) {
      if (signal?.aborted) throw abortReason(signal);
      const now = this.#now();
      const idx = this.#core.acquire(now, pref);
      if (idx < 0) {
        const waitMs = this.#core.waitMs(now);
        const maxWait = opts?.maxWaitMs ?? this.#maxWaitMs;
        if (waitMs < 0 || (maxWait !== undefined && waitMs > maxWait) || this.#closed) {
          if (saving !== 0) await this.#persister.saved(saving, signal);
          throw new AllProfilesExhaustedError(attempts);
        }
        if (!woken) this.#log("warn", `[${label}] All profiles in cooldown, waiting ${Math.round(waitMs / 1000)}s`);
        // v1 difference (fixed silently): v1 left its abort listener on the signal after each
        // sleep, and a wait beyond setTimeout's 24.8-day limit ended at once. v2 also reads
        // the store while it waits (every 2 s), and a rest ended there (another process's
        // clearCooldown, the CLI's `clear`) wakes the run; looking again is not an iteration.
        const slept = sleep(waitMs, signal, this.#wakers, abortReason);
        if (this.#persister !== undefined) refreshWhile(slept, this.#persister);
        woken = await slept;
        if (woken) iteration--;
        continue;
      }
      const id = this.#ids[idx];
      const ctx = {
        profileId: id,
        apiKey: this.#keys[idx],
        provider: this.#providers[idx],
        model: this.#models[idx] ?? opts?.model ?? "unknown",
      };
      let value;
      try {
        value = await task(ctx);
        // In the same try, as v1's: a markSuccess that throws (a subclass's) fails the attempt.
        // With the time of the pick: a call's success ends the rest this pool knows, not one
        // another process stored meanwhile (or one not loaded yet), which a merge keeps.
        if (this.markSuccess === OWN_MARK_SUCCESS) await this.#markSuccess(id, false, now);
        else await this.markSuccess(id);
      } catch (err) {
        if (isV1NonTimeoutAbort(err)) throw err;
        // v1 difference: once the caller's own signal has fired, v1 still blamed the key
        // (cooled it, recorded an attempt) before throwing signal.reason; the key is left
        // alone here and the caller gets what v1 threw.
        if (signal?.aborted) throw abortReason(signal);
        const reason = classifyErrorV1(err);
        // v1 difference: keys the provider echoed into the message are redacted.
        const error = redact(attemptText(errorMessage(err)), ctx.apiKey, this.#keyIndex());
        const given = unknownFailoverReason(err);
        if (given !== undefined) this.#unknownReason(id, given);
        attempts.push({ profileId: id, provider: ctx.provider, model: ctx.model, error, reason });
        // As v1, through the public method when a subclass or a spy replaced it (on the
        // instance or on the prototype: compared with the class's own method).
        if (this.markFailure === OWN_MARK_FAILURE) await this.#markFailure(id, reason, false);
        else await this.markFailure(id, reason);
        if (this.#persister !== undefined) {
          saving = this.#persister.unsavedUrgent();
          // v1 wrote the failure inline, before trying the next key: its write starts now,
          // not at a timer (which fake timers would hold back, and the run with it), and the
          // next key is tried once it has ended (another process reading the store meanwhile
          // sees the failure), 1 s at most, as any wait for a write.
          this.#persister.writeNow();
          await this.#persister.saved(saving, signal);
        }
        this.#log("warn", () => `${redact(`[${label}] Profile ${id}`, "", this.#keyIndex())} failed: ${reason} \u2014 ${error}`, true);
        continue;
      }
      if (saving !== 0) await this.#persister.saved(saving, signal);
      return { value, profileId: id, provider: ctx.provider, model: ctx.model, attempts };
    }
    if (saving !== 0) await this.#persister.saved(saving, signal);
    throw new AllProfilesExhaustedError(attempts);
  }

  markFailure(profileId, reason) {
    return this.#markFailure(profileId, reason, true);
  }

  /** Says that a reason outside the nine (given to markFailure, or a FailoverError's) is recorded as "unknown". */
  #unknownReason(profileId, reason, where = "a FailoverError") {
    const ki = this.#keyIndex();
    const what = where === "markFailure" ? `markFailure(${JSON.stringify(redact(String(profileId), "", ki))})` : `${where} of ${JSON.stringify(redact(String(profileId), "", ki))}`;
    this.#log("warn", `${what}: unknown failure reason ${JSON.stringify(redact(shownName(errorMessage(reason)), "", ki))}, recorded as "unknown"`);
  }

  async #markFailure(profileId, reason, wait) {
    const idx = this.#index.get(profileId);
    if (idx === undefined) return;
    let code = REASON_CODE.get(reason);
    if (code === undefined) {
      // v1 difference: v1 stored any string as the reason (and cooled on the transient
      // schedule); it is recorded as "unknown", which cools the same.
      this.#unknownReason(profileId, reason, "markFailure");
      code = REASON_CODE.get("unknown");
    }
    const cooldownMs = this.#core.fail(idx, this.#now(), code, NaN, NaN);
    if (cooldownMs >= 0) {
      const errorCount = this.#core.errorCount(idx);
      this.#log(
        "info",
        `Profile ${profileId} in cooldown for ${Math.round(cooldownMs / 1000)}s (errorCount=${errorCount}, reason=${REASONS[code]})`,
      );
    }
    await this.#persist(true, wait);
  }

  markSuccess(profileId) {
    return this.#markSuccess(profileId, true);
  }

  /** `lease`: the time of a run's pick (NaN: a markSuccess, an event for the shared state). */
  async #markSuccess(profileId, wait, lease = NaN) {
    const idx = this.#index.get(profileId);
    if (idx === undefined) return;
    this.#core.succeed(idx, this.#now(), lease);
    await this.#persist(false, wait);
  }

  isInCooldown(profileId) {
    const idx = this.#index.get(profileId);
    if (idx === undefined) return false;
    return this.#core.isCooling(idx, this.#now());
  }

  async clearCooldown(profileId) {
    const idx = this.#index.get(profileId);
    if (idx === undefined) return;
    this.#core.clearCooldown(idx, this.#now());
    await this.#persist(true, true);
  }

  getStatus() {
    const now = this.#now();
    const cols = (this.#statusView = this.#core.statusColumns(now, this.#statusView));
    const ids = this.#ids;
    const providers = this.#providers;
    const models = this.#models;
    const n = ids.length;
    const profiles = new Array(n);
    // Each profile: its header, then only the values it has (see columns.js).
    let k = 0;
    for (let i = 0; i < n; i++) {
      const h = cols[k++];
      // Values from the columns are written after the literal, as in Pool.getStatus.
      const p = {
        id: ids[i],
        provider: providers[i],
        model: models[i],
        state: STATES[h & STATE],
        cooldownUntil: undefined,
        errorCount: 0,
        lastUsed: undefined,
        lastFailure: undefined,
      };
      if ((h & VALUES) !== 0) {
        // As v1: the recorded end of the last cooldown, even once it has passed.
        if ((h & COOLDOWN_UNTIL) !== 0) p.cooldownUntil = cols[k++];
        if ((h & ERROR_COUNT) !== 0) p.errorCount = cols[k++] >>> 0;
        if ((h & LAST_USED) !== 0) p.lastUsed = cols[k++];
        if ((h & LAST_FAILURE) !== 0) p.lastFailure = cols[k++];
        if ((h & LAST_SUCCESS) !== 0) k++; // not in v1's status
      }
      profiles[i] = p;
    }
    // Counts as integers, as in Pool.getStatus.
    return {
      profiles,
      totalAvailable: cols[k] >>> 0,
      totalInCooldown: cols[k + 1] >>> 0,
      unavailableReason: cols[k + 3] < 0 ? null : REASONS[cols[k + 3]],
    };
  }

  /** v1 difference: `JSON.stringify(pool)` shows the status, never a key. */
  toJSON() {
    return this.getStatus();
  }

  toString() {
    return `[LlmKeyPool: ${this.#ids.length} profiles]`;
  }

  get [Symbol.toStringTag]() {
    return "LlmKeyPool";
  }

  [INSPECT]() {
    const s = this.getStatus();
    return `LlmKeyPool { profiles: ${this.#ids.length}, available: ${s.totalAvailable}, inCooldown: ${s.totalInCooldown} }`;
  }
}

/** The class's own marks, as defined: `run` calls a replaced one (a subclass's, a spy's). */
const OWN_MARK_FAILURE = LlmKeyPool.prototype.markFailure;
const OWN_MARK_SUCCESS = LlmKeyPool.prototype.markSuccess;
