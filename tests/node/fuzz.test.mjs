// Model-based fuzzing of the JS API (issue 7) with fast-check. Each sequence builds a Pool
// from a generated configuration and runs generated commands against it and, in lockstep,
// against the reference model of fuzz/model.mjs: run (with scripted outcomes: successes,
// every error shape, SDK-like errors with headers, FailoverError, aborts, time passing during
// the call, held calls finished later), markFailure/markSuccess/clearCooldown/isInCooldown
// with any value, the clock moved forward, back, set to 0 or 2^53 or to garbage, flush,
// another process writing arbitrary (also hostile) JSON into the store, mergeSnapshots of
// arbitrary values, and run with wrong arguments. After every command:
// - every call either agreed with the model, or threw what the model says (a TypeError,
//   RangeError or ConfigError naming the problem, or the task's own error, untouched);
// - the full status and isInCooldown of every profile equal the model's;
// - no key, nor 8 characters of one, appears in status, attempts, errors the pool made,
//   logs, the stored value, JSON.stringify/String/util.inspect of the pool;
// - nothing is a wasm trap (RuntimeError), and after a throw the module still works;
// - a wait is the model's (never negative, never a busy loop), and after close() no timer is
//   left.
// CI runs KC_FUZZ_RUNS (default 10,000) sequences; `npm run fuzz` runs more.
// Reproduce a failure with KC_FUZZ_SEED=<seed> (and the path fast-check prints).

import { test } from "node:test";
import assert from "node:assert/strict";
import util from "node:util";
import fc from "fast-check";
import { Pool, LlmKeyPool, ConfigError, AllProfilesExhaustedError, memoryStore, mergeSnapshots } from "key-carousel";
import { ModelPool, policyOf, DEFAULT_COOLDOWNS, parseStored, recordsText, mergeMaps, emptyRecord, MAX_TIME, REASONS } from "./fuzz/model.mjs";
import { outcome } from "./fuzz/outcomes.mjs";
import { T0, KEYS, PROVIDERS, FAULTS, validConfig, hostileConfig, command } from "./fuzz/arbitraries.mjs";

const RUNS = Number(process.env.KC_FUZZ_RUNS ?? 10000);
const SEED = process.env.KC_FUZZ_SEED === undefined ? undefined : Number(process.env.KC_FUZZ_SEED);
const PATH = process.env.KC_FUZZ_PATH;

/** What was tried, for the report. */
const stats = { sequences: 0, commands: 0, calls: 0, expectedThrows: 0, attempts: 0, waits: 0, writes: 0, hostileConfigs: 0, hostileStored: 0, clockFaults: 0, leaksChecked: 0 };

// ── leaks ─────────────────────────────────────────────────────────────────────────────

const WINDOWS = new Set(KEYS.flatMap((k) => Array.from({ length: k.length - 7 }, (_, i) => k.slice(i, i + 8))));

function assertNoLeak(text, where) {
  stats.leaksChecked++;
  if (typeof text !== "string") text = String(text);
  for (let i = 0; i + 8 <= text.length; i++) {
    if (WINDOWS.has(text.slice(i, i + 8))) assert.fail(`${where} leaks ${JSON.stringify(text.slice(i, i + 8))}: ${text.slice(0, 400)}`);
  }
}

function assertNotATrap(e, where) {
  if (e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError|recursive use of an object|null pointer passed to rust/i.test(String(e?.message ?? e))) {
    assert.fail(`${where}: the wasm module trapped: ${e?.stack ?? e}`);
  }
}

/** The module still works: a new pool, a call, a status. */
async function probe(where) {
  const p = new Pool({ profiles: [{ id: "probe", provider: "p", apiKey: "probe-key" }] });
  const r = await p.run(() => 7);
  assert.equal(r.value, 7, `${where}: the module works after the throw`);
  assert.equal(p.getStatus().totalAvailable, 1);
}

// ── fake timers: the pool's waits become visible and instant ──────────────────────────

