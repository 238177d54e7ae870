// When a pool's state is loaded and saved. The pool tells the Persister what changed
// (`change(urgent)`); the Persister decides when to write:
// - a failure (urgent) is written at once: one write in flight at a time, changes made
//   meanwhile go into the next write, which starts as soon as this one ends, or for a large
//   state once WORK_SPACING times the last write's own work has passed, 1 s at most (so
//   writing does not keep the event loop busy all the time; `flush()` and LlmKeyPool's
//   inline write are not spaced);
// - success-only changes (lastUsed/lastSuccess, a success ending a cooldown) are coalesced:
//   at most one write per `intervalMs` (default 1 s);
// - a write that fails is reported through the logger (error) and retried with backoff
//   (intervalMs but at least 0.1 s, doubling, at most 30 s), and on `flush()`; since every
//   write carries the whole state and stores merge, the store converges once it works again;
// - nothing pending is lost when the process ends by running out of work: a `beforeExit`
//   listener (Node, Bun, Deno's Node compatibility) flushes. `process.exit()` and signals
//   cannot wait for I/O: there, what was not yet written (at most `intervalMs` of
//   success-only changes; failures are written within milliseconds) is lost, and the
//   logger says so. Call `await pool.flush()` (or `close()`) before `process.exit()`.
// - a `run` that recorded a failure settles once the write carrying it has ended (`saved`),
//   so a script that calls process.exit() on the run's error (as v1's runs allowed: they
//   awaited each failure's write) keeps it; it waits at most SAVE_WAIT_MS (plus, for a large
//   state, what the spaced writes ahead of it take), and not at all
//   while the store is failing (the write is retried in the background).
// Timers are unref'd where the runtime has it: a pending save never keeps a process alive.

import { storeErrorText } from "./errors.js";
import { BYTES, WRITER } from "./protocol.js";
import { CorruptState, RECORD_COLUMNS, SnapshotBytes, parseState, toSnapshot } from "./snapshot.js";
import { onAbort, sleep } from "./wait.js";

const MAX_BACKOFF_MS = 30_000;
/** The first retry of a failed write waits at least this long (also with `saveIntervalMs: 0`). */
const MIN_RETRY_MS = 100;
/**
 * A read or write of the store under way this long is taken as lost: a store that never
 * answers (a half-open connection, a client with no command timeout), or a Worker's request
 * that ended with the I/O in flight (Workers cancel its timers and promise callbacks). A lost
 * write counts as a failed one: it is logged and tried again, and `flush()` stops waiting.
 */
export const LOST_MS = 30_000;
/** The least time between two reads of `refresh` (runs waiting for a rest ask every 2 s each). */
const REFRESH_GAP_MS = 1000;
/**
 * How many more writes `close()` makes for changes that came while its flush wrote (runs
 * still in flight): each is one round trip, and a pool that keeps changing would keep it open.
 */
const CLOSE_ROUNDS = 3;
/**
 * A write keeps the event loop busy for its own work (merging what the store holds into the
 * pool, building what it writes, its text included): with the file store, about 0.2 ms for a
 * few keys, 2.4 ms for 10,000 and 15 ms for 100,000 when the file holds the pool's last write
 * (nothing to merge; only changed records serialised again), 14 and 200 ms when another
 * process wrote since. The next write starts no sooner than this many times that long after
 * the last one ended, so that however large the state, writing a storm of failures (changes
 * made meanwhile go into that write) keeps the loop busy a fraction of the time instead of
 * all of it, as back-to-back writes did.
 */
export const WORK_SPACING = 4;
/**
 * A state of fewer records than this (profiles, model rests, others' ids) is written at once,
 * as before writes were spaced: its work is well under a millisecond, and deciding by the
 * state's size rather than by a time measured makes that so whatever a pause of the process
 * (a collection, a slow machine) adds to one write. No spacing is longer than MAX_SPACING_MS
 * (~100,000 profiles reach it).
 */
const SPACED_FROM_RECORDS = 1000;
const MAX_SPACING_MS = 1000;
/** How long a run that recorded a failure waits, at most, for the write carrying it. */
export const SAVE_WAIT_MS = 1000;
const SAVED = Promise.resolve();
/** How long runs wait for the first load of the state before they go on without it. */
export const FIRST_LOAD_WAIT_MS = 5000;

let makeFileStore = null;

/** Set by runtime entries that have a file system: what `storagePath` means. */
export function setFileStore(factory) {
  makeFileStore = factory;
}

export function fileStoreFactory() {
  return makeFileStore;
}

/**
 * Persisters with unsaved changes, for the exit hooks: their `ref`s, weak where the runtime
 * has WeakRef, so a pool dropped while its store fails is collected (with its wasm memory)
 * instead of being kept, and retried, for ever.
 */
const pending = new Set();
let hooked = false;

/** The persisters in `pending` that are still alive (forgetting the collected ones). */
function* pendingPersisters() {
  for (const ref of pending) {
    const p = ref.deref();
    if (p === undefined) pending.delete(ref);
    else yield p;
  }
}

