// The loaded WebAssembly module. Each runtime entry (src/entries/) loads the module
// its own way and hands the wasm-bindgen exports to setCore(); everything else reaches
// them through core(), which fails with a clear error when used before that.
//
// CorePool is the core pool as the rest of the JS layer uses it. The module's exports
// return one number each (see src/wasm.rs: a failed call returns a sentinel, and what a
// call produces is left in a buffer of the pool); CorePool turns the sentinels into the
// errors users see — here, in one place — and copies the buffers out. It also lets a
// status be reused while nothing changed it (see statusColumns).

import { ConfigError } from "./errors.js";

/** Numbers per record, in src/snapshot.rs's order (`Record::COLUMNS`; src/wasm.rs `RECORD_COLUMNS`). */
export const RECORD_COLUMNS = 9;

/**
 * Records a snapshot crosses into or out of the module at a time: the module's memory
 * holds a copy of one part (0.3 MB), not of the whole snapshot (72 bytes a profile, which
 * the memory, never shrinking, kept for the pool's life).
 */
export const SNAPSHOT_PART = 4096;

/** The latest time the core takes, in ms since the epoch (src/config.rs `check_time`). */
export const MAX_TIME = 2 ** 53;

let loaded = null;
let memory = null;
const utf8 = new TextDecoder();

/**
 * @param {object} glue the wasm-bindgen module namespace, initialised
 * @param {object} instanceExports the wasm instance's exports (what `initSync` returns)
 */
export function setCore(glue, instanceExports) {
  loaded = glue;
  memory = instanceExports.memory;
}

export function core() {
  if (loaded === null) {
    throw new Error(
      "key-carousel: the WebAssembly module is not initialised yet; call `await init()` before using the pool",
    );
  }
  return loaded;
}

export function isCoreLoaded() {
  return loaded !== null;
}

/**
 * Each name's length in UTF-16 units, in 16 bits (`fitted` names: none is longer). (A loop:
 * `Uint16Array.from` with a mapping function was 3× slower.)
 */
function lengthsOf(names) {
  const out = new Uint16Array(names.length);
  for (let i = 0; i < names.length; i++) out[i] = names[i].length;
  return out;
}

/** `values` as a `Type` array: itself when it is one. */
function typed(Type, values) {
  return values instanceof Type ? values : Type.from(values);
}

export class CorePool {
  #raw;
  /**
   * The calls that made this pool, to make it again (see #rebuild): the settings, each
   * addAll's arguments (the caller's arrays: the pool keeps them anyway), configure's.
   */
  #recipe;
  /**
   * Set while a call into the module runs (`#live()` sets it, `#ok` clears it): still set
   * when one threw. The next call then asks the module whether that call was cut short
   * inside the core (see #recover).
   */
  #calling = false;
  /** A call was cut short inside the core, and the pool is not built again yet. */
  #broken = false;
  /** The latest time a call gave the core: a rebuilt pool imports its state at it. */
  #now = 0;
  /**
   * The last status: false once a call may have changed the pool; else the status at
   * any time in [#statusAt, #statusUntil) is the one in the status buffer (the core
   * writes the soonest end of a rest last: until then only the time remaining changes,
   * which the callers compute from `now`).
   */
  #statusKept = false;
  #statusAt = 0;
  #statusUntil = 0;
  /** The view of the status buffer statusColumns returned last (null: none, or not of this #raw). */
  #view = null;

  /**
   * A pool in `mode` (0 v2, 1 v1) with the cooldown settings (undefined: the default)
   * and `policy` (one byte per reason; empty: the mode's).
   */
  constructor(mode, maxRateLimitCooldownMs, billingBackoffMs, billingMaxMs, failureWindowMs, policy) {
    this.#recipe = { setup: [mode, maxRateLimitCooldownMs, billingBackoffMs, billingMaxMs, failureWindowMs, policy], adds: [], configure: null };
    const raw = new (core().Pool)();
    this.#raw = raw;
    if (!raw.setup(...this.#recipe.setup)) {
      const e = this.#problem();
      raw.free();
      throw e;
    }
  }

  /**
   * The module's pool, for a call whose result goes through #ok. After a call that threw,
   * first #recover.
   */
  #live() {
    if (this.#calling) this.#recover();
    this.#calling = true;
    return this.#raw;
  }

  /** The call went through: `value` is its result. */
  #ok(value) {
    this.#calling = false;
    return value;
  }

