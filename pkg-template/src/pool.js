// The v2 Pool: the async API around the core's state machine. Keys, ids, providers and
// models live here (keys never enter the core); the core keeps indices and numbers.

import { CorePool, MAX_TIME } from "./core.js";
import { AllProfilesExhaustedError, attemptText, errorText, shownName, storeErrorText } from "./errors.js";
import { classifyError, errorMessage, isCallerAbort, retryAfterMs, unknownFailoverReason } from "./classify.js";
import { REASONS, REASON_CODE } from "./reasons.js";
import { hasLoneSurrogate, holdsAnyKey, keyIndexOf, redact } from "./secrets.js";
import { Persister, StateLink, refreshWhile } from "./persist.js";
import { Emitter, logTo } from "./events.js";
import { MAX_TIMER_MS, abandonOnAbort, abortReason, sleep } from "./wait.js";
import { Sessions } from "./sessions.js";
import { Metrics } from "./metrics.js";
import {
  COOLDOWN_UNTIL,
  ERROR_COUNT,
  IN_FLIGHT_SHIFT,
  LAST_FAILURE,
  LAST_SUCCESS,
  LAST_USED,
  PAIR_COLS,
  REASON_MASK,
  REASON_OF,
  REASON_SHIFT,
  STATE,
  STATES,
  VALUES,
  inFlights,
} from "./columns.js";
import { KEY_IN_NAME, checkWait, isObject, readPoolOptions, renamedDerived } from "./options.js";

const RUN_OPTIONS = new Set(["provider", "model", "signal", "label", "maxWaitMs", "session"]);
const EMPTY = Object.freeze({});
const INSPECT = Symbol.for("nodejs.util.inspect.custom");
/** The core's "no model" in recovery records (u32::MAX). */
const NO_MODEL = 2 ** 32 - 1;

/** `excluded` (sorted profile indices in a Uint32Array, or undefined: none) with `idx` added. */
function excludedWith(excluded, idx) {
  const out = new Uint32Array(excluded === undefined ? 1 : excluded.length + 1);
  if (excluded !== undefined) out.set(excluded);
  out[out.length - 1] = idx;
  return out.sort();
}

/**
 * The error for what a clock returned that is not a time. Built out of line: V8 computed a
 * message's `${t}` inline on every call of the caller, as if it were on the normal path.
 */
function badClock(t) {
  if (typeof t !== "number") return new TypeError(`clock() must return a number of ms, got ${typeof t}`);
  return new RangeError(`clock() must return ms since the epoch in [0, 2^53], got ${t}`);
}

/** The public API of key-carousel 2; see index.d.ts for the documentation. */
export class Pool {
  #core;
  /** What close() returned: a second call gets the same promise. */
  #closing;
  #keys = [];
  #allKeys = null;

  /** The keys indexed for redaction, built when first needed (a failure), not at construction. */
  #keyIndex() {
    return (this.#allKeys = keyIndexOf(this.#allKeys, this.#keys));
  }
  #ids = [];
  #providers = [];
  #models = [];
  /** Profile id → index, made when first needed (see #idx). */
  #index = null;
  #providerIndex = new Map();
  #policy;
  #clock;
  #logger;
  #maxWaitMs;
  #maxAttempts;
  #statusView = null;
  /** @type {Persister | undefined} */
  #persist;
  #events;
  /** `#events.active`: per event, whether anyone listens. */
  #on;
  #metrics;
  /** @type {Sessions | undefined} */
  #sessions;
  #sessionsMax;
  /** Model names interned in the core: name → index, and index → name. */
  #modelIndex = new Map();
  #modelNames = [];
  /**
   * Model names runs gave that the core has not interned (no call failed for them), checked
   * for keys: a run picks for them without interning them, so names that never fail (one
   * per customer, say) do not use up the core's 4,096. Forgotten past 1,000, and at each
   * import of stored state (which may intern names).
   */
  #unscoped = new Set();
  /** Model names interned to show an imported rest, not yet checked as a call's (`#refuseKeyName`). */
  #unchecked;
  /** Whether the core records the rests that end ("recover" has listeners). */
  #tracking = false;
  /** The wake-ups of the runs waiting for a rest to end (see #wake), made at the first wait. */
  #wakers = null;
  /** close() was called: runs no longer wait for a rest to end. */
  #closed = false;