function hookExit() {
  if (hooked) return;
  hooked = true;
  // Deno.exit() emits no "exit" on Deno's `process`, but an "unload" event (as does an
  // ordinary end; reportLost says it once).
  if (typeof globalThis.Deno === "object" && typeof globalThis.addEventListener === "function") {
    globalThis.addEventListener("unload", () => {
      for (const p of pendingPersisters()) p.reportLost();
    });
  }
  const proc = globalThis.process;
  if (typeof proc?.on !== "function") return;
  // The event loop is empty: write what is pending (once per persister, so a store that
  // keeps failing cannot keep the process alive).
  proc.on("beforeExit", () => {
    for (const p of pendingPersisters()) {
      if (p.exitFlushTried) continue;
      p.exitFlushTried = true;
      p.flush(false).catch(() => {}); // already reported through the logger
    }
  });
  proc.on("exit", () => {
    for (const p of pendingPersisters()) p.reportLost();
  });
}

/** Lets the process end while `timer` is pending (Node, Bun: `unref()`; Deno: a timer id). */
export function unref(timer) {
  if (typeof timer === "object" && typeof timer?.unref === "function") timer.unref();
  else if (typeof timer === "number" && typeof globalThis.Deno?.unrefTimer === "function") globalThis.Deno.unrefTimer(timer);
  return timer;
}

/**
 * A read or write of the store under way. It ends once, with `finish(error?)`: when the store
 * answers, or when it is taken as lost (`lose()`), LOST_MS after it started, as noticed by
 * its own timer or by a later call (Persister#giveUpLost). Ending runs `end` synchronously in
 * whoever ends it, never in a callback chained in the request that started it: Workers
 * cancel the timers and promise callbacks of a request that ended, and a later request must
 * still be able to end the op and go on.
 */
class StoreOp {
  /** `armed`: its own timer starts now (else at `restart`: a write waiting for the first load). */
  constructor(what, end, armed = true) {
    this.what = what;
    this.end = end;
    this.started = Date.now();
    this.over = false;
    this.error = undefined;
    this.waiters = [];
    /** A write's own synchronous work so far (ms; see WORK_SPACING). */
    this.work = 0;
    this.timer = armed ? this.#arm() : null;
  }

  /** Its own timer: LOST_MS from now. */
  #arm() {
    return unref(setTimeout(() => this.lose(), LOST_MS));
  }

  /** Ends the op (once; false when it had ended already), then tells the waiters. */
  finish(error) {
    if (this.over) return false;
    this.over = true;
    this.error = error;
    clearTimeout(this.timer);
    this.end(error);
    for (const wake of this.waiters.splice(0)) wake();
    return true;
  }

  lose() {
    this.finish(new Error(`${this.what} did not answer in ${LOST_MS / 1000} s: taken as lost`));
  }

  /** Starts the LOST_MS again: the store is asked only now (a write waited for the first load). */
  restart() {
    if (this.over) return;
    clearTimeout(this.timer);
    this.started = Date.now();
    this.timer = this.#arm();
  }

  /**
   * A promise of the caller's own (not one made by the request that started the op) that
   * resolves when the op ends, at the latest LOST_MS after it started, through a timer of
   * the caller's own. Never rejects. `keepAlive`: the timer keeps the process alive (a caller
   * awaits the op: `flush()`, `init()`; the op's promise may hold no handle of its own), else
   * it is unref'd (the exit hook's flush, the waits of runs, which have timers of their own,
   * must not keep a process alive).
   */
  settled(keepAlive = false) {
    if (this.over) return DONE;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.lose(), Math.max(0, this.started + LOST_MS - Date.now()));
      if (!keepAlive) unref(timer);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
const DONE = Promise.resolve();

/** What `fn()` returns as a promise, or its synchronous throw as a rejection. */
function attempt(fn) {
  return new Promise((resolve) => resolve(fn()));
}

/**
 * While runs wait for a rest to end, the stored state is read this often: a rest another
 * process (or the CLI's `clear`) ended shows, and wakes them, even though a pool whose every
 * key rests writes nothing (a write is when it otherwise learns what others stored).
 */
export const REFRESH_WHILE_WAITING_MS = 2000;

/**
 * Asks `persister` to read the stored state every REFRESH_WHILE_WAITING_MS until `waiting`
 * settles (its import wakes the waiting runs: see `imported`; Persister.refresh reads one
 * at a time, and not while the store fails). A timer of each waiting run's own, not one of
 * the pool's: Workers cancel the timers of a request when it ends, so a pool-wide one made
 * in an earlier request would be gone. Unref'd: the run's own wait keeps the process alive.
 */
export function refreshWhile(waiting, persister) {
  let timer;
  const tick = () => {
    persister.refresh();
    if (!persister.closed) timer = unref(setTimeout(tick, REFRESH_WHILE_WAITING_MS));
  };
  timer = unref(setTimeout(tick, REFRESH_WHILE_WAITING_MS));
  const stop = () => clearTimeout(timer);
  waiting.then(stop, stop);
}

/** What a merge throws to stop a store's write until a bad stored value's copy is kept. */
const KEEP_FIRST = new Error("key-carousel: the stored value is copied before it is overwritten");

/**
 * The second argument of a store's `merge(stored, FOUND)` for a bad value it has copied
 * aside itself and only reports (the Redis store): the merge does not stop for it.
 */
export const FOUND = "found";