function fakeTimers() {
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  const pending = new Set();
  globalThis.setTimeout = (fn, ms, ...args) => {
    const t = {
      fn: () => fn(...args),
      name: fn.name,
      ms,
      unrefd: false,
      unref() {
        this.unrefd = true;
        return this;
      },
      ref() {
        this.unrefd = false;
        return this;
      },
      hasRef() {
        return !this.unrefd;
      },
    };
    pending.add(t);
    return t;
  };
  globalThis.clearTimeout = (t) => pending.delete(t);
  return {
    pending,
    restore: () => Object.assign(globalThis, real),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

// ── the clock ─────────────────────────────────────────────────────────────────────────

function makeClock(start) {
  const c = {
    value: start,
    thrown: null,
    fn: () => {
      if (c.thrown !== null) throw c.thrown;
      return c.value;
    },
    /** The time as the pool reads it: { ok, v } or { ok: false, check(error) }. */
    read() {
      if (c.thrown !== null) return { ok: false, check: (e) => e === c.thrown, what: "the clock's own error" };
      const t = c.value;
      if (typeof t !== "number") {
        return { ok: false, check: (e) => e instanceof TypeError && e.message === `clock() must return a number of ms, got ${typeof t}`, what: "TypeError clock()" };
      }
      if (!(t >= 0 && t <= MAX_TIME)) {
        return { ok: false, check: (e) => e instanceof RangeError && e.message === `clock() must return ms since the epoch in [0, 2^53], got ${t}`, what: "RangeError clock()" };
      }
      return { ok: true, v: t };
    },
    valid() {
      return c.read().ok;
    },
    lastValid: start,
  };
  return c;
}

// ── configuration → options and the model's expectation ───────────────────────────────

function buildConfig(spec, env) {
  const profiles = spec.profiles.map((p) => {
    const o = { provider: p.provider, apiKey: KEYS[p.key] };
    if (p.id !== undefined) o.id = p.id;
    if (p.model !== undefined) o.model = p.model;
    return o;
  });
  const options = { profiles, clock: env.clock.fn, logger: env.logger };
  if (spec.fallbacks.length > 0) {
    options.fallbackModels = spec.fallbacks.map((f) => {
      const o = { provider: f.provider, model: f.model };
      if (f.key !== undefined) o.apiKey = KEYS[f.key];
      return o;
    });
  }
  options.cooldowns = spec.cooldowns;
  if (spec.policy !== undefined) options.policy = Object.fromEntries(spec.policy);
  if (spec.maxWaitMs !== undefined) options.maxWaitMs = spec.maxWaitMs;
  if (env.store !== undefined) options.storage = env.store;

  // What the pool should make of it (README "API", SPEC §2): an error naming a field, or
  // the profiles in pool order with their ids.
  const list = [];
  const derived = new Map();
  for (const [i, p] of spec.profiles.entries()) {
    if (p.id === undefined) {
      const twin = `${p.provider}\u0000${p.model ?? ""}\u0000${p.key}`;
      if (derived.has(twin)) return { options, error: `profiles[${i}].apiKey` };
      derived.set(twin, i);
    }
    list.push({ id: p.id, provider: p.provider, model: p.model, apiKey: KEYS[p.key], fallback: false, field: `profiles[${i}].id` });
  }
  const primaries = list.length;
  // Then, whatever the ids: the first profile with the same provider, model and key as an
  // earlier one.
  for (let i = 0; i < primaries; i++) {
    const p = list[i];
    if (list.slice(0, i).some((q) => q.provider === p.provider && q.model === p.model && q.apiKey === p.apiKey)) {
      return { options, error: `profiles[${i}].apiKey` };
    }
  }
  for (const [i, f] of spec.fallbacks.entries()) {
    const borrowed = list.slice(0, primaries).find((p) => p.provider === f.provider);
    const apiKey = f.key !== undefined ? KEYS[f.key] : borrowed?.apiKey;
    if (apiKey === undefined) continue;
    list.push({ id: `fallback-${f.provider}-${f.model}`, provider: f.provider, model: f.model, apiKey, fallback: true, field: `fallbackModels[${i}].id` });
  }
  if (list.length === 0) return { options, error: "profiles" };
  // The core refuses an id used twice (explicit ids, fallback ids; derived ids cannot meet them).
  const seen = new Set();
  for (const p of list) {
    if (p.id === undefined) continue;
    if (seen.has(p.id)) return { options, error: p.field };
    seen.add(p.id);
  }
  return { options, list };
}

// ── the lockstep of one run ───────────────────────────────────────────────────────────

/**
 * The model of `run` as a generator that yields where the pool's run calls the task
 * ({ type: "call", ctx }) or sleeps ({ type: "sleep", ms }), and returns what the run ends
 * with: { value } or { error: check(e) }.
 */
function* modelRun(env, o, signal) {
  const { model, clock } = env;
  const attempts = [];
  const exhausted = (extra) => ({
    error: (e) => {
      assert.ok(e instanceof AllProfilesExhaustedError, `expected AllProfilesExhaustedError, got ${e?.stack ?? e}`);
      assert.deepStrictEqual(e.attempts, attempts);
      assert.ok(e.message.startsWith(`All LLM profiles exhausted after ${attempts.length} attempt(s):`), e.message);
      assert.equal(e.retryAt, extra?.retryAt);
      assert.equal(e.retryAfterMs, extra?.retryAfterMs);
      return true;
    },
    what: "AllProfilesExhaustedError",
  });
  // The keys that failed this run and rest nothing: the run does not get them again.
  const excluded = new Set();
  for (let i = 0; i < model.maxAttempts; i++) {
    if (signal?.aborted) return { error: (e) => e === signal.reason, what: "the signal's reason" };
    const t = clock.read();
    if (!t.ok) return { error: t.check, what: t.what };
    const now = t.v;
    const idx = model.acquire(now, o.provider, excluded);
    if (idx < 0) {
      // The last turn: no attempt would follow a wait, so the run gives up at once.
      if (i === model.maxAttempts - 1) break;
      const wait = model.wait(now, excluded);
      const maxWait = o.maxWaitMs ?? model.maxWaitMs;
      if (wait < 0) return exhausted();
      if (maxWait !== undefined && wait > maxWait) return exhausted({ retryAt: now + wait, retryAfterMs: wait });
      const how = yield { type: "sleep", ms: Math.min(Math.max(1, Math.ceil(wait)), 2 ** 31 - 1) };
      if (how === "aborted") return { error: (e) => e === signal.reason, what: "the signal's reason" };
      continue;
    }
    // The pick (lastUsed) is a change: a flush while the call runs writes it.
    env.dirty = true;
    const p = model.p[idx];
    const ctx = { profileId: p.id, apiKey: p.apiKey, provider: p.provider, model: p.model ?? o.model ?? "unknown", signal };
    const out = yield { type: "call", ctx, idx };
    if (out.ok && signal?.aborted) {
      // The caller aborted and the task answered anyway: the caller gets its abort.
      model.release(idx);
      env.dirty = true;
      return { error: (e) => e === signal.reason, what: "the signal's reason" };
    }
    if (out.ok) {
      const d = clock.read();
      env.dirty = true;
      if (!d.ok) {
        model.release(idx);
        return { error: d.check, what: d.what };
      }
      model.succeed(idx, d.v, now);
      return { value: out.value, profileId: p.id, provider: p.provider, model: ctx.model, attempts };
    }
    if (signal?.aborted || out.callerAbort) {
      model.release(idx);
      env.dirty = true;
      return { error: (e) => e === out.thrown, what: "the task's abort error, untouched" };
    }
    const f = clock.read();
    env.dirty = true;
    if (!f.ok) {
      model.release(idx);
      return { error: f.check, what: f.what };
    }
    const { reason, retryMs, message } = out.expect(f.v);
    const cd = model.fail(idx, f.v, reason, retryMs, now);
    const attempt = { profileId: p.id, provider: p.provider, model: ctx.model, error: message, reason };
    if (cd > 0) attempt.cooldownMs = cd; // a rest of 0 ms is none
    if (retryMs !== undefined) attempt.retryAfterMs = retryMs;
    attempts.push(attempt);
    stats.attempts++;
    if (!model.policy[reason].rotate) return { error: (e) => e === out.thrown, what: "the task's error, untouched" };
    if (model.policy[reason].schedule === "none") excluded.add(idx);
  }
  // Out of attempts: the pool reads the clock once more and, when nothing is available to
  // the call then, says when the first profile recovers.
  const t = clock.read();
  if (!t.ok) return { error: t.check, what: t.what };
  const now = t.v;
  const anyAvailable = model.p.some((_, i) => !model.cooling(i, now) && !excluded.has(i));
  const wait = anyAvailable ? 0 : model.wait(now, excluded);
  return wait > 0 ? exhausted({ retryAt: now + wait, retryAfterMs: wait }) : exhausted();
}

/** One run in flight: the pool's promise and the model's generator, kept in step. */
class RunInFlight {
  constructor(env, cmd, held) {
    this.env = env;
    this.script = cmd.outcomes.slice();
    this.waitMode = cmd.waitMode;
    this.holdFirst = held;
    this.deferred = null;
    this.controller = cmd.signal === "none" ? undefined : new AbortController();
    if (cmd.signal === "aborted") this.controller.abort();
    const o = { ...cmd.opts };
    if (this.controller) o.signal = this.controller.signal;
    this.gen = modelRun(env, o, this.controller?.signal);
    this.event = null; // the model's current event, or its end
    this.done = false;
    this.result = undefined;
    this.settled = false;
    this.sleeps = 0;
    this.promise = env.pool.run((ctx) => this.task(ctx), Object.keys(o).length > 0 ? o : undefined).then(
      (v) => {
        this.settled = true;
        this.result = { ok: true, v };
      },
      (e) => {
        this.settled = true;
        this.result = { ok: false, e };
      },
    );
  }

  /** Advances the model to its next event (once per event). */
  next(resume) {
    const r = this.gen.next(resume);
    this.event = r.value;
    this.done = r.done;
  }

  current() {
    if (this.event === null) this.next();
    return this.event;
  }

  /** The pool calls the task: the model must call it with the same context. */
  task(ctx) {
    stats.calls++;
    const ev = this.current();
    assert.ok(!this.done && ev.type === "call", `the pool called the task where the model ${this.done ? "ended the run" : `sleeps ${ev.ms} ms`}`);
    for (const k of ["profileId", "apiKey", "provider", "model"]) assert.equal(ctx[k], ev.ctx[k], `task context ${k}`);
    assert.equal(ctx.signal, ev.ctx.signal, "task context signal");
    if (this.holdFirst) {
      this.holdFirst = false;
      return new Promise((resolve, reject) => (this.deferred = { resolve, reject, ctx }));
    }
    const sel = this.script.shift() ?? { kind: "ok", adv: 0 };
    return this.perform(sel, ctx);
  }

  /** Does what the outcome says (time passes, the clock breaks, return or throw), in both. */
  perform(sel, ctx, viaDeferred) {
    const env = this.env;
    if (sel.adv > 0 && env.clock.valid()) env.clock.value += sel.adv;
    if (sel.breakClock) {
      if (env.clock.valid()) env.clock.lastValid = env.clock.value;
      env.clock.value = NaN;
    }
    let act;
    if (sel.kind === "ok") {
      const value = { n: stats.calls };
      this.next({ ok: true, value });
      act = { value };
    } else if (sel.kind === "abort" && this.controller !== undefined) {
      // The caller aborts while the call runs; the task throws what fetch or an SDK throws.
      this.controller.abort();
      if (sel.i % 3 === 2) {
        // Or it answers anyway, as an SDK's stream ends quietly on abort with the text so far.
        const value = { n: stats.calls, cut: true };
        this.next({ ok: true, value });
        act = { value };
      } else {
        const thrown = sel.i % 2 === 0 ? this.controller.signal.reason : Object.assign(new Error("Request was aborted."), { name: "APIUserAbortError" });
        this.next({ ok: false, thrown });
        act = { thrown };
      }
    } else if (sel.kind === "abort") {
      // A controller of the caller's own, not given to run, fires: the SDK's abort error,
      // whose message is not about a timeout (SPEC §4), rethrown untouched, no key blamed.
      const thrown = sel.i % 2 === 0 ? new DOMException("This operation was aborted", "AbortError") : Object.assign(new Error("Request was aborted."), { name: "APIUserAbortError" });
      this.next({ ok: false, thrown, callerAbort: true });
      act = { thrown };
    } else {
      const o = outcome(sel);
      const now = env.clock.valid() ? env.clock.value : 0;
      const thrown = o.make(ctx, now);
      this.next({ ok: false, thrown, expect: o.expect });
      act = { thrown };
    }
    if (viaDeferred) {
      if ("value" in act) this.deferred.resolve(act.value);
      else this.deferred.reject(act.thrown);
      this.deferred = null;
      return undefined;
    }
    if ("value" in act) return sel.sync ? act.value : Promise.resolve(act.value);
    if (sel.sync) throw act.thrown;
    return Promise.reject(act.thrown);
  }

  /** Lets the run go on until it ends or is held; performs its waits as `waitMode` says. */
  async drive() {
    const { env } = this;
    for (let guard = 0; guard < 1000; guard++) {
      await settle();
      if (this.settled) return this.check();
      if (this.deferred !== null) {
        const ev = this.current();
        assert.ok(!this.done && ev.type === "call", "the run is held in its task, so is the model's");
        return "held";
      }
      // A run that recorded a failure waits for the write carrying it (1 s at most); the
      // pool's writes happen at the model's flush steps only (their timers never fire
      // here), so that wait runs out: the model's run is over.
      const saveWait = [...env.timers.pending].find((t) => !t.unrefd && t.name === "saveWaitOver");
      if (saveWait !== undefined) {
        assert.equal(saveWait.ms, 1000, "a run waits 1 s at most for its failure's write");
        env.timers.pending.delete(saveWait);
        saveWait.fn();
        continue;
      }
      const sleepers = [...env.timers.pending].filter((t) => !t.unrefd);
      assert.equal(sleepers.length, 1, `a pending run is waiting on exactly one timer (${sleepers.length})`);
      const timer = sleepers[0];
      const ev = this.current();
      assert.ok(!this.done && ev.type === "sleep", `the pool waits where the model ${this.done ? "ended the run" : "calls the task"}`);
      assert.equal(timer.ms, ev.ms, "the wait is the model's");
      assert.ok(timer.ms >= 1, "never a wait of less than 1 ms (no busy loop)");
      stats.waits++;
      this.sleeps++;
      if (this.waitMode === "abort" && this.controller !== undefined) {
        this.next("aborted");
        this.controller.abort();
        assert.ok(!env.timers.pending.has(timer), "an aborted wait clears its timer");
        continue;
      }
      const d = { exact: timer.ms, still: 0, half: Math.floor(timer.ms / 2), far: timer.ms + 31_536_000_000 }[this.waitMode] ?? timer.ms;
      if (env.clock.valid()) env.clock.value = Math.min(MAX_TIME, env.clock.value + d);
      env.timers.pending.delete(timer);
      this.next("fired");
      timer.fn();
    }
    assert.fail("the run neither ended nor was held after 1000 turns");
  }

  check() {
    const r = this.result;
    const want = this.current();
    assert.ok(this.done, `the run ended where the model ${want?.type === "sleep" ? "sleeps" : "calls the task"}: ${r.ok ? "resolved" : r.e?.stack}`);
    if (r.ok) {
      assert.ok(!("error" in want), `run resolved, the model expects ${want.what}`);
      assert.equal(r.v.value, want.value, "run's value");
      assert.deepStrictEqual({ ...r.v, value: undefined }, { ...want, value: undefined });
      assertNoLeak(JSON.stringify(r.v.attempts), "attempts");
    } else {
      assertNotATrap(r.e, "run");
      assert.ok("error" in want, `run rejected (${r.e?.stack ?? r.e}), the model expects ${JSON.stringify(want.value)}`);
      assert.ok(want.error(r.e), `run rejected with ${r.e?.stack ?? r.e}; expected ${want.what}`);
      stats.expectedThrows++;
      if (r.e instanceof AllProfilesExhaustedError) {
        assertNoLeak(r.e.message, "AllProfilesExhaustedError message");
        assertNoLeak(r.e.stack, "AllProfilesExhaustedError stack");
        assertNoLeak(JSON.stringify(r.e.attempts), "AllProfilesExhaustedError attempts");
      }
    }
    return "settled";
  }
}

// ── checks after every command ────────────────────────────────────────────────────────

function checkState(env, where) {
  const { pool, model, clock } = env;
  const t = clock.read();
  if (t.ok) {
    const got = pool.getStatus();
    const want = model.status(t.v);
    assert.deepStrictEqual(got, want, `${where}: status`);
    // Asked again with nothing changed (the pool may reuse the status it just made): the
    // same, in new objects.
    const again = pool.getStatus();
    assert.deepStrictEqual(again, want, `${where}: status asked again`);
    assert.ok(again !== got && again.profiles !== got.profiles && again.profiles.every((p, i) => p !== got.profiles[i]), `${where}: new objects`);
    for (const p of model.p) assert.equal(pool.isInCooldown(p.id), model.cooling(model.index(p.id), t.v), `${where}: isInCooldown(${p.id})`);
    const json = JSON.stringify(pool);
    assertNoLeak(json, `${where}: JSON.stringify(pool)`);
  } else {
    assert.throws(() => pool.getStatus(), (e) => t.check(e), `${where}: getStatus with a bad clock`);
  }
  assertNoLeak(util.inspect(pool, { showHidden: true, depth: 5 }), `${where}: util.inspect(pool)`);
  assertNoLeak(String(pool), `${where}: String(pool)`);
  assertNoLeak(env.lines.join("\n"), `${where}: logger`);
  env.lines.length = 0;
  if (env.store !== undefined) assertNoLeak(typeof env.store.load() === "string" ? env.store.load() : "", `${where}: the stored value`);
}

/** Calls `fn` (a direct API call); it must return or throw exactly what `expected` says. */
async function expectCall(env, where, fn, expected) {
  let result;
  try {
    result = { ok: true, v: await fn() };
  } catch (e) {
    result = { ok: false, e };
  }
  if (!result.ok) {
    assertNotATrap(result.e, where);
    assert.ok(expected.error !== undefined, `${where} threw ${result.e?.stack ?? result.e}`);
    assert.ok(expected.error(result.e), `${where} threw ${result.e?.stack ?? result.e}; expected ${expected.what}`);
    stats.expectedThrows++;
    if (result.e instanceof Error) assertNoLeak(`${result.e.message}\n${result.e.stack}`, `${where}: error`);
    await probe(where);
    return undefined;
  }
  assert.ok(expected.error === undefined, `${where} returned ${util.inspect(result.v)}; expected ${expected.what}`);
  return result.v;
}

const typeError = (message) => ({ error: (e) => e instanceof TypeError && e.message === message, what: `TypeError ${message}` });
const rangeError = (message) => ({ error: (e) => e instanceof RangeError && e.message === message, what: `RangeError ${message}` });

function resolveId(env, sel) {
  if (typeof sel === "number") return env.model.p[sel % env.model.p.length].id;
  if (sel.make === "object") return {};
  if (sel.make === "symbol") return Symbol("id");
  return sel.raw;
}

/** The pool's #idx rule: a string naming a profile. */
function idExpectation(env, id) {
  if (typeof id !== "string") return typeError(`profile id must be a string, got ${typeof id}`);
  const i = env.model.index(id);
  if (i < 0) return rangeError(`unknown profile id ${JSON.stringify(id)}`);
  return { index: i };
}

// ── stored values ─────────────────────────────────────────────────────────────────────

function resolveStored(env, v) {
  if (typeof v === "string") return v;
  if ("raw" in v) return v.raw;
  const now = env.clock.valid() ? env.clock.value : T0;
  const profiles = {};
  for (const [idSel, rec, protoField] of v.entries) {
    const id = typeof idSel === "number" ? env.model.p[idSel % env.model.p.length].id : idSel;
    const r = {};
    for (const [k, x] of Object.entries(rec)) r[k] = x !== null && typeof x === "object" && "off" in x ? Math.max(0, now + x.off) : x;
    if (protoField) Object.defineProperty(r, "__proto__", { value: { errorCount: 7 }, enumerable: true });
    Object.defineProperty(profiles, id, { value: r, enumerable: true, writable: true, configurable: true });
  }
  const data = { version: v.version, profiles };
  return v.form === "object" ? data : JSON.stringify(data);
}

/** A store that another process (the fuzzer) may write to at any time. */
function settableStore() {
  const s = {
    name: "settable",
    value: null,
    corrupt: [],
    load: () => s.value,
    update(merge) {
      s.value = JSON.stringify(merge(s.value));
      stats.writes++;
    },
    keepCorrupt(raw) {
      s.corrupt.push(raw);
      return `corrupt[${s.corrupt.length - 1}]`;
    },
  };
  return s;
}

/** The pool copies and reports a bad stored value once among the last 16 it saw. */
function isNewBad(env, text) {
  if (env.recentBad.includes(text)) return false;
  env.recentBad.push(text);
  if (env.recentBad.length > 16) env.recentBad.shift();
  return true;
}

/** What absorbing a stored value does to the model; returns false when the clock stops it. */
function absorbInModel(env, raw) {
  const parsed = parseStored(raw);
  const text = typeof raw === "string" ? raw : JSON.stringify(raw);
  // The pool forgets stale kept records before it writes, whatever it read (a clock that
  // reads badly forgets nothing).
  const forget = () => env.clock.valid() && env.model.forget(env.clock.value);
  if (parsed.corrupt) {
    if (isNewBad(env, text)) {
      env.expectCopies++;
    }
    forget();
    return true;
  }
  if (parsed.records.length > 0) {
    if (!env.clock.valid()) return false;
    env.model.import(parsed.records, env.clock.value);
  }
  if (parsed.dropped > 0 && isNewBad(env, text)) {
    env.expectCopies++;
  }
  forget();
  return true;
}

/**
 * What the pool wrote, as comparable text (`recordsText`'s form). Read as written, not through
 * the parse rules: with the clock near 2^53 a cooldown can end past 2^53, which the pool
 * writes but (like any time past 2^53) drops when it reads it back (see README, Guarantees).
 */
function writtenText(raw) {
  assert.equal(typeof raw, "string", `the pool wrote its state: ${raw}`);
  const data = JSON.parse(raw);
  assert.equal(data.version, 1);
  const sorted = (r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify(Object.entries(data.profiles).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, r]) => [id, sorted(r)]));
}