  constructor(options) {
    const o = readPoolOptions(options);
    const { ids, providers, models, keys, added, skipped, store, saveIntervalMs, strategy, transient, long } = o;
    this.#sessionsMax = o.sessionsMax;
    this.#policy = o.policy;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#maxWaitMs = o.maxWaitMs;
    this.#providers = providers;
    this.#models = models;
    this.#keys = keys;
    for (const message of skipped) this.#log("debug", message);
    let c;
    try {
      c = new CorePool(0, ...o.cooldowns, o.policyBytes);
      const n = ids.length;
      c.addAll(ids, providers, added.fallback.subarray(0, n), added.positions.subarray(0, n));
      // What v1 has not: only when configured, so a plain pool is built as before.
      const weighted = added.weighted;
      if (strategy !== 0 || weighted || transient.length > 0 || long.length > 0) {
        c.configure(strategy, weighted ? added.weights.subarray(0, n) : new Uint32Array(0), transient, long);
      }
    } catch (e) {
      try {
        c?.free();
      } catch {
        // A core that trapped cannot be freed (its borrow is still held): the error to
        // report is the one that stopped the construction.
      }
      throw renamedDerived(e, (i) => o.givenIds[i] !== undefined);
    }
    this.#ids = ids;
    for (const p of new Set(this.#providers)) this.#providerIndex.set(p, c.providerIndex(p));
    this.#core = c;
    const n = this.#ids.length;
    this.#maxAttempts = Math.min(160, Math.max(32, 24 + 8 * n));
    this.#metrics = new Metrics(n);
    this.#events = this.#emitter();
    this.#on = this.#events.active;
    if (store !== undefined) {
      this.#persist = new Persister({
        store,
        link: new StateLink({
          core: c,
          ids,
          store,
          now: () => this.#now(),
          log: (level, msg) => this.#log(level, msg),
          // Another process may have ended a rest: announced now (not at the next call),
          // and the runs waiting for one woken (when one ended or got shorter).
          imported: (cut) => {
            // The import may have interned names found not interned before.
            this.#unscoped.clear();
            if (this.#tracking) {
              try {
                this.#observe(this.#now());
              } catch {
                // A clock that fails: the next call reports it, and announces the rest then.
              }
            }
            if (cut) this.#wake();
          },
        }),
        log: (level, msg) => this.#log(level, msg),
        intervalMs: saveIntervalMs,
        onError: (operation, error, attempt) => {
          if (!this.#events.has("persist-error")) return;
          const message = storeErrorText(error);
          const index = this.#keyIndex();
          // The store's name as the log shows it: a name (`kv <namespace>`) may hold a key.
          this.#events.emit("persist-error", { store: redact(this.#persist.name, "", index), operation, error: redact(message, "", index), attempt });
        },
      });
    }
  }

  /** The pool's events (made here, not in the constructor: its closure keeps nothing else alive). */
  #emitter() {
    return new Emitter((type, e) =>
      this.#log("error", `key-carousel: a "${type}" listener threw: ${errorMessage(e)}`),
    );
  }