export class Persister {
  /**
   * @param {object} o
   * @param {object} o.store the storage adapter or the user's `{ load, save }`
   * @param {StateLink} o.link moves state between the pool's core and stored form
   * @param {(level: string, msg: string) => void} o.log
   * @param {number} o.intervalMs
   * @param {(operation: "load" | "save", error: unknown, attempt: number) => void} [o.onError]
   *   told of every failed load or save (the pool's "persist-error" event)
   */
  constructor({ store, link, log, intervalMs, onError }) {
    this.store = store;
    this.onError = onError;
    this.absorb = (raw) => link.absorb(raw);
    this.absorbReply = (raw) => link.absorbReply(raw);
    /** How `pending` and the write timer hold this persister: weakly where the runtime can. */
    this.ref = typeof WeakRef === "function" ? new WeakRef(this) : { deref: () => this };
    /** Stands for this pool in its writes' context (WRITER); holds nothing. */
    this.writerToken = Object.freeze({});
    this.snapshot = (timed) => link.snapshot(timed);
    /** How many records the last snapshot held. */
    this.records = () => link.records;
    this.now = () => link.now();
    this.log = log;
    this.intervalMs = intervalMs;
    this.name = typeof store.name === "string" ? store.name : "storage";
    /** 0 clean, 1 success-only changes, 2 a failure to write at once. */
    this.dirty = 0;
    /** The read (first load or reload) and the write in flight (StoreOp), or null. */
    this.loadOp = null;
    this.writeOp = null;
    this.timer = null;
    this.due = Infinity;
    /**
     * How long the last write's own work kept the event loop busy (ms; see WORK_SPACING),
     * how long that write took from its start to its end (at most SAVE_WAIT_MS), and when
     * it ended (Date.now ms).
     */
    this.lastWork = 0;
    this.lastWriteMs = 0;
    this.lastWriteAt = -Infinity;
    /** How many records the last write held (see SPACED_FROM_RECORDS). */
    this.lastRecords = 0;
    this.failures = 0;
    this.loaded = false;
    /** Whether the first load has started. */
    this.loadStarted = false;
    /**
     * `refresh`: when its read under way started (0: none); when the next may start; the
     * text it last merged (kept only by a pool whose runs have waited); failed reads in a row.
     */
    this.refreshing = 0;
    this.nextRefresh = 0;
    this.lastRefreshed = undefined;
    this.refreshFailures = 0;
    /**
     * The value the last read found is bad and its copy is not kept: a store without
     * `update` (whose `save` replaces the value) is not saved to before it is.
     */
    this.unkeptBad = false;
    /** When runs stop waiting for the first load (Date.now ms; set by the first run). */
    this.loadDeadline = undefined;
    /** A run's wait for the first load ran out: later runs do not wait. */
    this.loadWaitOver = false;
    this.closed = false;
    /** The promise of `close()` once called. */
    this.closing = null;
    /** A change around close() was not saved (logged once: see #dropped). */
    this.droppedAfterClose = false;
    this.exitFlushTried = false;
    /** Urgent changes so far, and how many of them the writes that ended carried. */
    this.urgentSeq = 0;
    this.savedSeq = 0;
    /** All changes so far, and how many of them the writes that worked carried (for flush). */
    this.changeSeq = 0;
    this.flushedSeq = 0;
    /** The write in flight when a run's wait for one ran out (see #stuck). */
    this.hungWrite = null;
    /** Runs waiting for a write (see `saved`): { seq, done }. */
    this.savers = [];
    hookExit();
  }

  /**
   * The urgent change a run that just recorded a failure must see written (for `saved`):
   * the latest, when some urgent change is not written yet; else 0 (nothing to wait for).
   */
  unsavedUrgent() {
    return this.urgentSeq > this.savedSeq ? this.urgentSeq : 0;
  }

  /**
   * Starts writing what is pending now rather than at its timer (due at once for a failure),
   * unless a write is under way or the store is failing (its retry keeps its time). For a
   * caller about to wait for the write that key-carousel 1.1.0 made inline: the write then
   * needs no timer to fire, as under fake timers. Not spaced (WORK_SPACING): v1 wrote every
   * failure before it tried the next key.
   */
  writeNow() {
    if (this.closed || this.dirty === 0 || this.writeOp !== null || this.failures > 0) return;
    this.#write();
  }

  /**
   * Resolves once a write that carries urgent change `seq` (a `urgentSeq` read after it)
   * has ended, whether it worked or failed (a failed one is logged and retried); at once when
   * it has, when the store is failing now or the persister is closed; after SAVE_WAIT_MS
   * at most (for a large state, plus what the writes ahead of it take: see #aheadMs), or
   * once `signal` aborts. Never rejects.
   */
  saved(seq, signal) {
    if (this.savedSeq >= seq || this.failures > 0 || this.closed || this.#stuck() || signal?.aborted) return SAVED;
    return new Promise((resolve) => {
      const waiter = { seq, done: null, extend: null };
      // Not unref'd: the run is waiting on it (a store whose write holds no handle of its
      // own must not let the process end with the run unsettled); 1 s at most (see #aheadMs
      // for a large state).
      const persister = this;
      // Named by a property key, which the minified build keeps: the model-based tests'
      // fake timers tell this wait from the pool's others by its name.
      const { saveWaitOver } = {
        saveWaitOver() {
          persister.hungWrite = persister.writeOp;
          waiter.done();
        },
      };
      const wait = SAVE_WAIT_MS + this.#aheadMs();
      let timer = setTimeout(saveWaitOver, wait);
      let deadline = Date.now() + wait;
      let extended = false;
      // Once at most (a write that ended told it what the next one takes), and never sooner.
      waiter.extend = (ms) => {
        if (extended || Date.now() + ms <= deadline) return;
        extended = true;
        clearTimeout(timer);
        deadline = Date.now() + ms;
        timer = setTimeout(saveWaitOver, ms);
      };
      let stop;
      waiter.done = () => {
        clearTimeout(timer);
        stop?.();
        const i = this.savers.indexOf(waiter);
        if (i >= 0) this.savers.splice(i, 1);
        resolve();
      };
      // The caller's abort ends the wait at once (the write goes on).
      if (signal !== undefined) stop = onAbort(signal, waiter.done);
      this.savers.push(waiter);
    });
  }

  /**
   * Whether a run's wait for the write in flight ran out: the store does not answer (Redis
   * down behind a client's offline queue); later runs do not wait for that write.
   */
  #stuck() {
    return this.writeOp !== null && this.writeOp === this.hungWrite;
  }