function modelText(map) {
  const sorted = (r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify(JSON.parse(recordsText(map)).map(([id, r]) => [id, sorted(r)]));
}

async function doFlush(env, where) {
  const before = env.store.load();
  if (!env.dirty) {
    await expectCall(env, where, () => env.pool.flush(), {});
    assert.equal(env.store.load(), before, `${where}: nothing pending, nothing written`);
    return;
  }
  const saved = { model: structuredClone(env.model.p), extras: new Map(env.model.extras), picks: env.model.picks };
  if (!absorbInModel(env, before)) {
    // The stored records cannot be merged without the time: the write fails, nothing is lost.
    const c = env.clock.read();
    await expectCall(env, where, () => env.pool.flush(), { error: c.check, what: c.what });
    assert.equal(env.store.load(), before, `${where}: a failed write changes nothing`);
    Object.assign(env.model, { picks: saved.picks, extras: saved.extras });
    env.model.p = saved.model;
    return;
  }
  await expectCall(env, where, () => env.pool.flush(), {});
  env.dirty = false;
  stats.writes++;
  // The store converged to the pool's state: every record, the pool's and the kept ones.
  assert.equal(writtenText(env.store.load()), modelText(env.model.export()), `${where}: stored state`);
  if (env.store.corrupt !== undefined) assert.equal(env.store.corrupt.length, env.expectCopies, `${where}: copies of bad stored values`);
}

// ── one sequence ──────────────────────────────────────────────────────────────────────

const BAD_RUNS = [
  [undefined, undefined, "run(task): task must be a function"],
  [null, undefined, "run(task): task must be a function"],
  [42, undefined, "run(task): task must be a function"],
  [{}, undefined, "run(task): task must be a function"],
  ["ok", null, "run(task, options): options must be an object"],
  ["ok", 5, "run(task, options): options must be an object"],
  ["ok", [], "run(task, options): options must be an object"],
  ["ok", { foo: 1 }, 'run options: unknown option "foo"'],
  ["ok", { provider: 5 }, "run options: provider must be a string"],
  ["ok", { model: {} }, "run options: model must be a string"],
  ["ok", { label: 1 }, "run options: label must be a string"],
  ["ok", { signal: {} }, "run options: signal must be an AbortSignal"],
  ["ok", { signal: null }, "run options: signal must be an AbortSignal"],
  ["ok", { signal: { aborted: false } }, "run options: signal must be an AbortSignal"],
  ["ok", { maxWaitMs: -1 }, "run options: maxWaitMs: must be a non-negative number of ms (Infinity allowed)"],
  ["ok", { maxWaitMs: NaN }, "run options: maxWaitMs: must be a non-negative number of ms (Infinity allowed)"],
  ["ok", { maxWaitMs: "5" }, "run options: maxWaitMs: must be a non-negative number of ms (Infinity allowed)"],
];

async function runSequence(spec, cmds) {
  stats.sequences++;
  const timers = fakeTimers();
  const env = {
    timers,
    clock: makeClock(spec.start),
    lines: [],
    dirty: false,
    recentBad: [],
    expectCopies: 0,
    held: [],
  };
  env.logger = Object.fromEntries(["debug", "info", "warn", "error"].map((l) => [l, (m) => env.lines.push(`${l}: ${m}`)]));
  env.store = spec.storage === "memory" ? memoryStore() : spec.storage === "settable" ? settableStore() : undefined;
  try {
    const { options, error, list } = buildConfig(spec, env);
    let pool;
    try {
      pool = new Pool(options);
    } catch (e) {
      assertNotATrap(e, "new Pool");
      assert.ok(error !== undefined, `new Pool threw ${e?.stack}`);
      assert.ok(e instanceof ConfigError && e.field === error, `new Pool: expected ConfigError at ${error}, got ${e?.stack}`);
      assertNoLeak(`${e.message}\n${e.stack}\n${util.inspect(e)}`, "ConfigError");
      stats.expectedThrows++;
      await probe("new Pool");
      return;
    }
    assert.equal(error, undefined, `new Pool should have thrown a ConfigError at ${error}`);
    // Derived ids come from the pool (a fingerprint); they must be <provider>-<14 hex>.
    const ids = pool.getStatus().profiles.map((p) => p.id);
    assert.equal(ids.length, list.length);
    for (const [i, p] of list.entries()) {
      if (p.id === undefined) {
        assert.match(ids[i], new RegExp(`^${p.provider}-[0-9a-f]{14}$`));
        p.id = ids[i];
      }
    }
    // An id used twice (explicit, or a derived one meeting another) is the core's ConfigError.
    const seen = new Set();
    for (const p of list) {
      if (seen.has(p.id)) assert.fail(`duplicate id ${p.id} accepted`);
      seen.add(p.id);
    }
    env.pool = pool;
    env.model = new ModelPool({
      profiles: list,
      cooldowns: { ...DEFAULT_COOLDOWNS, ...Object.fromEntries(Object.entries(spec.cooldowns).filter(([, v]) => v !== undefined)) },
      policy: policyOf(options.policy),
      maxWaitMs: spec.maxWaitMs,
    });
    if (env.store !== undefined) {
      if (spec.initial !== undefined && env.store.name === "settable") {
        env.store.value = resolveStored(env, spec.initial);
        stats.hostileStored++;
      }
      await pool.init();
      assert.ok(absorbInModel(env, env.store.load()), "the clock is valid at init");
      if (env.store.corrupt !== undefined && !Array.isArray(env.store.corrupt)) assert.fail("memoryStore.corrupt is a list");
    }
    checkState(env, "init");
    for (const [n, cmd] of cmds.entries()) {
      stats.commands++;
      const where = `#${n} ${cmd.t}`;
      await step(env, cmd, where);
      checkState(env, where);
    }
    // Finish: held calls succeed, the clock is valid, close() leaves no timer behind.
    if (!env.clock.valid()) {
      env.clock.thrown = null;
      env.clock.value = env.clock.lastValid;
    }
    while (env.held.length > 0) {
      const run = env.held.shift();
      run.perform({ kind: "ok", adv: 0 }, run.deferred.ctx, true);
      assert.equal(await run.drive(), "settled");
    }
    checkState(env, "end");
    assert.ok(env.model.p.every((p) => p.inFlight === 0), "no lease left");
    if (env.store !== undefined) await doFlush(env, "final flush");
    await pool.close();
    assert.equal(timers.pending.size, 0, "close() leaves no timer");
  } finally {
    timers.restore();
  }
}

async function step(env, cmd, where) {
  const { pool, model, clock } = env;
  switch (cmd.t) {
    case "run":
    case "start": {
      const run = new RunInFlight(env, cmd, cmd.t === "start");
      const r = await run.drive();
      if (r === "held") env.held.push(run);
      if (!clock.valid() && clock.thrown === null && Number.isNaN(clock.value)) clock.value = clock.lastValid; // a task broke it
      return;
    }
    case "settle": {
      if (env.held.length === 0) return;
      const run = env.held.splice(cmd.k % env.held.length, 1)[0];
      run.perform(cmd.outcome, run.deferred.ctx, true);
      const r = await run.drive();
      if (r === "held") env.held.push(run);
      if (!clock.valid() && clock.thrown === null && Number.isNaN(clock.value)) clock.value = clock.lastValid;
      return;
    }
    case "markFailure": {
      const id = resolveId(env, cmd.id);
      const reason = cmd.reason;
      const options = cmd.options;
      let exp = idExpectation(env, id);
      if (exp.index !== undefined) {
        if (typeof reason !== "string") exp = typeError(`reason must be a string, got ${typeof reason}`);
        else if (!REASONS.includes(reason)) exp = rangeError(`unknown failure reason ${JSON.stringify(reason)} (expected one of ${REASONS.join(", ")})`);
        else if (options !== undefined && (options === null || typeof options !== "object" || Array.isArray(options))) {
          exp = typeError("markFailure options must be an object { retryAfterMs?, model? }");
        } else if (options !== undefined && Object.keys(options).some((k) => k !== "retryAfterMs" && k !== "model")) {
          exp = typeError(`markFailure options: unknown option ${JSON.stringify(Object.keys(options).find((k) => k !== "retryAfterMs" && k !== "model"))}`);
        } else {
          const ms = options?.retryAfterMs;
          if (ms !== undefined && typeof ms !== "number") exp = typeError(`retryAfterMs must be a number of ms, got ${ms === null ? "null" : typeof ms}`);
          else if (ms !== undefined && (!Number.isFinite(ms) || ms < 0)) exp = rangeError("retryAfterMs must be a finite number of ms >= 0");
          else {
            const t = clock.read();
            if (!t.ok) exp = { error: t.check, what: t.what };
            else {
              model.fail(exp.index, t.v, reason, ms, undefined);
              env.dirty = true;
              exp = {};
            }
          }
        }
      }
      await expectCall(env, where, () => pool.markFailure(id, reason, options), exp);
      return;
    }
    case "markSuccess":
    case "clearCooldown": {
      const id = resolveId(env, cmd.id);
      let exp = idExpectation(env, id);
      if (exp.index !== undefined) {
        const t = clock.read();
        if (!t.ok) exp = { error: t.check, what: t.what };
        else {
          if (cmd.t === "markSuccess") model.succeed(exp.index, t.v, undefined);
          else model.clear(exp.index, t.v);
          env.dirty = true;
          exp = {};
        }
      }
      await expectCall(env, where, () => pool[cmd.t](id), exp);
      return;
    }
    case "isInCooldown": {
      const id = resolveId(env, cmd.id);
      let exp = idExpectation(env, id);
      let want;
      if (exp.index !== undefined) {
        const t = clock.read();
        if (!t.ok) exp = { error: t.check, what: t.what };
        else {
          want = model.cooling(exp.index, t.v);
          exp = {};
        }
      }
      const got = await expectCall(env, where, () => pool.isInCooldown(id), exp);
      if (exp.error === undefined) assert.equal(got, want, where);
      return;
    }
    case "clock": {
      const { op } = cmd;
      stats.clockFaults++;
      if ("bad" in op) {
        if (clock.valid()) clock.lastValid = clock.value;
        if (op.bad === "throw") clock.thrown = new Error("the clock broke");
        else clock.value = op.bad;
        return;
      }
      const base = clock.valid() ? clock.value : clock.lastValid;
      clock.thrown = null;
      if (op.set !== undefined) clock.value = op.set;
      else if (op.advance !== undefined) clock.value = Math.min(MAX_TIME, base + op.advance);
      else clock.value = Math.max(0, base - op.rewind);
      clock.lastValid = clock.value;
      return;
    }
    case "flush": {
      if (env.store === undefined) {
        await expectCall(env, where, () => pool.flush(), {});
        return;
      }
      await doFlush(env, where);
      return;
    }
    case "external": {
      // Another process writes into the store (only the settable store allows it).
      if (env.store?.name !== "settable") return;
      env.store.value = resolveStored(env, cmd.value);
      stats.hostileStored++;
      return;
    }
    case "merge": {
      const value = (v) => (v === "store" ? (env.store?.load() ?? null) : resolveStored(env, v));
      const [a, b] = [value(cmd.a), value(cmd.b)];
      const [pa, pb] = [parseStored(a), parseStored(b)];
      let exp = {};
      if (pa.corrupt) exp = { error: (e) => e instanceof TypeError && e.message.startsWith("mergeSnapshots: a is unusable: "), what: "TypeError naming a" };
      else if (pb.corrupt) exp = { error: (e) => e instanceof TypeError && e.message.startsWith("mergeSnapshots: b is unusable: "), what: "TypeError naming b" };
      const got = await expectCall(env, where, () => mergeSnapshots(a, b), exp);
      if (exp.error === undefined) {
        const want = mergeMaps(mergeMaps(new Map(), new Map(pa.records)), new Map(pb.records));
        assert.equal(writtenText(JSON.stringify(got)), modelText(want), `${where}: merged`);
        // The same merge the other way round (commutative).
        assert.deepStrictEqual(JSON.parse(JSON.stringify(mergeSnapshots(b, a))), JSON.parse(JSON.stringify(got)), `${where}: merge(b, a)`);
      }
      return;
    }
    case "badRun": {
      const [task, options, message] = BAD_RUNS[cmd.which % BAD_RUNS.length];
      const fn = task === "ok" ? () => assert.fail("a run with bad options called its task") : task;
      await expectCall(env, where, () => pool.run(fn, options), typeError(message));
      return;
    }
    default:
      assert.fail(`unknown command ${cmd.t}`);
  }
}

// ── the properties ────────────────────────────────────────────────────────────────────

function buildHostile({ fault, keys }) {
  const [field, make] = FAULTS[fault];
  const base = {
    profiles: [
      { id: "h0", provider: "openai", apiKey: KEYS[keys[0]] },
      { id: "h1", provider: "anthropic", apiKey: KEYS[keys[1]] },
      { id: "h2", provider: "openai", apiKey: KEYS[keys[2]] },
    ],
  };
  return [field, make(base)];
}

const fcParams = (numRuns) => ({ numRuns, seed: SEED, path: PATH, includeErrorInReport: true });

test(`model-based fuzzing of Pool: ${RUNS} sequences agree with the reference model`, { timeout: Math.max(600_000, RUNS * 20) }, async (t) => {
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(validConfig, fc.array(command, { minLength: 1, maxLength: 40, size: "max" }), async (spec, cmds) => runSequence(spec, cmds)),
    fcParams(RUNS),
  );
  t.diagnostic(`${stats.sequences} sequences, ${stats.commands} commands, ${stats.calls} task calls, ${stats.attempts} failed attempts, ${stats.waits} waits, ${stats.writes} writes, ${stats.expectedThrows} expected throws, ${stats.hostileStored} hostile stored values, ${stats.clockFaults} clock changes, ${stats.leaksChecked} leak checks in ${Math.round(performance.now() - started)} ms`);
});

