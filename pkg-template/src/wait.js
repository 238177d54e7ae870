// Waiting in `run` (both classes): a timer that an abort ends early, and for `Pool` one that
// a rest ending early ends too. Many runs waiting on one AbortSignal (an app-wide shutdown
// signal, say) share one listener on it: one each would pass EventTarget's limit of 10 and
// make Node warn of a leak while nothing leaks.

export const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this

/**
 * What an aborted call throws: the signal's reason, as `fetch` does (`abort(null)` too);
 * an AbortError when it has none (a `{ aborted: true }` object that is not an AbortSignal).
 */
export function abortReason(signal) {
  return signal.reason !== undefined ? signal.reason : abortError();
}

/** key-carousel 1's: a `null` reason became an AbortError as well (`LlmKeyPool` keeps that). */
export function abortReasonV1(signal) {
  return signal.reason ?? abortError();
}

const abortError = () => new DOMException("The operation was aborted.", "AbortError");

/** AbortSignal → the callbacks of the sleeps waiting on it, and the one listener calling them. */
const waiting = new WeakMap();

/**
 * Calls `fn` when `signal` aborts; returns the function that stops that. A signal that
 * cannot be listened to (a `{ aborted }` object some callers of v1 pass, which v1 listened
 * to only while sleeping through a rest) is not: its `aborted` is read where a run checks.
 */
export function onAbort(signal, fn) {
  if (typeof signal?.addEventListener !== "function") return () => {};
  let w = waiting.get(signal);
  if (w === undefined) {
    const fns = new Set();
    const fire = () => {
      waiting.delete(signal);
      for (const f of [...fns]) f();
    };
    w = { fns, fire };
    waiting.set(signal, w);
    signal.addEventListener("abort", fire, { once: true });
  }
  w.fns.add(fn);
  return () => {
    w.fns.delete(fn);
    if (w.fns.size === 0 && waiting.get(signal) === w) {
      waiting.delete(signal);
      signal.removeEventListener("abort", w.fire);
    }
  };
}

/**
 * Resolves after `ms` to false, or to true as soon as one of `wakers` (a Set the sleep adds
 * its wake-up to, for as long as it sleeps) is called; rejects with the signal's reason when
 * it aborts.
 * @param {number} ms
 * @param {AbortSignal | undefined} signal
 * @param {Set<() => void>} [wakers]
 * @param {(signal: AbortSignal) => unknown} [reasonOf] what an abort rejects with
 * @returns {Promise<boolean>}
 */
export function sleep(ms, signal, wakers, reasonOf = abortReason) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(reasonOf(signal));
    let timer;
    let stop;
    const end = () => {
      clearTimeout(timer);
      stop?.();
      wakers?.delete(wake);
    };
    const wake = () => {
      end();
      resolve(true);
    };
    let left = ms;
    const arm = () => {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      timer = setTimeout(() => {
        if (left > 0) return arm();
        end();
        resolve(false);
      }, step);
    };
    arm();
    if (signal !== undefined) {
      stop = onAbort(signal, () => {
        end();
        reject(reasonOf(signal));
      });
    }
    wakers?.add(wake);
  });
}

/**
 * How long a task may take to end after the caller's signal aborted before `run` stops
 * waiting for it: long enough for a task that listens to the signal (an SDK) to throw its own
 * abort error, which then propagates untouched.
 */
export const ABANDON_AFTER_MS = 100;

/**
 * `value` (what a task returned) as a promise that, once `signal` has aborted and the task
 * has not settled ABANDON_AFTER_MS later (it does not listen to the signal), rejects with
 * the signal's reason; `abandoned()` is called then, and `ended()` when the task settles at
 * last. Without a signal, `value` as it is.
 */
export function abandonOnAbort(value, signal, abandoned, ended) {
  if (signal === undefined) return value;
  return new Promise((resolve, reject) => {
    let timer;
    let gone = false;
    const arm = () => {
      timer = setTimeout(() => {
        gone = true;
        abandoned();
        reject(abortReason(signal));
      }, ABANDON_AFTER_MS);
    };
    // (Aborted already: by the task itself, synchronously.)
    const stop = signal.aborted ? (arm(), () => {}) : onAbort(signal, arm);
    const settle = (then) => (x) => {
      stop();
      clearTimeout(timer);
      if (gone) ended();
      else then(x);
    };
    Promise.resolve(value).then(settle(resolve), settle(reject));
  });
}