  /** A write carrying urgent changes up to `seq` ended: wake the runs it concerns. */
  #wroteThrough(seq) {
    if (this.savers.length === 0) return;
    for (const w of this.savers.filter((w) => w.seq <= seq)) w.done();
  }

  /**
   * Loads the stored state once; never rejects (a failure is logged, the pool starts fresh).
   * `keepAlive`: see StoreOp#settled.
   */
  load(keepAlive = false) {
    this.#giveUpLost();
    if (!this.loadStarted) {
      this.loadStarted = true;
      this.#load();
    }
    return this.loadOp === null ? DONE : this.loadOp.settled(keepAlive);
  }

  /**
   * Takes a read or write in flight for LOST_MS as lost, when its own timer did not fire: it
   * then fails, and what it carried is retried.
   */
  #giveUpLost() {
    const now = Date.now();
    if (this.loadOp !== null && now - this.loadOp.started >= LOST_MS) this.loadOp.lose();
    if (this.writeOp !== null && now - this.writeOp.started >= LOST_MS) this.writeOp.lose();
  }

  /**
   * What a `run` waits for before its first pick: the first load, until FIRST_LOAD_WAIT_MS
   * after the first run began waiting for it (a store that does not answer, e.g. Redis down with
   * the client's offline queue, must not stop every call: they go on with what the pool
   * knows, and the state is merged in when it arrives). Rejects with the signal's reason
   * when it aborts first.
   */
  waitLoaded(signal) {
    const loading = this.load();
    if (this.loaded) return loading;
    // Bounded by FIRST_LOAD_WAIT_MS even when the wall clock steps back; once a wait has
    // run out, no run waits again.
    const now = Date.now();
    this.loadDeadline ??= now + FIRST_LOAD_WAIT_MS;
    const left = this.loadWaitOver ? 0 : Math.min(FIRST_LOAD_WAIT_MS, this.loadDeadline - now);
    // Not waiting: the run checks its signal next.
    if (left <= 0) return Promise.resolve();
    const wakers = new Set();
    loading.then(() => {
      for (const wake of [...wakers]) wake();
    });
    return sleep(left, signal, wakers).then((woken) => {
      if (woken || this.loaded || this.loadWaitOver) return;
      this.loadWaitOver = true;
      this.log("warn", `key-carousel: loading state from ${this.name} has not answered in ${FIRST_LOAD_WAIT_MS / 1000} s; runs go on without it (it is merged in when it answers)`);
    });
  }

  /** Loads the stored state again and merges it in (the first time: `load`). */
  reload(keepAlive = false) {
    if (!this.loadStarted || !this.loaded) return this.load(keepAlive);
    return this.#load(false).settled(keepAlive);
  }

  /** Starts a read of the stored state (see load); returns its StoreOp. */
  #load(first = true) {
    const op = new StoreOp(`loading state from ${this.name}`, (e) => this.#loaded(op, e, first));
    this.loadOp = op;
    attempt(() => this.store.load())
      .then((raw) => this.#absorbRead(raw))
      .then(
        (ok) => {
          // Merged even when it came after the read was taken as lost.
          this.unkeptBad = !ok;
          op.finish(undefined);
        },
        (e) => op.finish(e),
      );
    return op;
  }

  /** A read ended: `e` when it failed or was taken as lost. */
  #loaded(op, e, first) {
    if (this.loadOp === op) this.loadOp = null;
    if (e !== undefined) {
      // The store is unreachable (not: its content is bad; absorb handles that). Runs go
      // on with a fresh state; a store without `update` is read again before each save, so
      // the stored state is not overwritten unread.
      this.log("error", `key-carousel: loading state from ${this.name} failed${first ? ", starting fresh" : ""}: ${storeErrorText(e)}`);
      this.onError?.("load", e, 1);
    }
    this.loaded = true;
  }

  /**
   * Reads the stored state and merges it in (what another process or the CLI wrote): at
   * most once per REFRESH_GAP_MS however many runs wait and ask, one read at a time, after a
   * failed read only once its backoff is over (2 s, doubling to 30 s), and not before the
   * first load has ended, while the store's writes fail (they are retried) or once closed. A
   * text the last read merged is not merged again (merging wakes every waiting run). Writes
   * and `flush()` do not wait for it; never rejects (a failed read is logged).
   */
  refresh() {
    const now = Date.now();
    // A read under way for LOST_MS is taken as lost; a time set further ahead than the
    // longest backoff is from before the wall clock stepped back.
    const reading = this.refreshing !== 0 && now >= this.refreshing && now - this.refreshing < LOST_MS;
    if (this.nextRefresh - now > MAX_BACKOFF_MS) this.nextRefresh = now;
    if (reading || now < this.nextRefresh || !this.loaded || this.failures > 0 || this.closed) return;
    const started = (this.refreshing = now); // before the read: a store may throw synchronously
    this.nextRefresh = now + REFRESH_GAP_MS;
    (async () => {
      try {
        const raw = await this.store.load();
        this.refreshFailures = 0;
        if (typeof raw === "string" && raw === this.lastRefreshed) return;
        this.unkeptBad = !(await this.#absorbRead(raw));
        this.lastRefreshed = typeof raw === "string" ? raw : undefined;
      } catch (e) {
        this.refreshFailures++;
        this.nextRefresh = Date.now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.refreshFailures);
        this.log("warn", `key-carousel: reading state from ${this.name} failed: ${storeErrorText(e)}`);
        this.onError?.("load", e, this.refreshFailures);
      } finally {
        if (this.refreshing === started) this.refreshing = 0;
      }
    })();
  }

  /**
   * A change that asks for no write of its own: a call's pick (the key's lastUsed). The next
   * write carries it, and a flush() or close() meanwhile writes it. A write at the pick would
   * hold back the write of the call's failure, a moment later, in stores that space their
   * writes (Workers KV: 1 s), and the call with it.
   */
  touch() {
    if (this.closed) return;
    this.changeSeq++;
    if (this.dirty !== 0) return;
    this.dirty = 1;
    pending.add(this.ref);
    this.exitFlushTried = false;
  }

  /** Something changed; `urgent`: a failure or cleared cooldown, written at once. */
  change(urgent) {
    if (this.closed) {
      // A failure of a run still in flight at close() is dropped, but not silently.
      this.#dropped(`the pool was closed: changes made after close() are not saved to ${this.name}`);
      return;
    }
    this.changeSeq++;
    if (urgent) this.urgentSeq++;
    this.#giveUpLost();
    const level = urgent ? 2 : 1;
    // (An urgent change also checks that the timer is not lost: see #timerLost.)
    if (this.dirty >= level && (this.writeOp !== null || (this.timer !== null && !(urgent && this.#timerLost())))) return;
    if (this.dirty < level) this.dirty = level;
    pending.add(this.ref);
    this.exitFlushTried = false;
    if (this.writeOp === null) this.#schedule();
  }

  /** Runs `f`, write `op`'s own work (synchronous), adding the time it takes to `op.work`. */
  static #working(op, f) {
    const t = Date.now();
    try {
      return f();
    } finally {
      op.work += Math.max(0, Date.now() - t);
    }
  }

  /**
   * `#working` for the work a snapshot leaves for later (its records, its JSON), which may
   * run inside one another (the JSON reads the records): timed once, by the outermost.
   */
  static #timer(op) {
    let inside = false;
    return (make) => {
      if (inside) return make();
      inside = true;
      try {
        return Persister.#working(op, make);
      } finally {
        inside = false;
      }
    };
  }

  /** How long after the last write the next one waits, by that write's own work (WORK_SPACING). */
  #spacingMs() {
    return this.lastRecords < SPACED_FROM_RECORDS ? 0 : Math.min(MAX_SPACING_MS, WORK_SPACING * this.lastWork);
  }

  /**
   * How much longer than SAVE_WAIT_MS a run waits for its failure's write when the writes
   * are spaced (a large state): the spacing and two writes (one under way, then its own).
   * So the bound of SAVE_WAIT_MS is on a write that does not answer, not on the state's size.
   */
  #aheadMs() {
    const spacing = this.#spacingMs();
    return spacing === 0 ? 0 : spacing + 2 * this.lastWriteMs;
  }

  /**
   * How long from `now` the next write waits: for the interval of success-only changes, the
   * retry of a failing store, the spacing of a large state's writes. Each wait is counted
   * from the end of the last write and is never longer than its own length: a clock set back
   * (the system's, or fake timers installed or removed) does not hold the next write back by
   * the time it went back (it did for success-only changes and retries, at the last write's
   * time plus their wait).
   */
  #waitMs(now) {
    const since = Math.max(0, now - this.lastWriteAt);
    return Math.max(
      0,
      this.dirty === 2 ? 0 : this.intervalMs - since,
      this.failures > 0 ? this.#retryMs() - since : 0,
      this.#spacingMs() - since,
    );
  }

  /** The wait before retrying after `failures` failed writes: from `intervalMs` (at least
   * MIN_RETRY_MS), doubling, at most MAX_BACKOFF_MS. */
  #retryMs() {
    return Math.min(MAX_BACKOFF_MS, Math.max(this.intervalMs, MIN_RETRY_MS) * 2 ** Math.min(this.failures - 1, 30));
  }

  #schedule() {
    if (this.dirty === 0 || this.closed) return;
    const now = Date.now();
    const at = now + this.#waitMs(now);
    if (this.timer !== null) {
      if (this.due <= at && !this.#timerLost()) return;
      clearTimeout(this.timer);
    }
    this.due = at;
    // Through the weak ref: a pending write (a retry, while the store fails) does not keep a
    // dropped pool alive; the timer of one that was collected forgets its entry in `pending`.
    const ref = this.ref;
    this.timer = unref(setTimeout(() => {
      const p = ref.deref();
      if (p === undefined) {
        pending.delete(ref);
        return;
      }
      p.timer = null;
      p.due = Infinity;
      p.#write(); // its failure is reported through the logger
    }, Math.max(0, at - now)));
  }

  /**
   * Whether the write timer is past its time without having fired: Cloudflare Workers cancel
   * the timers a request set when it ends (a Worker that did not `waitUntil(flush())`, say
   * because its `run` threw), so it never will, and a failure that trusted it was not written.
   * Elsewhere a timer past its time fires soon; replacing it costs nothing.
   */
  #timerLost() {
    return this.timer !== null && Date.now() > this.due;
  }

  /** Starts one write of the whole state; returns its StoreOp (`error`: why it failed). */
  #write() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.due = Infinity;
    }
    const level = this.dirty;
    this.dirty = 0;
    const carries = this.urgentSeq;
    const carriesAll = this.changeSeq;
    // Its own timer starts once the first load has ended (#writeNow): a write waiting for a
    // load that does not answer is not the one to report. (A later call still takes it as
    // lost by its age, if the request that started it ended: see #giveUpLost.)
    const op = new StoreOp(`saving state to ${this.name}`, (e) => this.#wrote(e, level, carries, carriesAll, op), this.loaded);
    this.writeOp = op;
    this.#writeNow(op).then(
      () => {
        // A write taken as lost that lands after all may have put back an older state than
        // a later write did (a `{ load, save }` store): write again.
        if (!op.finish(undefined) && !this.closed) this.change(false);
      },
      (e) => op.finish(e),
    );
    return op;
  }

  /** A write ended: `e` when it failed or was taken as lost. */
  #wrote(e, level, carries, carriesAll, op) {
    this.lastWriteAt = Date.now();
    this.lastWriteMs = Math.min(SAVE_WAIT_MS, Math.max(0, this.lastWriteAt - op.started));
    this.lastWork = op.work;
    this.lastRecords = this.records();
    if (e === undefined) {
      if (this.failures > 0) this.log("info", `key-carousel: saving state to ${this.name} works again`);
      this.failures = 0;
      this.savedSeq = Math.max(this.savedSeq, carries);
      this.flushedSeq = Math.max(this.flushedSeq, carriesAll);
    } else {
      this.dirty = Math.max(this.dirty, level);
      this.failures++;
      const retry = this.#waitMs(this.lastWriteAt);
      this.log(
        "error",
        `key-carousel: saving state to ${this.name} failed (attempt ${this.failures}; retrying in ${Math.round(retry / 100) / 10}s): ${storeErrorText(e)}`,
      );
      this.onError?.("save", e, this.failures);
    }
    this.writeOp = null;
    // A failed write wakes every waiting run: the store is failing, the retry comes later.
    this.#wroteThrough(e !== undefined ? Infinity : carries);
    // The runs still waiting wait for a later write, spaced by this one's figures, which their
    // waits did not know when they began (a process's first write, or a heavier one).
    const ahead = this.#aheadMs();
    if (ahead > 0) for (const w of this.savers) w.extend(SAVE_WAIT_MS + ahead);
    if (this.dirty === 0) pending.delete(this.ref);
    else this.#schedule();
  }

  async #writeNow(op) {
    await this.load();
    op.restart();
    const store = this.store;
    if (typeof store.update === "function") {
      // A bad stored value is not overwritten before its copy is kept: the merge stops the
      // store's write (throws), the copy is awaited, and the write starts again.
      for (let attempt = 1; ; attempt++) {
        let keeping;
        try {
          // The pool's clock: a store that merges on its side forgets by it what the pool
          // forgets (records of ids it does not have, 30 days past their last time); none
          // when it reads badly (then nothing is forgotten).
          const now = this.now();
          const context = now === undefined ? {} : { now };
          context[WRITER] = this.writerToken;
          const result = await store.update(
            (stored, found) =>
              Persister.#working(op, () => {
                const copy = this.absorb(stored);
                // FOUND: a value the store already copied aside itself and reports (a Redis
                // script, which merges on the server): nothing to stop.
                if (copy !== undefined && found !== FOUND) {
                  keeping = copy;
                  throw KEEP_FIRST;
                }
                return this.snapshot(Persister.#timer(op));
              }),
            context,
          );
          // A store that merged on its side (a Redis script: it called merge(null) for the
          // pool's state) returns what it holds now.
          if (result !== undefined && result !== null) Persister.#working(op, () => this.absorbReply(result));
          return;
        } catch (e) {
          if (keeping === undefined) throw e;
          if (!(await keeping)) throw this.#notOverwritten();
          // Another bad value each time (a writer that keeps storing them): retried later.
          if (attempt >= 3) throw new Error(`the state stored in ${this.name} was unusable ${attempt} times in a row`);
        }
      }
    }
    // Read before each save (SPEC §7: writers merge with what is stored): what other writers
    // stored since is merged in rather than overwritten (was: merged only with the state
    // loaded at start, so the last writer won), and a bad value is overwritten only once its
    // copy is kept (it may have been replaced meanwhile; if not, its copy is tried again).
    // Not atomic: a write between this read and the save is still lost (`update` is not).
    const stored = await store.load();
    this.unkeptBad = !(await Persister.#working(op, () => this.#absorbRead(stored)));
    if (this.unkeptBad) throw this.#notOverwritten();
    const timed = Persister.#timer(op);
    await store.save(timed(() => this.snapshot(timed)));
  }

  /** Merges a value read from the store; resolves to whether it may be overwritten (see StateLink#bad). */
  async #absorbRead(raw) {
    const copy = this.absorb(raw);
    return copy === undefined || (await copy);
  }

  #notOverwritten() {
    return new Error(`the state stored in ${this.name} is unusable and no copy of it could be kept: not overwritten`);
  }

  /**
   * Writes every change made before the call; rejects when that write failed. Changes made
   * meanwhile (a busy pool makes them all the time) are left to the usual schedule: a flush
   * that waited for those too would never end under load, writing back to back.
   * `keepAlive` (a caller awaits it): the process stays alive until the write ends or is
   * lost (LOST_MS), whether or not the store's promise holds a handle; the exit hook's flush
   * does not keep it.
   */
  async flush(keepAlive = true) {
    // Closed (its store too): nothing more is written, whatever a failed close left.
    if (this.closed) return;
    const target = this.changeSeq;
    await this.load(keepAlive);
    for (;;) {
      if (this.flushedSeq >= target) return;
      const mine = this.writeOp === null;
      if (mine && this.dirty === 0) return;
      // A write that started before this flush and failed: this flush tries again (above).
      const op = mine ? this.#write() : this.writeOp;
      await op.settled(keepAlive);
      if (mine && op.error !== undefined) throw op.error;
    }
  }

  /**
   * Flushes, then stops: no more timers, no more writes. Once: a second call (another
   * shutdown hook) gets the first one's promise, and the store is closed once.
   */
  close() {
    this.closing ??= (async () => {
      let flushed = false;
      try {
        await this.flush();
        // Changes made while that write ran (a run still in flight failing): written too,
        // for a few rounds; a pool still busy after them gets the warning below.
        for (let round = 0; round < CLOSE_ROUNDS && this.dirty !== 0; round++) await this.flush();
        flushed = true;
      } finally {
        // A write that failed (Pool's close() rejects with its error): the retry its error
        // promised is not made.
        if (!flushed) this.#dropped(`close() could not save the pool's last changes to ${this.name} (the write failed); they are not saved, and no write is retried`);
        else if (this.dirty !== 0) this.#dropped(`the pool was closed while it was still changing: changes made during close() are not saved to ${this.name}`);
        this.closed = true;
        this.#wroteThrough(Infinity);
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        pending.delete(this.ref);
        await this.store.close?.();
      }
    })();
    return this.closing;
  }

  /** Warns, once for the pool, that changes around `close()` are not saved (`text` says which). */
  #dropped(text) {
    if (this.droppedAfterClose) return;
    this.droppedAfterClose = true;
    this.log("warn", `key-carousel: ${text}`);
  }

  /** At `exit`, when the process ends without waiting: say what is lost. */
  reportLost() {
    if ((this.dirty === 0 && this.writeOp === null) || this.lostReported) return;
    this.lostReported = true;
    this.log(
      "warn",
      `key-carousel: the process is exiting with state not yet saved to ${this.name}; ` +
        // Failing writes: a flush would have failed too (the errors were logged).
        (this.failures > 0
          ? "the writes to it failed (see the errors logged before)"
          : "call `await pool.flush()` before the process exits (process.exit(), Deno.exit())"),
    );
  }
}

