// The loaded WebAssembly module. Each runtime entry (src/entries/) loads the module
// its own way and hands the wasm-bindgen exports to setCore(); everything else reaches
// them through core(), which fails with a clear error when used before that.
//
// CorePool is the core pool as the rest of the JS layer uses it. The module's exports
// return one number each (see src/wasm.rs: a failed call returns a sentinel, and what a
// call produces is left in a buffer of the pool); CorePool turns the sentinels into the
// errors users see — here, in one place — and copies the buffers out.

import { ConfigError } from "./errors.js";

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

export class CorePool {
  #raw;

  /**
   * A pool in `mode` (0 v2, 1 v1) with the cooldown settings (undefined: the default)
   * and `policy` (one byte per reason; empty: the mode's).
   */
  constructor(mode, maxRateLimitCooldownMs, billingBackoffMs, billingMaxMs, failureWindowMs, policy) {
    const raw = new (core().Pool)();
    this.#raw = raw;
    if (!raw.setup(mode, maxRateLimitCooldownMs, billingBackoffMs, billingMaxMs, failureWindowMs, policy)) {
      const e = this.#problem();
      raw.free();
      throw e;
    }
  }

  /** The error of the call that just failed: a `RangeError` or a `ConfigError` naming the field. */
  #problem() {
    const kind = this.#raw.problem();
    const text = this.#text();
    if (kind === 2) {
      const cut = text.indexOf("\u0000");
      return new ConfigError(text.slice(0, cut), text.slice(cut + 1));
    }
    return kind === 1 ? new RangeError(text) : new Error("key-carousel: the core failed without saying why");
  }

  #text() {
    const len = this.#raw.textLen();
    return len === 0 ? "" : utf8.decode(new Uint8Array(memory.buffer, this.#raw.textPtr(), len));
  }

  /** A copy of the first `len` numbers of the out buffer. */
  #out(len) {
    return new Float64Array(memory.buffer, this.#raw.outPtr(), len).slice();
  }

  free() {
    this.#raw.free();
  }

  get size() {
    return this.#raw.size;
  }

  addProfile(id, provider, fallback, position) {
    const idx = this.#raw.addProfile(id, provider, fallback, position);
    if (idx < 0) throw this.#problem();
    return idx;
  }

  addProfiles(ids, idLens, providers, providerLens, provider, fallback, positions) {
    const first = this.#raw.addProfiles(ids, idLens, providers, providerLens, provider, fallback, positions);
    if (first < 0) throw this.#problem();
    return first;
  }

  configure(strategy, weights, transient, long) {
    if (!this.#raw.configure(strategy, weights, transient, long)) throw this.#problem();
  }

  modelIndex(name) {
    const m = this.#raw.modelIndex(name);
    if (m < 0) throw this.#problem();
    return m;
  }

  providerIndex(provider) {
    return this.#raw.providerIndex(provider);
  }

  /** A profile index, or -1 when every profile rests. */
  acquire(now, preferred, model, sticky) {
    const idx = this.#raw.acquire(now, preferred, model, sticky);
    if (idx === -2) throw this.#problem();
    return idx;
  }

  /** The rests that ended: profile, model index (2^32 − 1: the profile's own), ... */
  takeRecovered(now, track) {
    const len = this.#raw.takeRecovered(now, track);
    if (len < 0) throw this.#problem();
    return len === 0 ? [] : this.#out(len);
  }

  succeed(idx, now, lease, model) {
    if (!this.#raw.succeed(idx, now, lease, model)) throw this.#problem();
  }

  fail(idx, now, reasonCode, retryAfterMs, lease, model) {
    const cd = this.#raw.fail(idx, now, reasonCode, retryAfterMs, lease, model);
    if (cd !== cd) throw this.#problem();
    return cd;
  }

  lastFailure() {
    return this.#raw.lastFailure();
  }

  release(idx) {
    if (!this.#raw.release(idx)) throw this.#problem();
  }

  clearCooldown(idx, now) {
    if (!this.#raw.clearCooldown(idx, now)) throw this.#problem();
  }

  isCooling(idx, now) {
    const r = this.#raw.isCooling(idx, now);
    if (r < 0) throw this.#problem();
    return r === 1;
  }

  waitMs(now, model) {
    const ms = this.#raw.waitMs(now, model);
    if (ms !== ms) throw this.#problem();
    return ms;
  }

  errorCount(idx) {
    const n = this.#raw.errorCount(idx);
    if (n < 0) throw this.#problem();
    return n;
  }

  importSnapshot(ids, cols, now) {
    const n = this.#raw.importSnapshot(ids, cols, now);
    if (n < 0) throw this.#problem();
    return n;
  }

  exportSnapshot() {
    return this.#out(this.#raw.exportSnapshot());
  }

  extraIds() {
    this.#raw.extraIds();
    return this.#text();
  }

  /**
   * The status columns at `now` (see STATUS_MAX_COLUMNS in src/wasm.rs and src/status.rs), as a view of the
   * module's memory: read it before the next call into the module. The core keeps its
   * status buffer at one address while its length stays the same, so `previous` (the
   * view this returned last time) is reused until the length changes or the memory grows
   * (which detaches it: its length becomes 0).
   */
  statusColumns(now, previous) {
    const len = this.#raw.status(now);
    if (len === 0) throw new RangeError(`time must be a finite number of ms in [0, 2^53], got ${now}`);
    if (previous !== null && previous !== undefined && previous.length === len) return previous;
    return new Float64Array(memory.buffer, this.#raw.statusPtr(), len);
  }
}
