// Pool events: `pool.on(type, listener)` / `pool.off(type, listener)`. Payloads are plain,
// frozen objects built by the pool (ids, provider, model, reason, times, counts: never a
// key). A listener that throws (or returns a promise that rejects) is reported through
// the logger and never breaks the pool or the other listeners.

import { shownName } from "./errors.js";

export const EVENTS = Object.freeze(["cooldown", "recover", "disabled", "success", "failure", "exhausted", "persist-error"]);
const KNOWN = new Set(EVENTS);

export class Emitter {
  /** @type {Map<string, Function[]>} */
  #listeners = new Map();
  #report;
  /** Per event, whether anyone listens: a plain object of fixed shape, cheap to test on hot paths. */
  active = Object.fromEntries(EVENTS.map((t) => [t, false]));

  /** @param {(type: string, error: unknown) => void} report called when a listener fails */
  constructor(report) {
    this.#report = report;
  }

  static check(type, listener) {
    if (!KNOWN.has(type)) {
      // Not String(type): an object's toString may throw, or return anything.
      const shown = typeof type === "string" ? JSON.stringify(shownName(type)) : `(not a name: ${type === null ? "null" : typeof type})`;
      throw new TypeError(`unknown event ${shown} (expected one of ${EVENTS.join(", ")})`);
    }
    if (typeof listener !== "function") throw new TypeError("listener must be a function");
  }

  /** Adds a listener (the same function twice is called twice, as with EventEmitter). */
  on(type, listener) {
    Emitter.check(type, listener);
    const list = this.#listeners.get(type);
    if (list === undefined) this.#listeners.set(type, [listener]);
    else list.push(listener);
    this.active[type] = true;
  }

  /** Removes the most recently added registration of `listener`; true when there was one. */
  off(type, listener) {
    Emitter.check(type, listener);
    const list = this.#listeners.get(type);
    const i = list === undefined ? -1 : list.lastIndexOf(listener);
    if (i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) {
      this.#listeners.delete(type);
      this.active[type] = false;
    }
    return true;
  }

  /** Whether anyone listens to `type` (payloads are built only then). */
  has(type) {
    return this.active[type] === true;
  }

  emit(type, payload) {
    const list = this.#listeners.get(type);
    if (list === undefined) return;
    const event = Object.freeze(payload);
    for (const listener of list.slice()) {
      try {
        const r = listener(event);
        if (isThenable(r)) r.then(undefined, (e) => this.#report(type, e));
      } catch (e) {
        this.#report(type, e);
      }
    }
  }
}

/**
 * Calls the logger's `level` method with `text` (a function giving it: made only when there
 * is such a method), if it has one. A logger that throws, or an async one whose promise
 * rejects, must not break the pool (nor leave an unhandled rejection).
 */
export function logTo(logger, level, text) {
  try {
    const log = logger?.[level];
    if (typeof log !== "function") return;
    const r = log.call(logger, typeof text === "function" ? text() : text);
    if (isThenable(r)) r.then(undefined, () => {});
  } catch {
    // ignored: see above
  }
}

/** Whether a listener's or logger's return value is a promise (or any thenable). */
function isThenable(r) {
  return r !== null && typeof r === "object" && typeof r.then === "function";
}