/** `parseState(raw)`, or the CorruptState it threw (any other error is thrown). */
function parsedOrCorrupt(raw) {
  try {
    return parseState(raw);
  } catch (e) {
    if (e instanceof CorruptState) return e;
    throw e;
  }
}

/** How many unusable stored values a pool remembers, to copy and report each once. */
const RECENT_BAD = 16;

/**
 * Moves a pool's state between its core and the stored form (v1's file format plus v2's
 * fields), and deals with stored values that cannot be used: start fresh, keep a copy
 * (the store decides where), warn once per value.
 */
export class StateLink {
  #core;
  #ids;
  #store;
  #now;
  #log;
  /**
   * The last RECENT_BAD unusable stored values seen (their texts), so each is reported once
   * even when another writer alternates between a few.
   */
  #recentBad = [];

  #imported;

  /** Makes its snapshots' JSON for the file store (BYTES), again only where records changed. */
  #bytes;

  /** How many records the last snapshot held (for the spacing of writes: see Persister). */
  records = 0;

  /**
   * `imported` (optional) is called after each import of a stored state, with whether the
   * import ended or shortened a rest.
   */
  constructor({ core, ids, store, now, log, imported }) {
    this.#core = core;
    this.#ids = ids;
    this.#store = store;
    this.#now = now;
    this.#log = log;
    this.#imported = imported;
  }