test(`hostile configurations: every one is a ConfigError naming its field (${FAULTS.length} faults)`, async () => {
  await fc.assert(
    fc.asyncProperty(hostileConfig, async (h) => {
      stats.hostileConfigs++;
      const [field, options] = buildHostile(h);
      let err;
      try {
        new Pool(options);
      } catch (e) {
        err = e;
      }
      assert.ok(err !== undefined, `no error for the fault at ${field}`);
      assertNotATrap(err, field);
      assert.ok(err instanceof ConfigError && err instanceof TypeError, `${field}: ${err?.stack}`);
      assert.equal(err.field, field, err.message.slice(0, 200));
      assert.ok(err.message.startsWith(`${field}: `) && err.message.length < 300, err.message.slice(0, 300));
      assertNoLeak(`${err.message}\n${err.stack}`, "ConfigError");
      await probe(field);
    }),
    fcParams(Math.max(FAULTS.length * 4, Math.round(RUNS / 5))),
  );
});

test("any value as options, id, reason or options of a call: a TypeError/RangeError/ConfigError, never a trap", async () => {
  const pool = new Pool({ profiles: [{ id: "a", provider: "openai", apiKey: KEYS[0] }], maxWaitMs: 0 });
  const anything = fc.anything({ withBigInt: true, withNullPrototype: true, withObjectString: true, withBoxedValues: true, withMap: true, withSet: true, withSparseArray: true, withTypedArray: true, withDate: true, maxDepth: 3 });
  await fc.assert(
    fc.asyncProperty(anything, anything, anything, async (x, y, z) => {
      const calls = [
        () => new Pool(x),
        () => new Pool({ profiles: x }),
        () => new Pool({ profiles: [x] }),
        () => new Pool({ profiles: [{ provider: "p", apiKey: "k", id: x }] }),
        () => new Pool({ profiles: [{ provider: "p", apiKey: "k" }], cooldowns: x, policy: y }),
        () => new Pool({ profiles: [{ provider: "p", apiKey: "k" }], fallbackModels: x }),
        () => pool.markFailure(x, y, z),
        () => pool.markFailure("a", y, z),
        () => pool.markFailure("a", "rate_limit", z),
        () => pool.markSuccess(x),
        () => pool.clearCooldown(x),
        () => pool.isInCooldown(x),
        () => pool.run(x, y),
        () => pool.run(() => 1, y),
        () => mergeSnapshots(x, y),
        () => new LlmKeyPool(x),
        () => new LlmKeyPool({ profiles: [{ provider: "p", apiKey: "k", id: x }], cooldowns: y }),
      ];
      for (const [i, call] of calls.entries()) {
        try {
          await call();
        } catch (e) {
          assertNotATrap(e, `call ${i}`);
          // LlmKeyPool keeps v1's plain Errors for v1's checks (and v1's TypeErrors on null).
          if (i === 13 && e instanceof AllProfilesExhaustedError) continue; // "a" rests (markFailure above), maxWaitMs 0
          if (i < 15) assert.ok(e instanceof TypeError || e instanceof RangeError, `call ${i} threw ${e?.stack ?? e}`);
          else assert.ok(e instanceof Error, `call ${i} threw ${e}`);
        }
      }
      pool.clearCooldown("a");
      assert.equal((await pool.run(() => 1)).profileId, "a", "the pool works");
    }),
    fcParams(Math.round(RUNS / 5)),
  );
});