  #now() {
    const t = this.#clock();
    if (typeof t === "number" && t >= 0 && t <= MAX_TIME) return t;
    throw badClock(t);
  }

  /** `redacted`: the message (or the function making it) holds nothing not redacted already. */
  #log(level, message, redacted = false) {
    // What a store, a listener or a provider said may hold a key. Redacting costs the
    // message's length: done only when the logger has that level.
    logTo(this.#logger, level, redacted ? message : () => redact(message, "", this.#keyIndex()));
  }

  #idx(id) {
    if (typeof id !== "string") throw new TypeError(`profile id must be a string, got ${typeof id}`);
    // Made at the first call that names a profile: `run` never needs it (hashing 100,000
    // ids was about a sixth of constructing such a pool).
    this.#index ??= new Map(this.#ids.map((id, i) => [id, i]));
    const idx = this.#index.get(id);
    // A key passed for an id (ctx.apiKey for ctx.profileId) is not printed.
    if (idx === undefined) throw new RangeError(`unknown profile id ${typeof id === "string" ? JSON.stringify(redact(id, "", this.#keyIndex())) : JSON.stringify(id)}`);
    return idx;
  }

  /**
   * Records a failure in the core, counts it, logs and announces the rest it started.
   * `model` is the model index the call named (undefined: none), `modelName` the model
   * the events report. Returns the cooldown started (ms, or -1/-2).
   */
  #fail(idx, now, reason, retryMs, lease, model, modelName) {
    // Rests that ended before this failure are announced before the rest it may start.
    if (this.#tracking) this.#observe(now);
    const code = REASON_CODE.get(reason);
    const cd = this.#core.fail(idx, now, code, retryMs ?? NaN, lease, model);
    // A failure that counted is written at once; one that did not (late, or a reason whose
    // schedule is "none") still changed the pick's lastUsed, written with the next batch.
    this.#persist?.change(cd !== -2 && this.#policy[code].schedule !== "none");
    this.#metrics.failure(idx, code);
    // A rest of 0 ms (a `retryAfterMs: 0` of the caller's, a cap of 0) is none: no event,
    // no count, no `recover` to follow.
    if (cd > 0) {
      this.#metrics.cooldown(idx);
      const info = this.#core.lastFailure();
      const scoped = info % 2 === 1;
      const errorCount = Math.floor(info / 4);
      const what = scoped ? `${this.#ids[idx]} (for ${modelName})` : this.#ids[idx];
      const type = this.#policy[code].schedule === "long" ? "disabled" : "cooldown";
      if (this.#events.has(type)) {
        const event = {
          profileId: this.#ids[idx],
          provider: this.#providers[idx],
          model: modelName,
          scope: scoped ? "model" : "key",
          reason,
          until: now + cd,
          cooldownMs: cd,
          errorCount,
        };
        if ((info & 2) !== 0) event.widened = true;
        this.#events.emit(type, event);
      }
      // After the event: a logger that acts on the pool must not come between the rest and it.
      this.#log("info", `Profile ${what} in cooldown for ${Math.round(cd / 1000)}s (errorCount=${errorCount}, reason=${reason})`);
    }
    return cd;
  }

  /**
   * Refuses a name a call gives (a model's) that holds a configured key or 8 characters of
   * one in a row: it would be shown in status, events and stored state. Checked the first
   * time the pool sees the name.
   */
  #refuseKeyName(name, what) {
    if ((this.#modelIndex.has(name) && this.#unchecked?.has(name) !== true) || this.#unscoped.has(name)) return;
    if (holdsAnyKey(name, this.#keyIndex())) throw new TypeError(`${what}: ${KEY_IN_NAME}`);
    this.#unchecked?.delete(name);
  }

  /**
   * The core's index of a model name a run gives, to pick for it, without interning it:
   * undefined when no call failed for it (no key rests for it, so the pick need not know it).
   */
  #pickModel(name) {
    const m = this.#modelIndex.get(name);
    if (m !== undefined || this.#unscoped.has(name)) return m;
    const found = hasLoneSurrogate(name) ? -1 : this.#core.findModel(name);
    if (found >= 0) return this.#known(name, found);
    if (this.#unscoped.size >= 1000) this.#unscoped.clear();
    this.#unscoped.add(name);
    return undefined;
  }

  /** The core's index of a model name a call gives (undefined when it cannot be interned). */
  #model(name) {
    if (name === undefined) return undefined;
    let m = this.#modelIndex.get(name);
    if (m === undefined) {
      // A lone surrogate would cross into the core as U+FFFD: two such names would be one.
      if (hasLoneSurrogate(name)) return undefined;
      try {
        m = this.#core.modelIndex(name);
      } catch {
        return undefined; // "", too long, control characters, or 4096 names already: not scoped
      }
      this.#known(name, m);
    }
    return m;
  }

  /** Remembers that the core interned `name` as model `m`; returns `m`. */
  #known(name, m) {
    this.#modelIndex.set(name, m);
    this.#modelNames[m] = name;
    return m;
  }

  /** The name of a model index the core reports (models interned by an import included). */
  #modelName(m) {
    const known = this.#modelNames[m];
    if (known !== undefined) return known;
    // Interned by an import: its pair id names it. Rare; look it up through the snapshot ids.
    // Such a name was written by another process, which could not tell it held one of this
    // pool's keys (calls here refuse such names): it is shown redacted.
    for (const id of this.#core.extraIds().split("\u0000")) {
      const cut = id.indexOf("\u0001");
      if (cut < 0) continue;
      const name = id.slice(cut + 1);
      if (this.#modelIndex.has(name)) continue;
      const k = this.#model(name);
      if (k === undefined) continue;
      this.#modelNames[k] = redact(name, "", this.#keyIndex());
      // Known now, but not checked as a call's name is (`#refuseKeyName`).
      (this.#unchecked ??= new Set()).add(name);
    }
    return this.#modelNames[m] ?? `model-${m}`;
  }

  /** Announces the rests that ended since the last look ("recover"), when anyone listens. */
  #observe(now) {
    if (!this.#tracking) return;
    const got = this.#core.takeRecovered(now, true);
    for (let i = 0; i < got.length; i += 3) {
      const idx = got[i];
      const m = got[i + 1];
      const scoped = m !== NO_MODEL;
      this.#events.emit("recover", {
        profileId: this.#ids[idx],
        provider: this.#providers[idx],
        model: scoped ? this.#modelName(m) : this.#models[idx],
        scope: scoped ? "model" : "key",
        reason: got[i + 2] < 0 ? undefined : REASONS[got[i + 2]],
        at: now,
      });
    }
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
    if (o.model !== undefined) this.#refuseKeyName(o.model, "run options: model");
    // The model's index: looked up at each pick until it has one (below); interned at the
    // run's first failure, not before.
    let model;
    const session = o.session;
    const sessions = session === undefined ? undefined : (this.#sessions ??= new Sessions(this.#sessionsMax));
    // The profile this run's last attempt failed on (-1: none yet).
    let failed = -1;
    // The profiles that failed this run and rest nothing (a reason whose schedule is
    // "none"): not tried again by it, or a run would call a failing key back to back.
    let excluded;
    const attempts = [];
    let woken = false;
    // The urgent change (a failure) this run must see written before it settles (0: none).
    let saving = 0;
    if (this.#persist !== undefined && !this.#persist.loaded) await this.#persist.waitLoaded(signal);
    for (let i = 0; i < this.#maxAttempts; i++) {
      if (signal?.aborted) throw abortReason(signal);
      // A model no call had failed for when this run began may have got a rest since
      // (another call's failure, a markFailure, a store's state): looked up at every pick,
      // or a run that waited would be given a key resting for its model.
      if (model === undefined && o.model !== undefined) model = this.#pickModel(o.model);
      const now = this.#now();
      // A session's profile is tried first while it is healthy, and not again by the run
      // whose attempt just failed on it. It is read at each attempt: another call of the
      // session may have moved it since this one started.
      const held = sessions?.get(session);
      const idx = this.#core.acquire(now, pref, model, held === failed ? undefined : held, excluded);
      if (this.#tracking) this.#observe(now);
      if (idx < 0) {
        // The last turn: no attempt would follow the wait (it says when, and gives up now).
        if (i === this.#maxAttempts - 1) break;
        // Before waiting or giving up: the failures so far are written first (at most 1 s),
        // then the pool is asked again (a look again is not an attempt).
        if (saving !== 0) {
          await this.#persist.saved(saving, signal);
          saving = 0;
          i--;
          continue;
        }
        // Woken because a rest ended early: looking again is not an attempt, and waiting
        // again is not logged again.
        woken = await this.#waitForRecovery(now, o, attempts, label, model, excluded, woken);
        if (woken) i--;
        continue;
      }
      // The pick (the key's lastUsed) is a change: a flush or close() while the call runs
      // writes it, and otherwise the write of the call's end (see Persister.touch).
      this.#persist?.touch();
      // The session is where its latest attempt went (a new session, or one moved off its
      // profile): calls of the session in flight or started meanwhile follow it there.
      if (sessions !== undefined && idx !== held) sessions.set(session, idx);
      const ctx = {
        profileId: this.#ids[idx],
        apiKey: this.#keys[idx],
        provider: this.#providers[idx],
        model: this.#models[idx] ?? o.model ?? "unknown",
        signal,
      };
      let value;
      let abandoned = false;
      try {
        // A task that does not end once the caller aborted is left behind (its lease ends
        // when it does, with no verdict); one that listens to the signal throws its own error.
        value = await abandonOnAbort(task(ctx), signal, () => (abandoned = true), () => this.#release(idx));
      } catch (err) {
        if (abandoned) throw err;
        if (isCallerAbort(err, signal)) {
          this.#release(idx);
          throw err;
        }
        const reason = classifyError(err);
        const given = unknownFailoverReason(err);
        if (given !== undefined) {
          this.#log("warn", `[${label}] a FailoverError of ${ctx.profileId}: unknown failure reason ${JSON.stringify(redact(shownName(given), ctx.apiKey, this.#keyIndex()))}, recorded as "unknown"`);
        }
        // An HTTP-date Retry-After is a point in time: measure it from the failure.
        const failedAt = this.#endTime(idx);
        const retryMs = retryAfterMs(err, failedAt, reason);
        // A profile with a model of its own serves only that model: its rests are the key's.
        // Otherwise the rest is the call's model's, interned now if this is its first failure.
        let scoped;
        if (this.#models[idx] === undefined) {
          if (model === undefined && o.model !== undefined) {
            model = this.#model(o.model);
            if (model !== undefined) this.#unscoped.delete(o.model);
          }
          scoped = model;
        }
        const urgent = this.#persist?.urgentSeq;
        const cd = this.#fail(idx, failedAt, reason, retryMs, now, scoped, ctx.model);
        // A failure that is written at once is awaited before this run settles; one that
        // is not (late, or a reason that rests nothing, such as format) does not make the
        // run wait for other calls' writes.
        if (this.#persist !== undefined && this.#persist.urgentSeq !== urgent) saving = this.#persist.unsavedUrgent();
        const error = redact(attemptText(errorText(err)), ctx.apiKey, this.#keyIndex());
        const attempt = { profileId: ctx.profileId, provider: ctx.provider, model: ctx.model, error, reason };
        if (cd > 0) attempt.cooldownMs = cd;
        if (retryMs !== undefined) attempt.retryAfterMs = retryMs;
        attempts.push(attempt);
        if (this.#on.failure) this.#events.emit("failure", { ...attempt });
        this.#log("warn", () => `${redact(`[${label}] Profile ${ctx.profileId}`, "", this.#keyIndex())} failed: ${reason} \u2014 ${error}`, true);
        const policy = this.#policy[REASON_CODE.get(reason)];
        if (!policy.rotate) {
          if (saving !== 0) await this.#persist.saved(saving, signal);
          throw err;
        }
        failed = idx;
        if (policy.schedule === "none") excluded = excludedWith(excluded, idx);
        continue;
      }
      // The caller aborted while the task ran, and the task answered anyway (the SDKs end a
      // stream quietly on abort, with the text so far): the caller gets its abort, not a cut
      // answer, and the key no verdict, as when the task throws.
      if (signal?.aborted) {
        this.#release(idx);
        throw abortReason(signal);
      }
      const doneAt = this.#endTime(idx);
      this.#core.succeed(idx, doneAt, now, undefined);
      if (this.#persist !== undefined) this.#persist.change(false);
      this.#metrics.success(idx);
      if (sessions !== undefined) sessions.keep(session, idx);
      if (this.#on.success) {
        const event = { profileId: ctx.profileId, provider: ctx.provider, model: ctx.model, attempts: attempts.length };
        // Names the caller gave may hold a key by mistake: events never do (as logs).
        if (session !== undefined) event.session = redact(session, "", this.#keyIndex());
        this.#events.emit("success", event);
      }
      if (saving !== 0) await this.#persist.saved(saving, signal);
      return { value, profileId: ctx.profileId, provider: ctx.provider, model: ctx.model, attempts };
    }
    if (saving !== 0) await this.#persist.saved(saving, signal);
    // Out of attempts: when nothing is available to this call now, say when something is.
    const now = this.#now();
    const wait = this.#core.waitMs(now, model, excluded);
    throw this.#exhausted(attempts, o, label, wait > 0 ? { retryAt: now + wait, retryAfterMs: wait } : undefined);
  }

  /** The error `run` throws when it gives up, counted and announced. */
  #exhausted(attempts, o, label, retry) {
    this.#metrics.exhausted++;
    if (this.#events.has("exhausted")) {
      const event = { attempts: attempts.length, label: redact(label, "", this.#keyIndex()) };
      // A provider the pool has is a name it shows; any other is the caller's text.
      if (o.provider !== undefined) event.provider = this.#providerIndex.has(o.provider) ? o.provider : redact(o.provider, "", this.#keyIndex());
      if (o.model !== undefined) event.model = o.model;
      if (retry !== undefined) Object.assign(event, retry);
      this.#events.emit("exhausted", event);
    }
    return new AllProfilesExhaustedError(attempts, retry);
  }

  #runOptions(options) {
    if (!isObject(options)) throw new TypeError("run(task, options): options must be an object");
    for (const key of Object.keys(options)) {
      if (!RUN_OPTIONS.has(key)) throw new TypeError(`run options: unknown option ${JSON.stringify(shownName(key))}`);
    }
    for (const key of ["provider", "model", "label", "session"]) {
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

  /**
   * Waits for the soonest rest this call could use to end, or throws when none ends or it
   * ends later than `maxWaitMs`. Resolves to true when woken early (a rest ended: #wake).
   * `excluded`: the run's profiles it does not wait for (see run). `quiet`: it was woken,
   * and this wait is not logged.
   */
  async #waitForRecovery(now, o, attempts, label, model, excluded, quiet) {
    const wait = this.#core.waitMs(now, model, excluded);
    const maxWait = o.maxWaitMs ?? this.#maxWaitMs;
    if (wait < 0) throw this.#exhausted(attempts, o, label, undefined);
    if ((maxWait !== undefined && wait > maxWait) || this.#closed) {
      throw this.#exhausted(attempts, o, label, { retryAt: now + wait, retryAfterMs: wait });
    }
    if (!quiet) {
      // A call naming a model waits for a key that can serve that model (the others may be
      // available to other models, as the status says).
      const what = o.model === undefined ? "All profiles in cooldown" : `No profile available for model ${o.model}`;
      this.#log("warn", `[${label}] ${what}, waiting ${Math.round(wait / 1000)}s`);
    }
    // At most setTimeout's limit (24.8 days): a longer wait wakes up and waits again.
    const slept = sleep(Math.min(Math.max(1, Math.ceil(wait)), MAX_TIMER_MS), o.signal, (this.#wakers ??= new Set()));
    if (this.#persist !== undefined) refreshWhile(slept, this.#persist);
    return slept;
  }

  markFailure(profileId, reason, options) {
    const idx = this.#idx(profileId);
    if (typeof reason !== "string") throw new TypeError(`reason must be a string, got ${typeof reason}`);
    if (!REASON_CODE.has(reason)) {
      throw new RangeError(`unknown failure reason ${JSON.stringify(redact(shownName(reason), "", this.#keyIndex()))} (expected one of ${REASONS.join(", ")})`);
    }
    let retryMs;
    let model;
    if (options !== undefined) {
      if (!isObject(options)) throw new TypeError("markFailure options must be an object { retryAfterMs?, model? }");
      for (const key of Object.keys(options)) {
        if (key !== "retryAfterMs" && key !== "model") {
          throw new TypeError(`markFailure options: unknown option ${JSON.stringify(shownName(key))}`);
        }
      }
      retryMs = options.retryAfterMs;
      if (retryMs !== undefined && typeof retryMs !== "number") {
        throw new TypeError(`retryAfterMs must be a number of ms, got ${retryMs === null ? "null" : typeof retryMs}`);
      }
      if (retryMs !== undefined && (!Number.isFinite(retryMs) || retryMs < 0)) {
        throw new RangeError("retryAfterMs must be a finite number of ms >= 0");
      }
      model = this.#markModel(idx, options.model);
    }
    const now = this.#now();
    const name = this.#models[idx] ?? options?.model ?? "unknown"; // as run's ctx.model
    this.#fail(idx, now, reason, retryMs, NaN, model, name);
    if (this.#tracking) this.#observe(now);
  }

  markSuccess(profileId, options) {
    const idx = this.#idx(profileId);
    if (options !== undefined) {
      if (!isObject(options)) throw new TypeError("markSuccess options must be an object { model? }");
      for (const key of Object.keys(options)) {
        if (key !== "model") throw new TypeError(`markSuccess options: unknown option ${JSON.stringify(shownName(key))}`);
      }
    }
    const model = this.#markModel(idx, options?.model);
    const now = this.#now();
    const cut = this.#core.restsCut();
    this.#core.succeed(idx, now, NaN, model);
    this.#persist?.change(false); // success-only: coalesced, with or without a model
    this.#metrics.success(idx);
    if (this.#tracking) this.#observe(now);
    this.#wakeIfCut(cut);
  }

  /** The model index of a `markFailure`/`markSuccess` option (profiles with a model of their own: none). */
  #markModel(idx, name) {
    if (name === undefined) return undefined;
    if (typeof name !== "string") throw new TypeError(`model must be a string, got ${typeof name}`);
    if (this.#models[idx] !== undefined) return undefined;
    this.#refuseKeyName(name, "options.model");
    return this.#model(name);
  }

  isInCooldown(profileId) {
    const idx = this.#idx(profileId);
    const now = this.#now();
    if (this.#tracking) this.#observe(now);
    return this.#core.isCooling(idx, now);
  }

  clearCooldown(profileId) {
    const idx = this.#idx(profileId);
    const now = this.#now();
    const cut = this.#core.restsCut();
    this.#core.clearCooldown(idx, now);
    this.#persist?.change(true);
    if (this.#tracking) this.#observe(now);
    this.#wakeIfCut(cut);
  }

  /** Wakes the runs waiting for a rest to end: one may have ended early (they look again). */
  #wake() {
    if (this.#wakers !== null) for (const wake of [...this.#wakers]) wake();
  }

  /**
   * Wakes the waiting runs when a rest ended early or got shorter since the core's count
   * was `cut`: nothing else brings a profile back sooner, and each woken run asks the core
   * again (O(n) when every key rests for its model), so a mark that ends nothing wakes none.
   */
  #wakeIfCut(cut) {
    if (this.#core.restsCut() !== cut) this.#wake();
  }

  /**
   * Listens to an event: "cooldown", "disabled", "recover", "success", "failure",
   * "exhausted" or "persist-error" (see index.d.ts). Returns the pool.
   */
  on(type, listener) {
    // The clock first: a clock that fails leaves the listener unregistered.
    const start = type === "recover" && !this.#tracking && typeof listener === "function";
    const now = start ? this.#now() : undefined;
    this.#events.on(type, listener);
    if (start) {
      this.#tracking = true;
      this.#core.takeRecovered(now, true); // from now on
    }
    return this;
  }

  /** Stops listening (the most recent registration of `listener` for `type`). Returns the pool. */
  off(type, listener) {
    const removed = this.#events.off(type, listener);
    if (removed && type === "recover" && this.#tracking && !this.#events.has("recover")) {
      let now;
      try {
        now = this.#now();
      } catch (e) {
        this.#events.on(type, listener); // a clock that fails leaves the listener registered
        throw e;
      }
      this.#tracking = false;
      this.#core.takeRecovered(now, false);
    }
    return this;
  }

  /**
   * Counts since the pool was created, per profile: successes, failures by reason, rests
   * started, calls in flight now; and their totals (plus `exhausted`: runs that gave up).
   */
  metrics() {
    const now = this.#now();
    if (this.#tracking) this.#observe(now);
    const cols = (this.#statusView = this.#core.statusColumns(now, this.#statusView));
    const inFlight = inFlights(cols, this.#ids.length);
    const profiles = this.#ids.map((id, i) => ({ id, provider: this.#providers[i], model: this.#models[i] }));
    return this.#metrics.snapshot(profiles, (i) => inFlight[i]);
  }

  /** Loads the stored state (once); `run` does it itself when this was not called. */
  async init() {
    if (this.#persist !== undefined) await this.#persist.load(true);
  }

  /** Writes every pending change; rejects with the store's error when that write fails. */
  async flush() {
    if (this.#persist !== undefined) await this.#persist.flush();
  }

  /**
   * Flushes, then stops saving (no timers left). Runs waiting for a rest to end give up now,
   * and later ones do not wait: a shutdown that awaits close() is not held for hours.
   */
  close() {
    return (this.#closing ??= this.#shutDown());
  }

  async #shutDown() {
    this.#closed = true;
    this.#wake();
    if (this.#persist !== undefined) await this.#persist.close();
  }

  getStatus() {
    const now = this.#now();
    if (this.#tracking) this.#observe(now);
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
      const state = h & STATE;
      let until;
      // The literal holds no value read from the columns: each is written after, where it
      // is known to be there. (A time in the literal, from a variable that may be undefined,
      // could be boxed twice: as that variable's value, then in V8's field for it; 713
      // against 617 B a call at 3 profiles.)
      const p = {
        id: ids[i],
        provider: providers[i],
        model: models[i],
        state: STATES[state],
        cooldownUntil: undefined,
        errorCount: 0,
        lastUsed: undefined,
        lastFailure: undefined,
        lastSuccess: undefined,
        reason: undefined,
        remainingMs: 0,
        inFlight: h >>> IN_FLIGHT_SHIFT,
      };
      if ((h & VALUES) !== 0) {
        if ((h & COOLDOWN_UNTIL) !== 0) until = cols[k++];
        if ((h & ERROR_COUNT) !== 0) p.errorCount = cols[k++] >>> 0;
        if ((h & LAST_USED) !== 0) p.lastUsed = cols[k++];
        if ((h & LAST_FAILURE) !== 0) p.lastFailure = cols[k++];
        if ((h & LAST_SUCCESS) !== 0) p.lastSuccess = cols[k++];
      }
      if (state !== 0) {
        p.cooldownUntil = until;
        p.reason = REASON_OF[(h >>> REASON_SHIFT) & REASON_MASK];
        // Whole ms (always, with the default clock) as a small integer, the same value: a
        // field V8 has seen hold a boxed number gets a number box in every object, even at 0.
        const remaining = until - now;
        p.remainingMs = remaining === (remaining | 0) ? remaining | 0 : remaining;
      }
      profiles[i] = p;
    }
    // Counts as integers (`>>> 0`: the same u32 value), so V8 stores them untouched
    // rather than in a number box of their own (what it does for a field that once held
    // a number read from a Float64Array).
    const next = cols[k + 4];
    const status = {
      profiles,
      totalAvailable: cols[k] >>> 0,
      totalInCooldown: cols[k + 1] >>> 0,
      totalDisabled: cols[k + 2] >>> 0,
      unavailableReason: cols[k + 3] < 0 ? null : REASONS[cols[k + 3]],
      nextAvailableAt: next === next ? next : undefined,
    };
    // Model-scoped rests: the profile stays available to other models.
    const pairs = cols[k + 5];
    if (pairs > 0) this.#addModelCooldowns(profiles, cols, k + 6, pairs, now);
    return status;
  }

  #addModelCooldowns(profiles, cols, at, pairs, now) {
    const rows = [];
    for (let p = 0, b = at; p < pairs; p++, b += PAIR_COLS) rows.push(Array.from(cols.subarray(b, b + PAIR_COLS)));
    // Reading names may call into the core (which reuses the status buffer): rows first.
    for (const [idx, m, state, until, errorCount, reason] of rows) {
      (profiles[idx].modelCooldowns ??= []).push({
        model: this.#modelName(m),
        state: STATES[state],
        cooldownUntil: until,
        remainingMs: until - now,
        reason: reason < 0 ? undefined : REASONS[reason],
        errorCount,
      });
    }
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