  /** The pool's clock (ms since the epoch), checked; undefined when it reads badly. */
  now() {
    try {
      return this.#now();
    } catch {
      return undefined;
    }
  }

  #import(parsed) {
    const cut = this.#core.restsCut();
    this.#core.importSnapshot(parsed.ids, parsed.cols, this.#now());
    this.#imported?.(this.#core.restsCut() !== cut);
  }

  /**
   * Merges a stored value into the core. Returns undefined, or for a bad value whose copy
   * is not kept yet a promise (see #bad) of whether it may be overwritten.
   */
  absorb(raw) {
    const parsed = parsedOrCorrupt(raw);
    if (parsed instanceof CorruptState) return this.#bad(raw, `${parsed.message}; starting fresh`, true);
    if (parsed.ids.length > 0) {
      this.#import(parsed);
    }
    if (parsed.dropped > 0) return this.#bad(raw, `${parsed.dropped} unusable value(s) dropped, the rest loaded`, false);
    return undefined;
  }

  /**
   * Merges in what a store's `update` returned: the state it holds, when it merged on its
   * side (a Redis script). Any other reply (a client's "OK", a commit result) is not what
   * is stored: it is ignored, neither warned about nor copied aside as a bad stored value.
   */
  absorbReply(raw) {
    const parsed = parsedOrCorrupt(raw);
    if (!(parsed instanceof CorruptState) && parsed.ids.length > 0) this.#import(parsed);
  }

  /**
   * Keeps a copy of a bad stored value (the store decides where) and warns, once per value.
   * Returns undefined when the value may be overwritten now (its copy is kept, or the store
   * keeps none), else a promise of whether it may be once the copy under way has ended (a
   * copy that failed is tried again the next time the value is met). `whole`: the value is
   * unusable as a whole (else some of its values were dropped and the rest loaded).
   */
  #bad(raw, problem, whole) {
    let text;
    try {
      text = typeof raw === "string" ? raw : JSON.stringify(raw);
    } catch {
      try {
        text = String(raw);
      } catch {
        // Neither JSON nor a string (a null-prototype object holding a BigInt): the value
        // itself tells it apart from the last bad one.
        text = raw;
      }
    }
    let entry = this.#recentBad.find((b) => b.text === text);
    if (entry === undefined) {
      entry = { text, kept: undefined, keeping: null, warned: false };
      if (this.#recentBad.push(entry) > RECENT_BAD) this.#recentBad.shift();
    } else if (entry.kept === true) {
      return undefined;
    }
    if (entry.kept === undefined && entry.keeping !== null) return entry.keeping; // under way
    entry.kept = undefined;
    entry.keeping = this.#keep(entry, raw, problem, whole);
    // A store that keeps no copy: #keep has warned (it awaits nothing then), nothing to wait for.
    return entry.kept === true ? undefined : entry.keeping;
  }

  async #keep(entry, raw, problem, whole) {
    const name = typeof this.#store.name === "string" ? this.#store.name : "storage";
    let copy;
    let kept = true;
    if (typeof this.#store.keepCorrupt !== "function") {
      copy = "this store keeps no copy";
    } else {
      try {
        const where = await this.#store.keepCorrupt(raw, problem);
        copy = where ? `a copy is kept at ${where}` : "a copy is kept by the store";
      } catch (e) {
        kept = false;
        copy = `keeping a copy failed (${storeErrorText(e)}), so the pool does not overwrite it: its writes fail until a copy is kept`;
      }
    }
    entry.kept = kept;
    if (!entry.warned) {
      entry.warned = true;
      const is = whole ? "is unusable" : "holds unusable values";
      this.#log("warn", `key-carousel: the state stored in ${name} ${is} (${problem}); ${copy}`);
    } else if (kept) {
      const what = whole ? "the unusable state" : "the state with unusable values";
      this.#log("info", `key-carousel: ${what} stored in ${name}: ${copy}`);
    }
    return kept;
  }

  /**
   * The pool's state in stored form (v1's file format plus v2's fields), without what the
   * pool forgets at its clock: a store that merges on its side (a Redis script) asks for it
   * without an import first, which would have forgotten it. `timed` runs the work the
   * snapshot leaves for later (its records, its JSON) and counts it as the write's.
   */
  snapshot(timed = (make) => make()) {
    // A clock that reads badly forgets nothing (the import, if any, has thrown already).
    const now = this.now();
    if (now !== undefined) this.#core.forgetStale(now);
    const cols = this.#core.exportSnapshot();
    this.records = cols.length / RECORD_COLUMNS;
    const ids = this.#ids;
    const extraIds = this.#core.extraIds();
    // `profiles` is made from these columns when first read (then it is a plain property):
    // the file store writes the snapshot's JSON (BYTES), made from the columns, and a large
    // pool's ten thousand record objects, made at each write and kept over its I/O, were
    // most of what the event loop spent collecting garbage.
    const snapshot = { version: 1 };
    /** Whether anything read or set `profiles` (then BYTES does not vouch for the snapshot). */
    let touched = false;
    let profiles;
    const settle = (value) => {
      touched = true;
      profiles = value;
      try {
        Object.defineProperty(snapshot, "profiles", { value, writable: true, enumerable: true, configurable: true });
      } catch {
        // Sealed or frozen (a store may freeze what it keeps): the getter stays, and answers `value`.
      }
      return value;
    };
    Object.defineProperty(snapshot, "profiles", {
      get: () => (touched ? profiles : settle(timed(() => toSnapshot(ids, extraIds, cols).profiles))),
      set: (value) => {
        if (Object.isFrozen(snapshot)) throw new TypeError("Cannot assign to read only property 'profiles' of object");
        settle(value);
      },
      enumerable: true,
      configurable: true,
    });
    // Its JSON in UTF-8 for a store that writes that (the file store), made from the columns
    // by the pool's SnapshotBytes, which keeps the texts of the records that did not change;
    // undefined once the snapshot was read or changed (a store wrapping the file store may
    // change it before it is written): the store serialises that itself.
    Object.defineProperty(snapshot, BYTES, {
      value: () => {
        if (touched || snapshot.version !== 1 || Object.keys(snapshot).length !== 2 || "toJSON" in snapshot) return undefined;
        return timed(() => (this.#bytes ??= new SnapshotBytes()).of(snapshot, ids, extraIds, cols));
      },
    });
    return snapshot;
  }

}