  /**
   * A call into the module threw. When it was cut short inside the core (the JS stack ran
   * out there: a `RangeError` that unwinds the module's frames without running its code),
   * the pool's state may be half-changed, and the module would let this pool be used
   * no more: it is built again, from the recipe and what the old one holds (#rebuild).
   * Otherwise (the call threw before it began, or this layer threw after it) nothing is
   * left to mend. Until this ends, the next call looks again.
   */
  #recover() {
    // Once found, until a rebuild ends: reading the old pool out clears its flag, and a
    // rebuild may itself be cut short (the stack can still be near its end).
    if (this.#broken || this.#raw.interrupted()) {
      this.#broken = true;
      this.#rebuild();
      this.#broken = false;
    }
    this.#calling = false;
  }

  /**
   * The pool built again: a new one from the recipe, the old one's model names interned
   * in the same order (the indices the callers hold stay right), and its records (every
   * profile's, the kept ids', the model rests) imported at the latest time a call gave.
   * What a record holds is kept as the cut-short call left it; what lives only in the old
   * pool (calls in flight, the round-robin order beyond what `lastUsed` says) starts
   * again. The old pool is left to the garbage collector (the module would not free it
   * now: the cut-short call still holds it).
   */
  #rebuild() {
    const old = this.#raw;
    const models = textOf(old, old.modelNames());
    const cols = exportRecords(old);
    const extra = extraIdsOf(old);
    const raw = new (core().Pool)();
    this.#raw = raw;
    try {
      const r = this.#recipe;
      if (!raw.setup(...r.setup)) throw this.#problem();
      const ids = [];
      for (const add of r.adds) {
        if (addProfiles(raw, ...add) < 0) throw this.#problem();
        for (const id of add[0]) ids.push(id);
      }
      if (r.configure !== null && !raw.configure(...r.configure)) throw this.#problem();
      if (models !== "") for (const name of models.split("\u0000")) if (raw.modelIndex(name) < 0) throw this.#problem();
      if (extra !== "") for (const id of extra.split("\u0000")) ids.push(id);
      importRecords(raw, ids, cols, this.#now, () => this.#problem());
    } catch (e) {
      this.#raw = old; // the next call tries again
      throw e;
    }
    this.#statusKept = false;
    this.#view = null;
  }

  /** The error of the call that just failed: a `RangeError` or a `ConfigError` naming the field. */
  #problem() {
    const kind = this.#raw.problem();
    const text = textOf(this.#raw, this.#raw.textLen());
    if (kind === 2) {
      const cut = text.indexOf("\u0000");
      return new ConfigError(text.slice(0, cut), text.slice(cut + 1));
    }
    return kind === 1 ? new RangeError(text) : new Error("key-carousel: the core failed without saying why");
  }

  /** A copy of the first `len` numbers of the out buffer. */
  #out(len) {
    return new Float64Array(memory.buffer, this.#raw.outPtr(), len).slice();
  }

  free() {
    this.#statusKept = false;
    try {
      this.#raw.free();
    } catch {
      // A pool that a cut-short call still holds: the garbage collector frees it later.
    }
  }

  get size() {
    return this.#ok(this.#live().size);
  }

  /**
   * Adds profiles in one call: for each, its id and provider, 1 in `fallback` for a
   * fallback model, and its index in the user's array (`positions`, for error messages).
   * Returns the index of the first. The core checks each in turn: a ConfigError names the
   * field of the first it cannot take, and the ones before it are added.
   */
  addAll(ids, providers, fallback, positions) {
    this.#statusKept = false;
    const add = [ids, providers, typed(Uint8Array, fallback), typed(Uint32Array, positions)];
    const first = this.#ok(addProfiles(this.#live(), ...add));
    if (first < 0) throw this.#problem();
    this.#recipe.adds.push(add);
    return first;
  }

  configure(strategy, weights, transient, long) {
    this.#statusKept = false;
    if (!this.#ok(this.#live().configure(strategy, weights, transient, long))) throw this.#problem();
    this.#recipe.configure = [strategy, weights, transient, long];
  }

  modelIndex(name) {
    this.#statusKept = false;
    const m = this.#ok(this.#live().modelIndex(name));
    if (m < 0) throw this.#problem();
    return m;
  }

  /** The index of a model name the core has interned; -1 when it has not (nothing is interned). */
  findModel(name) {
    return this.#ok(this.#live().findModel(name));
  }

  providerIndex(provider) {
    return this.#ok(this.#live().providerIndex(provider));
  }

  /**
   * A profile index, or -1 when every profile rests. `excluded` (a Uint32Array, or
   * undefined): profiles the call must not get, as if they rested.
   */
  acquire(now, preferred, model, sticky, excluded) {
    this.#statusKept = false;
    this.#now = now;
    const idx = this.#ok(this.#live().acquire(now, preferred, model, sticky, excluded));
    if (idx === -2) throw this.#problem();
    return idx;
  }

  /** The rests that ended, three numbers each: profile, model index (2^32 − 1: the profile's own), reason code (-1: none). */
  takeRecovered(now, track) {
    this.#now = now;
    const len = this.#ok(this.#live().takeRecovered(now, track));
    if (len < 0) throw this.#problem();
    if (len === 0) return [];
    this.#statusKept = false;
    return this.#out(len);
  }

  succeed(idx, now, lease, model) {
    this.#statusKept = false;
    this.#now = now;
    if (!this.#ok(this.#live().succeed(idx, now, lease, model))) throw this.#problem();
  }

  fail(idx, now, reasonCode, retryAfterMs, lease, model) {
    this.#statusKept = false;
    this.#now = now;
    const cd = this.#ok(this.#live().fail(idx, now, reasonCode, retryAfterMs, lease, model));
    if (cd !== cd) throw this.#problem();
    return cd;
  }

  lastFailure() {
    return this.#ok(this.#live().lastFailure());
  }

  /** How many running rests have ended early or been shortened: runs waiting look again when it changes. */
  restsCut() {
    return this.#ok(this.#live().restsCut());
  }

  release(idx) {
    this.#statusKept = false;
    if (!this.#ok(this.#live().release(idx))) throw this.#problem();
  }

  clearCooldown(idx, now) {
    this.#statusKept = false;
    this.#now = now;
    if (!this.#ok(this.#live().clearCooldown(idx, now))) throw this.#problem();
  }

  isCooling(idx, now) {
    const r = this.#ok(this.#live().isCooling(idx, now));
    if (r < 0) throw this.#problem();
    return r === 1;
  }

  /** Ms until a profile is available to a call: 0 when one is, -1 when none will be. `excluded`: as for acquire, sorted. */
  waitMs(now, model, excluded) {
    const ms = this.#ok(this.#live().waitMs(now, model, excluded));
    if (ms !== ms) throw this.#problem();
    return ms;
  }

  errorCount(idx) {
    const n = this.#ok(this.#live().errorCount(idx));
    if (n < 0) throw this.#problem();
    return n;
  }

  /**
   * Merges stored records (`ids[i]`'s numbers at `cols[i * RECORD_COLUMNS]`), in parts of
   * SNAPSHOT_PART records. Returns how many are of ids the pool does not have.
   */
  importSnapshot(ids, cols, now) {
    this.#statusKept = false;
    this.#now = now;
    return this.#ok(importRecords(this.#live(), ids, cols, now, () => this.#problem()));
  }

  /**
   * Forgets the kept records of ids the pool does not have that are stale at `now` (see
   * src/snapshot.rs `Record::stale`): an import of nothing, which begins with that.
   */
  forgetStale(now) {
    this.#statusKept = false;
    if (this.#ok(this.#live().importSnapshot("", NO_RECORDS, now, 0)) < 0) throw this.#problem();
  }

  /** Every record (see src/wasm.rs `exportSnapshot`), copied out in parts of SNAPSHOT_PART. */
  exportSnapshot() {
    return this.#ok(exportRecords(this.#live()));
  }

  /** The ids of the records after the profiles' (see exportSnapshot), joined with "\0". */
  extraIds() {
    return this.#ok(extraIdsOf(this.#live()));
  }

  /**
   * The status columns at `now` (see STATUS_MAX_COLUMNS in src/wasm.rs and src/status.rs), as a view of the
   * module's memory: read it before the next call into the module. `previous` is the
   * view this returned last time (or null). While no call changed the pool and `now` is
   * in [the time of that status, the soonest end of a rest then), the status is the
   * same but for the time remaining: `previous` is returned as it is, with no call into
   * the module. Else the core writes the status again; it keeps its buffer at one
   * address while the length stays the same, so `previous` is reused until the length
   * changes or the memory grows (which detaches it: its length becomes 0) or the pool
   * was built again.
   */
  statusColumns(now, previous) {
    const reusable = previous === this.#view && previous !== null && previous.length !== 0;
    if (this.#statusKept && reusable && now >= this.#statusAt && now < this.#statusUntil && now <= MAX_TIME) {
      return previous;
    }
    const raw = this.#live();
    const len = raw.status(now);
    if (len === 0) {
      this.#ok();
      throw new RangeError(`time must be a finite number of ms in [0, 2^53], got ${now}`);
    }
    this.#now = now;
    const cols = this.#ok(reusable && previous.length === len ? previous : new Float64Array(memory.buffer, raw.statusPtr(), len));
    this.#view = cols;
    this.#statusAt = now;
    this.#statusUntil = cols[len - 1];
    this.#statusKept = true;
    return cols;
  }
}

/** The text a call left in `raw`'s text buffer, `len` bytes of UTF-8. */
function textOf(raw, len) {
  return len === 0 ? "" : utf8.decode(new Uint8Array(memory.buffer, raw.textPtr(), len));
}

/**
 * The ids go in as UTF-8 bytes: copied into the module's memory at once, where a string
 * would be encoded there a character at a time (4 of the 60 ms of a pool of 100,000).
 */
const toUtf8 = new TextEncoder();

/** `raw.addProfiles` for these profiles (see CorePool#addAll): the index of the first, -1 on a problem. */
function addProfiles(raw, ids, providers, fallback, positions) {
  // The distinct names in order of appearance, and each profile's index among them, in one
  // pass (a pool's providers come in runs: a repeat of the last one skips the map).
  const names = [];
  const nameIndex = new Map();
  const index = new Uint32Array(providers.length);
  let last;
  let at = 0;
  for (let i = 0; i < providers.length; i++) {
    const p = providers[i];
    if (p !== last) {
      at = nameIndex.get(p);
      if (at === undefined) {
        at = names.push(p) - 1;
        nameIndex.set(p, at);
      }
      last = p;
    }
    index[i] = at;
  }
  const fittedIds = fitted(ids);
  const fittedNames = fitted(names);
  return raw.addProfiles(toUtf8.encode(fittedIds.join("")), lengthsOf(fittedIds), fittedNames.join(""), lengthsOf(fittedNames), index, fallback, positions);
}

/** A name of 257 bytes: what stands in for one past 16 bits of length (see `fitted`). */
const TOO_LONG = /* @__PURE__ */ "x".repeat(257);

/**
 * `names`, or, when one is longer than 65,535 UTF-16 units (so more than 256 bytes), a copy
 * with it replaced by TOO_LONG, which the core refuses, naming the field, as it would it:
 * the names cross joined, each by its length in 16 bits (was: such a name cut there put the
 * next ones out of step, and a cut inside a surrogate pair was an error naming no field).
 */
function fitted(names) {
  for (let i = 0; i < names.length; i++) if (names[i].length > 0xffff) return names.map((n) => (n.length > 0xffff ? TOO_LONG : n));
  return names;
}

/** The columns of no records: an import of nothing (CorePool#forgetStale). */
const NO_RECORDS = new Float64Array(0);

/** CorePool#importSnapshot into `raw`; `problem()` makes the error of a part that failed. */
function importRecords(raw, ids, cols, now, problem) {
  let unknown = 0;
  try {
    for (let at = 0; at < ids.length; at += SNAPSHOT_PART) {
      const end = Math.min(ids.length, at + SNAPSHOT_PART);
      const part = ids.slice(at, end).join("\u0000");
      const n = raw.importSnapshot(part, cols.subarray(at * RECORD_COLUMNS, end * RECORD_COLUMNS), now, ids.length - at);
      if (n < 0) throw problem();
      unknown += n;
    }
  } catch (e) {
    // The parts merged so far are in: their order too. The error to report is this one,
    // not one of a module that cannot be called any more.
    try {
      raw.finishImport();
    } catch {
      // ignored: see above
    }
    throw e;
  }
  raw.finishImport();
  return unknown;
}

/** CorePool#exportSnapshot of `raw`. */
function exportRecords(raw) {
  const count = raw.recordCount();
  const cols = new Float64Array(count * RECORD_COLUMNS);
  for (let at = 0; at < count; at += SNAPSHOT_PART) {
    const len = raw.exportSnapshot(at, SNAPSHOT_PART);
    cols.set(new Float64Array(memory.buffer, raw.outPtr(), len), at * RECORD_COLUMNS);
  }
  return cols;
}

/** CorePool#extraIds of `raw`. */
function extraIdsOf(raw) {
  const count = raw.recordCount() - raw.size;
  const parts = [];
  for (let at = 0; at < count; at += SNAPSHOT_PART) parts.push(textOf(raw, raw.extraIds(at, SNAPSHOT_PART)));
  return parts.join("\u0000");
}
