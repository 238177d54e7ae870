// Store faults (issue 7): a save that throws on every second call, a load that returns garbage
// (or throws) now and then, a file store on a full disk and on a read-only directory. Every
// run completes, and once the fault clears the stored state converges to the pool's.
//
// Full disk and read-only directory are real when this process may mount (root with
// CAP_SYS_ADMIN: a 64 KB tmpfs, filled up, remounted read-only); otherwise a read-only
// directory is a chmod 555 one (non-root), and what cannot be made real is injected at the
// file-system calls fileStore makes (fs.promises.open/rename/unlink failing with ENOSPC or
// EROFS), which exercises the same code paths. Each test says which it used.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, memoryStore, webStorageStore } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { T0, MIN, keys, manualClock, quotaStorage, settleMocked, statusOf, tick, httpError } from "./helpers.mjs";

function capture() {
  const c = { error: [], warn: [], info: [] };
  c.logger = { error: (m) => c.error.push(m), warn: (m) => c.warn.push(m), info: (m) => c.info.push(m) };
  return c;
}

/**
 * A `{ load, save, keepCorrupt }` store holding `value` (a text), whose copies fail while
 * `copyFails`; both are fields the test sets.
 */
function savingStore(value) {
  const s = {
    value,
    copyFails: true,
    store: {
      name: "saving",
      load: () => s.value,
      save: (snapshot) => (s.value = JSON.stringify(snapshot)),
      keepCorrupt() {
        if (s.copyFails) throw new Error("disk full");
        return "copy";
      },
    },
  };
  return s;
}

async function until(cond, ms = 3000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail("timed out waiting");
    await tick(2);
  }
}

/**
 * Runs `n` calls over k0..k3 on a clock that advances 10 s a call; every third call's first
 * key answers 429, every seventh a 402. Returns how many completed (resolved or gave up by
 * the pool's own rules).
 */
async function workload(pool, clock, n) {
  let completed = 0;
  for (let i = 0; i < n; i++) {
    clock.now += 10_000;
    let first = true;
    const r = await pool
      .run(({ profileId }) => {
        const fail = first && (i % 3 === 0 ? httpError(429, "Too Many Requests") : i % 7 === 0 ? httpError(402, "Payment Required") : null);
        first = false;
        if (fail) throw fail;
        return profileId;
      })
      .then(
        (v) => v,
        (e) => e,
      );
    assert.ok(!(r instanceof Error) || r.name === "AllProfilesExhaustedError", `run ${i}: ${r?.stack}`);
    completed++;
    if (i % 5 === 4) await tick(1); // let the store's timers (writes, retries) run
  }
  return completed;
}

/** The stored state says what the pool says, profile by profile. */
function assertConverged(text, pool) {
  const stored = JSON.parse(text).profiles;
  for (const p of pool.getStatus().profiles) {
    const s = stored[p.id];
    assert.ok(s, `${p.id} is stored`);
    assert.equal(s.errorCount, p.errorCount, `${p.id}.errorCount`);
    for (const f of ["lastUsed", "lastFailure", "lastSuccess"]) assert.equal(s[f], p[f], `${p.id}.${f}`);
    if (p.state !== "available") {
      assert.equal(s.cooldownUntil, p.cooldownUntil, `${p.id}.cooldownUntil`);
      assert.equal(s.cooldownLong === true, p.state === "disabled", `${p.id}.cooldownLong`);
    }
  }
}

test("a save that throws on every second call: every run completes, each failed write is retried, the store converges", async () => {
  for (const kind of ["save", "update"]) {
    let calls = 0;
    let stored = null;
    let flaky = true;
    const write = (fn) => {
      calls++;
      if (flaky && calls % 2 === 0) throw new Error(`write ${calls} failed`);
      fn();
    };
    const store =
      kind === "save"
        ? { name: "flaky-save", load: () => stored, save: (s) => write(() => (stored = JSON.stringify(s))) }
        : { name: "flaky-update", load: () => stored, update: (merge) => write(() => (stored = JSON.stringify(merge(stored)))) };
    const clock = manualClock();
    const log = capture();
    const pool = new Pool({ profiles: keys(4), storage: store, clock: clock.fn, maxWaitMs: 0, logger: log.logger, saveIntervalMs: 1 });
    await pool.init();
    const n = 120;
    for (let round = 0; round < 4; round++) {
      assert.equal(await workload(pool, clock, n / 4), n / 4);
      await pool.flush().catch(() => {}); // a flush may hit the failing call; the next one retries
    }
    assert.ok(calls >= 4, `${kind}: ${calls} writes`);
    assert.ok(log.error.length >= 1, `${kind}: failed writes are logged`);
    assert.ok(log.error.every((m) => /saving state to flaky-(save|update) failed \(attempt \d+; retrying in [\d.]+s\): write \d+ failed/.test(m)), log.error[0]);
    flaky = false;
    await pool.flush();
    assertConverged(stored, pool);
    await pool.close();
  }
});

test("a load that throws, then returns garbage: the first write reads again, copies the garbage aside, and writes the pool's state", async () => {
  let loads = 0;
  let stored = null;
  const copies = [];
  const store = {
    name: "unreachable",
    load() {
      loads++;
      if (loads === 1) throw new Error("ECONNRESET");
      return loads === 2 ? '{"version":1,"profiles":' : stored;
    },
    save: (s) => (stored = JSON.stringify(s)),
    keepCorrupt: (raw) => copies.push(raw),
  };
  const clock = manualClock();
  const log = capture();
  const pool = new Pool({ profiles: keys(4), storage: store, clock: clock.fn, maxWaitMs: 0, logger: log.logger, saveIntervalMs: 1 });
  assert.equal(await workload(pool, clock, 30), 30, "runs complete although the state could not be loaded");
  assert.match(log.error[0], /loading state from unreachable failed, starting fresh: ECONNRESET/);
  await pool.flush();
  assert.ok(loads >= 2, "read again before the first write (and before each write since)");
  assert.deepEqual(copies, ['{"version":1,"profiles":']);
  assertConverged(stored, pool);
  await pool.close();
});

test("a store with load and save: each write reads first and merges, so pools writing one after the other lose nothing (SPEC §7; was: the last writer's state replaced the other's)", async () => {
  let stored = null;
  let loads = 0;
  const store = () => ({
    load: () => (loads++, stored),
    save: (s) => {
      stored = JSON.stringify(s);
    },
  });
  const a = new Pool({ profiles: keys(2), storage: store() });
  const b = new Pool({ profiles: keys(2), storage: store() });
  await Promise.all([a.init(), b.init()]);
  a.markFailure("k0", "billing");
  await a.flush();
  b.markFailure("k1", "rate_limit");
  const before = loads;
  await b.flush();
  assert.equal(loads, before + 1, "one read before the write");
  const saved = JSON.parse(stored).profiles;
  assert.deepEqual([saved.k0.lastFailureReason, saved.k1.lastFailureReason], ["billing", "rate_limit"], "both failures are stored");
  assert.equal(statusOf(b, "k0").state, "disabled", "the writer took in the other's rest");
  const fresh = new Pool({ profiles: keys(2), storage: store() });
  await fresh.init();
  assert.deepEqual(fresh.getStatus().profiles.map((p) => p.state), ["disabled", "cooldown"]);
  await Promise.all([a.close(), b.close(), fresh.close()]);
});

test("a load that throws a value with no string form (Object.create(null)): init() still resolves, and the logger says so", async () => {
  const log = capture();
  let loads = 0;
  const store = { name: "odd", load: () => (loads++ === 0 ? Promise.reject(Object.create(null)) : null), save: () => {} };
  const pool = new Pool({ profiles: keys(2), storage: store, logger: log.logger });
  await pool.init(); // was: rejected with "Cannot convert object to primitive value"
  assert.deepEqual(log.error, ["key-carousel: loading state from odd failed, starting fresh: (no message)"]);
  assert.equal((await pool.run(({ profileId }) => profileId)).value, "k0");
  await pool.close();
});

test("a bad stored value whose copy cannot be kept (Web Storage full) is not overwritten: the writes fail until a copy is kept", async () => {
  // A Storage with a quota of characters, as browsers have; another program's large value
  // sits under the pool's key, and another app's value fills all but 20 characters: not even
  // moving it aside fits (its side key is 22 characters longer).
  const QUOTA = 5000;
  const { storage, items, used } = quotaStorage(QUOTA);
  const theirs = JSON.stringify({ notes: "x".repeat(3000) });
  items.set("key-carousel", theirs);
  items.set("other-app", "y".repeat(QUOTA - used() - "other-app".length - 20));
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: webStorageStore(storage), logger: log.logger, saveIntervalMs: 1 });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await assert.rejects(pool.flush(), /no copy of it could be kept: not overwritten/);
  assert.equal(items.get("key-carousel"), theirs, "their value is still there (was: overwritten by the pool's state)");
  assert.equal(log.warn.length, 1);
  assert.match(log.warn[0], /is unusable .*keeping a copy failed \(Setting the value of 'key-carousel\.corrupt-\d+' exceeded the quota\.\), so the pool does not overwrite it/);
  assert.equal(pool.getStatus().profiles[0].state, "cooldown", "the pool goes on with what it knows");
  // Room is made (the quota is lifted): the next write keeps the copy, then writes the state.
  storage.setItem = (k, v) => items.set(k, String(v));
  await pool.flush();
  const copies = [...items.keys()].filter((k) => k.startsWith("key-carousel.corrupt-"));
  assert.equal(copies.length, 1);
  assert.equal(items.get(copies[0]), theirs);
  assert.equal(JSON.parse(items.get("key-carousel")).profiles.k0.lastFailureReason, "rate_limit");
  assert.ok(log.info.some((m) => /the unusable state stored in webStorage key "key-carousel": a copy is kept at key-carousel\.corrupt-/.test(m)), log.info.join("\n"));
  await pool.close();
});

test("a store with update that retries its merge: a bad value met on the second pass is not overwritten before its copy is kept", async () => {
  // As Deno KV's commit loop: the first pass reads a good value, its commit conflicts; another
  // writer has stored garbage meanwhile, which the second pass reads.
  let value = JSON.stringify({ version: 1, profiles: {} });
  let copyFails = true;
  const copies = [];
  const store = {
    name: "retrying",
    load: () => value,
    update(merge) {
      merge(value); // pass 1: conflict, start again
      value = "{garbage";
      const next = merge(value); // pass 2
      value = JSON.stringify(next);
    },
    keepCorrupt(raw) {
      if (copyFails) throw new Error("side key unavailable");
      copies.push(raw);
      return "side";
    },
  };
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: store, logger: log.logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await assert.rejects(pool.flush(), /no copy of it could be kept: not overwritten/);
  assert.equal(value, "{garbage", "not overwritten while its copy fails");
  copyFails = false;
  await pool.flush();
  assert.deepEqual(copies, ["{garbage"]);
  assert.equal(JSON.parse(value).profiles.k0.lastFailureReason, "rate_limit");
  await pool.close();
});

test("a store with load and save: a bad value loaded is not overwritten while its copy fails (was: the first save overwrote it)", async () => {
  const s = savingStore("not json");
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: s.store, logger: log.logger });
  await pool.init();
  assert.match(log.warn[0], /keeping a copy failed \(disk full\), so the pool does not overwrite it/);
  pool.markFailure("k0", "rate_limit");
  await assert.rejects(pool.flush(), /no copy of it could be kept: not overwritten/);
  assert.equal(s.value, "not json");
  s.copyFails = false;
  await pool.flush();
  assert.equal(JSON.parse(s.value).profiles.k0.lastFailureReason, "rate_limit");
  // Another bad value, then replaced by a good one before any copy could be kept: the pool
  // reads again before its save, and writes.
  s.value = "still not json";
  s.copyFails = true;
  const again = new Pool({ profiles: keys(2), storage: s.store, logger: capture().logger });
  await again.init();
  again.markFailure("k1", "rate_limit");
  await assert.rejects(again.flush(), /not overwritten/);
  s.value = JSON.stringify({ version: 1, profiles: {} });
  await again.flush();
  assert.equal(JSON.parse(s.value).profiles.k1.lastFailureReason, "rate_limit");
  await again.close();
  await pool.close();
});

test("runs waiting for a rest read the store every 2 s: after a first load that failed too; a read that hangs is not read over, and close() does not wait for it", async () => {
  let stored = null;
  let loads = 0;
  let hang = false;
  const store = {
    name: "flaky",
    load() {
      loads++;
      if (loads === 1) throw new Error("ECONNRESET");
      return hang ? new Promise(() => {}) : stored;
    },
    update(merge) {
      stored = JSON.stringify(merge(stored));
    },
  };
  const pool = new Pool({ profiles: keys(1), storage: store, logger: capture().logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await pool.flush();
  const waiting = pool.run(({ profileId }) => profileId);
  // Another process clears k0 in the store.
  const other = new Pool({ profiles: keys(1), storage: store });
  await other.init();
  other.clearCooldown("k0");
  await other.close();
  const t0 = Date.now();
  assert.equal((await waiting).value, "k0", "woken by the read (was: none after a failed first load)");
  assert.ok(Date.now() - t0 < 4500, `${Date.now() - t0} ms`);
  // Reads that hang: one at a time, and flush/close do not wait for it.
  pool.markFailure("k0", "rate_limit");
  await pool.flush();
  hang = true;
  const before = loads;
  const stillWaiting = pool.run(({ profileId }) => profileId, { signal: AbortSignal.timeout(5500) }).then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  await tick(5000);
  assert.equal(loads - before, 1, "one read under way, not one every 2 s");
  const c0 = Date.now();
  await pool.close();
  assert.ok(Date.now() - c0 < 500, "close() does not wait for the hung read");
  assert.equal((await stillWaiting).name, "AllProfilesExhaustedError", "close() ends the waiting run");
});

test("a store with load and save: a bad value that a read while runs wait finds is not saved over while its copy fails", async () => {
  const s = savingStore(null);
  const pool = new Pool({ profiles: keys(1), storage: s.store, logger: capture().logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await pool.flush();
  const controller = new AbortController();
  const waiting = pool.run(() => 1, { signal: controller.signal }).catch((e) => e);
  s.value = "garbage from another program";
  await tick(2600); // a read while the run waits finds it; its copy fails
  pool.markFailure("k0", "server_error");
  await assert.rejects(pool.flush(), /not overwritten/);
  assert.equal(s.value, "garbage from another program");
  s.copyFails = false;
  await pool.flush();
  assert.equal(JSON.parse(s.value).profiles.k0.errorCount, 2);
  controller.abort();
  await waiting;
  await pool.close();
});

test("500 runs waiting for a rest: the store is read about once a second, not once per run; a text already read wakes no run; a load that throws (even synchronously) is read again later", async () => {
  let stored = null;
  let loads = 0;
  let mode = "ok";
  const store = {
    name: "counted",
    load() {
      loads++;
      if (mode === "throw") throw new Error("sync failure");
      if (mode === "reject") return Promise.reject(new Error("down"));
      return stored;
    },
    update(merge) {
      stored = JSON.stringify(merge(stored));
    },
  };
  let clockReads = 0;
  const log = capture();
  const pool = new Pool({ profiles: keys(1), storage: store, logger: log.logger, clock: () => (clockReads++, Date.now()) });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await pool.flush();
  const controller = new AbortController();
  const runs = Array.from({ length: 500 }, () => pool.run(() => 1, { signal: controller.signal }).catch((e) => e));
  await tick(2300); // the first read finds the pool's own last write: new to it, so merged once
  // Unchanged store: ~1 read a second, and no run woken (a woken run reads the clock).
  loads = 0;
  clockReads = 0;
  await tick(4200);
  assert.ok(loads >= 2 && loads <= 5, `${loads} reads in 4.2 s (was: one per waiting run every 2 s)`);
  assert.equal(clockReads, 0, "no run woken by a read that found nothing new");
  // Reads that fail: backed off, logged once each (not once per waiting run).
  mode = "reject";
  await tick(1100);
  loads = 0;
  log.warn.length = 0;
  await tick(3000);
  assert.ok(loads <= 2, `${loads} failing reads in 3 s`);
  assert.equal(log.warn.length, loads);
  // One that throws synchronously, then works again: reading goes on.
  mode = "throw";
  await tick(4500);
  mode = "ok";
  const other = new Pool({ profiles: keys(1), storage: store });
  await other.init();
  other.clearCooldown("k0");
  await other.close();
  const t0 = Date.now();
  let timer;
  const results = await Promise.race([Promise.all(runs), new Promise((r) => (timer = setTimeout(r, 40_000, "still waiting")))]);
  clearTimeout(timer);
  assert.notEqual(results, "still waiting", "a read that threw synchronously stopped the reading for good");
  assert.ok(results.every((r) => r.value === 1), "every waiting run is woken by the clear");
  assert.ok(Date.now() - t0 < 35_000);
  await pool.close();
});

test("a store that another process fills with garbage: runs complete, bad values are copied aside once, the store converges", async () => {
  const garbage = ["{", "null\u0000", '{"version":7}', JSON.stringify({ version: 1, profiles: [] }), "\uFFFD\uFFFD"];
  let stored = JSON.stringify({ version: 1, profiles: { k0: { errorCount: 2, lastFailure: T0 - MIN, cooldownUntil: T0 + 5 * MIN, lastFailureReason: "rate_limit" } } });
  let loads = 0;
  let faulty = true;
  const copies = [];
  const store = {
    name: "garbled",
    load() {
      loads++;
      if (!faulty) return stored;
      if (loads % 3 === 0) throw new Error("ECONNRESET");
      return loads % 3 === 1 ? stored : garbage[loads % garbage.length];
    },
    update(merge) {
      // Another process keeps writing garbage over the state until the fault clears.
      const current = faulty ? garbage[loads++ % garbage.length] : stored;
      stored = JSON.stringify(merge(current));
    },
    keepCorrupt(raw) {
      copies.push(raw);
      return `copy ${copies.length}`;
    },
  };
  const clock = manualClock();
  const log = capture();
  const pool = new Pool({ profiles: keys(4), storage: store, clock: clock.fn, maxWaitMs: 0, logger: log.logger, saveIntervalMs: 1 });
  await pool.init();
  assert.equal(pool.getStatus().profiles[0].state, "cooldown", "the first load was good: k0's rest is loaded");
  assert.equal(await workload(pool, clock, 60), 60);
  await pool.flush();
  assert.ok(copies.length >= 1, "bad values are copied aside");
  assert.ok(new Set(copies).size === copies.length, "each bad value once");
  const other = log.warn.filter((m) => !/is unusable/.test(m) && !/^\[key-carousel\] Profile k\d failed: /.test(m));
  assert.deepEqual(other, [], "warnings are about the failed calls and the bad values only");
  faulty = false;
  pool.markSuccess("k1");
  await pool.flush();
  assertConverged(stored, pool);
  await pool.close();
});

// ── the file store on a full disk and in a read-only directory ──────────────────────────

let mountable;
function canMount() {
  if (mountable !== undefined) return mountable;
  mountable = false;
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "kc-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    mountable = true;
  } catch {
    // not allowed here (a container without CAP_SYS_ADMIN)
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
  return mountable;
}

/** Makes fileStore's file-system calls fail with `code` while `on()` says so. */
function injectFs(code, on, calls = ["open", "rename", "unlink", "writeFile", "mkdir"]) {
  const saved = {};
  for (const name of calls) {
    saved[name] = fsp[name];
    fsp[name] = async function (path, flags, ...rest) {
      const writing = name !== "open" || /[wa+]/.test(String(flags ?? "r"));
      if (on() && writing) throw Object.assign(new Error(`${code}: injected, ${name} '${path}'`), { code });
      return saved[name].call(this, path, flags, ...rest);
    };
  }
  return () => Object.assign(fsp, saved);
}

/** A directory that can be filled up / made read-only and back (`simulated`: by injection). */
function faultyDir(t, fault, simulated) {
  const dir = mkdtempSync(join(tmpdir(), `kc-${fault}-`));
  const d = { dir, faulty: false, cleanup: [] };
  if (!simulated && canMount()) {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
    d.cleanup.push(() => execFileSync("umount", [dir]));
    d.kind = `a real 64 KB tmpfs${fault === "full" ? ", filled up" : ", remounted read-only"}`;
    const filler = join(dir, "filler");
    d.set = (on) => {
      d.faulty = on;
      if (fault === "full") {
        if (on) {
          try {
            writeFileSync(filler, Buffer.alloc(1 << 20));
          } catch (e) {
            assert.equal(e.code, "ENOSPC"); // filled to the last block
          }
        } else rmSync(filler, { force: true });
      } else execFileSync("mount", ["-o", `remount,${on ? "ro" : "rw"}`, dir]);
    };
  } else if (!simulated && fault === "readonly" && process.getuid?.() !== 0) {
    d.kind = "a real chmod 555 directory";
    d.set = (on) => {
      d.faulty = on;
      chmodSync(dir, on ? 0o555 : 0o755);
    };
  } else {
    const code = fault === "full" ? "ENOSPC" : "EROFS";
    d.kind = `a simulated ${code} (fs.promises calls fail)`;
    d.cleanup.push(injectFs(code, () => d.faulty));
    d.set = (on) => (d.faulty = on);
  }
  d.cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  t.after(() => {
    if (d.faulty) d.set(false);
    for (const f of d.cleanup) f();
  });
  t.diagnostic(`${fault}: ${d.kind}`);
  return d;
}

for (const [fault, simulated] of [["full", false], ["readonly", false], ["full", true], ["readonly", true]]) {
  const what = `${fault === "full" ? "full disk" : "read-only directory"}${simulated ? " (simulated)" : ""}`;
  test(`a file store on a ${what}: runs complete, writes fail and are retried, the file converges once it clears`, async (t) => {
    const d = faultyDir(t, fault, simulated);
    const sub = join(d.dir, "state");
    mkdirSync(sub);
    const path = join(sub, "llm-keys.json");
    const clock = manualClock();
    const log = capture();
    const pool = new Pool({ profiles: keys(4), storage: fileStore(path, { lockTimeoutMs: 200 }), clock: clock.fn, maxWaitMs: 0, logger: log.logger, saveIntervalMs: 5 });
    await pool.init();
    assert.equal(await workload(pool, clock, 10), 10);
    await pool.flush();
    const before = readFileSync(path, "utf8");

    d.set(true);
    assert.equal(await workload(pool, clock, 40), 40, "every run completes while the store fails");
    await assert.rejects(pool.flush(), (e) => ["ENOSPC", "EROFS", "EACCES"].includes(e.code) || /ENOSPC|EROFS|EACCES/.test(e.message), "flush reports the store's error");
    await until(() => log.error.length >= 2); // the retries keep failing, and say so
    assert.match(log.error[0], new RegExp(`saving state to file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} failed \\(attempt 1;`));
    assert.equal(readFileSync(path, "utf8"), before, "the file is the last good state, never a partial one");

    d.set(false);
    await until(() => log.info.some((m) => /works again/.test(m)), 5000); // the retry timer writes it
    await pool.flush();
    assertConverged(readFileSync(path, "utf8"), pool);
    assert.deepEqual(readdirSync(sub), ["llm-keys.json"], "no lock or temp file left behind");
    await pool.close();
  });
}

// Redis killed and restarted mid-run: tests/node/redis.test.mjs ("Redis killed and restarted
// mid-run: runs go on, save errors are logged, the state converges after the restart").

// A store that does not answer its first load (Redis down at start, the client's offline
// queue holding the command): the README's "runs go on" and the run's signal still hold.
function hangingStore() {
  let answer;
  const store = {
    loads: 0,
    load() {
      store.loads++;
      return new Promise((resolve) => (answer = resolve));
    },
    name: "hanging store",
    save() {},
    answer: (raw) => answer(raw),
  };
  return store;
}

test("a first load that does not answer: the run's signal ends the wait at once", async () => {
  const store = hangingStore();
  const pool = new Pool({ profiles: keys(2), storage: store, logger: capture().logger });
  const t0 = Date.now();
  const reason = new Error("caller gave up");
  const ac = new AbortController();
  setTimeout(() => ac.abort(reason), 50);
  const seen = [];
  const err = await pool.run(({ profileId }) => seen.push(profileId), { signal: ac.signal }).catch((e) => e);
  assert.equal(err, reason);
  assert.ok(Date.now() - t0 < 2000, `waited ${Date.now() - t0} ms`);
  assert.deepEqual(seen, []);
  // An already aborted signal: the same, without waiting.
  assert.equal(await pool.run(() => "x", { signal: AbortSignal.abort(reason) }).catch((e) => e), reason);
  store.answer(null);
});

test("a first load that does not answer: runs wait for it 5 s at most, then go on; the state is merged when it comes", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const flush = () => new Promise((resolve) => setImmediate(resolve)); // setImmediate is not mocked
  const store = hangingStore();
  const clock = manualClock();
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: store, clock: clock.fn, logger: log.logger });
  const done = [];
  const first = pool.run(({ profileId }) => profileId).then((r) => done.push(["first", r.profileId]));
  await flush();
  t.mock.timers.tick(3000);
  // Started 3 s later: it waits for what is left of the same 5 s.
  const second = pool.run(({ profileId }) => profileId).then((r) => done.push(["second", r.profileId]));
  await flush();
  t.mock.timers.tick(1999);
  await flush();
  assert.deepEqual(done, [], "still waiting at 4.999 s");
  t.mock.timers.tick(1);
  await first;
  await second;
  assert.deepEqual(done, [["first", "k0"], ["second", "k1"]]);
  assert.deepEqual(log.warn, ["key-carousel: loading state from hanging store has not answered in 5 s; runs go on without it (it is merged in when it answers)"]);
  // Later runs do not wait again.
  assert.equal((await pool.run(({ profileId }) => profileId)).profileId, "k0");
  assert.equal(store.loads, 1);
  // The load answers at last: its rest on k1 is merged in.
  store.answer({ version: 1, profiles: { k1: { errorCount: 1, lastFailure: T0 + 10, cooldownUntil: T0 + MIN, updatedAt: T0 + 10 } } });
  await flush();
  await flush();
  const k1 = pool.getStatus().profiles.find((p) => p.id === "k1");
  assert.equal(k1.state, "cooldown");
  assert.equal(k1.cooldownUntil, T0 + MIN);
});

test("a first load that does not answer, and the wall clock steps back an hour: runs still wait 5 s at most", { timeout: 20_000 }, async (t) => {
  // Real timers (monotonic), a wall clock stepped back: Date.now an hour behind after the
  // first run began waiting. (Mock timers would move the timers with it.)
  const realNow = Date.now;
  t.after(() => (Date.now = realNow));
  const store = hangingStore();
  const pool = new Pool({ profiles: keys(2), storage: store, clock: manualClock().fn, logger: capture().logger });
  const started = performance.now();
  const first = pool.run(({ profileId }) => profileId);
  await tick(10);
  Date.now = () => realNow() - 3_600_000;
  await pool.run(({ profileId }) => profileId);
  await first;
  const waited = performance.now() - started;
  assert.ok(waited >= 4900 && waited < 7000, `waited ${Math.round(waited)} ms`);
  store.answer(null);
});

// ---- A run that recorded a failure settles after the write carrying it (see Persister.saved) ----

test("a run that failed over settles once its failure is written: the store holds it when run() resolves", async () => {
  let stored = null;
  const writes = [];
  const store = {
    load: async () => stored,
    update: async (merge) => {
      await tick(80); // a slow store
      stored = merge(stored);
      writes.push(Date.now());
      return stored;
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: store, logger: capture().logger });
  await pool.init();
  const r = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(429, "Too Many Requests");
    return profileId;
  });
  assert.equal(r.value, "k1");
  assert.ok(stored?.profiles?.k0?.cooldownUntil > Date.now(), "k0's rest is in the store when run() resolves");
  // A run without a failure does not wait for the (coalesced) write of its success: it
  // resolves before that write has happened.
  const before = writes.length;
  await pool.run(({ profileId }) => profileId);
  assert.equal(writes.length, before);
  await pool.close();
});

test("a store that never answers holds a failing run back for 1 s at most; a failing store not at all", async () => {
  const hanging = { load: async () => null, update: () => new Promise(() => {}) };
  const pool = new Pool({ profiles: keys(2), storage: hanging, maxWaitMs: 0, logger: capture().logger });
  await pool.init();
  const t0 = Date.now();
  const r = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw httpError(429, "Too Many Requests");
    return profileId;
  });
  const waited = Date.now() - t0;
  assert.equal(r.value, "k1");
  assert.ok(waited >= 950 && waited < 5000, `waited ${waited} ms`);

  const log = capture();
  const failing = { load: async () => null, update: async () => Promise.reject(new Error("store down")) };
  const p2 = new Pool({ profiles: keys(2), storage: failing, maxWaitMs: 0, logger: log.logger });
  await p2.init();
  const t1 = Date.now();
  const e = await p2.run(() => Promise.reject(httpError(429, "Too Many Requests"))).catch((x) => x);
  assert.equal(e.name, "AllProfilesExhaustedError");
  assert.ok(Date.now() - t1 < 900, `waited ${Date.now() - t1} ms`);
  assert.match(log.error.join("\n"), /saving state to .* failed/);
});

test("flush() under steady load writes what came before it and ends (was: it wrote back to back for as long as runs kept completing, and never resolved)", async () => {
  let stored = null;
  let writes = 0;
  const store = {
    load: async () => stored,
    update: async (merge) => {
      await tick(20);
      stored = merge(stored);
      writes++;
      return stored;
    },
  };
  const pool = new Pool({ profiles: keys(4), storage: store, logger: capture().logger });
  await pool.init();
  let load = true;
  const busy = (async () => {
    while (load) {
      await pool.run(({ profileId }) => profileId);
      await tick(1);
    }
  })();
  await tick(50);
  pool.markFailure("k3", "rate_limit");
  const t0 = Date.now();
  const w0 = writes;
  const done = await Promise.race([pool.flush().then(() => true), tick(3000).then(() => false)]);
  load = false;
  await busy;
  assert.ok(done, `flush() still pending after 3 s of load (${writes - w0} writes meanwhile)`);
  assert.ok(writes - w0 <= 3, `${writes - w0} writes for one flush`);
  assert.ok(JSON.parse(JSON.stringify(stored)).profiles.k3.cooldownUntil > t0, "the failure made before flush() is written");
  await pool.close();
});

test("a write that hangs: runs that fail in its first second wait for it, later ones do not", async () => {
  let calls = 0;
  const store = { load: async () => null, update: () => (calls++ === 0 ? new Promise(() => {}) : Promise.resolve()) };
  const keepAlive = setInterval(() => {}, 1000); // a real store's socket
  try {
    const pool = new Pool({ profiles: keys(2), storage: store, logger: capture().logger });
    await pool.init();
    const failOver = ({ profileId }) => {
      if (profileId === "k0") throw httpError(500, "Internal Server Error");
      return profileId;
    };
    let t0 = Date.now();
    await pool.run(failOver);
    assert.ok(Date.now() - t0 >= 950, `the first waited ${Date.now() - t0} ms`);
    pool.clearCooldown("k0");
    t0 = Date.now();
    await pool.run(failOver);
    assert.ok(Date.now() - t0 < 500, `a later run waited ${Date.now() - t0} ms for a write that has hung for a second`);
  } finally {
    clearInterval(keepAlive);
  }
});

// A write that never answers (a half-open connection, a client without a command timeout; a
// Worker's request that ended with the write in flight): it was awaited for good, so the
// pool never wrote again and flush()/close() never ended.
function oneHungWrite() {
  const s = {
    stored: null,
    updates: 0,
    store: {
      name: "hung once",
      load: async () => s.stored,
      update: (merge) => {
        if (++s.updates === 1) return new Promise(() => {});
        s.stored = merge(s.stored);
        return Promise.resolve(s.stored);
      },
    },
  };
  return s;
}

test("a write that never answers is taken as lost after 30 s: logged, its changes and later ones written, flush() ends (was: no write ever again, flush() never ended)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const settle = () => settleMocked(t);
  const h = oneHungWrite();
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: h.store, clock: manualClock().fn, logger: log.logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await settle();
  assert.equal(h.updates, 1);
  t.mock.timers.tick(1500);
  pool.markFailure("k1", "server_error");
  let flushed = false;
  const flush = pool.flush().then(() => (flushed = true));
  await settle();
  t.mock.timers.tick(28_499);
  await settle();
  assert.equal(flushed, false, "flush() waits for the write while it may still answer");
  assert.equal(h.updates, 1);
  t.mock.timers.tick(1);
  await flush;
  assert.equal(h.updates, 2);
  assert.ok(h.stored.profiles.k0.cooldownUntil > T0, "the lost write's change is written");
  assert.ok(h.stored.profiles.k1.cooldownUntil > T0, "the change made while it hung is written");
  assert.deepEqual(log.error, ['key-carousel: saving state to hung once failed (attempt 1; retrying in 1s): saving state to hung once did not answer in 30 s: taken as lost']);
  await pool.close();
});

test("a write that never answers and whose own timer never fired: the next change takes it as lost and the state is written", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const settle = () => settleMocked(t);
  const h = oneHungWrite();
  const log = capture();
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), storage: h.store, clock: clock.fn, logger: log.logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await settle();
  assert.equal(h.updates, 1);
  // Its timers are dropped (reset discards the pending mock timers).
  t.mock.timers.reset();
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 + 31_000 });
  clock.now = T0 + 31_000;
  pool.markFailure("k1", "server_error");
  await settle();
  t.mock.timers.tick(1000); // the retry's backoff
  await settle();
  await pool.flush();
  assert.equal(h.updates, 2);
  assert.ok(h.stored.profiles.k0.cooldownUntil > T0);
  assert.ok(h.stored.profiles.k1.cooldownUntil > T0 + 31_000);
  assert.match(log.error.join("\n"), /did not answer in 30 s: taken as lost/);
  await pool.close();
});

test("a save taken as lost that lands after all is followed by another write: the newer state is not left overwritten (a { load, save } store)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const settle = () => settleMocked(t);
  let stored = null;
  let saves = 0;
  const store = {
    name: "slow once",
    load: async () => stored,
    save: (v) => {
      if (++saves === 1) return new Promise((resolve) => setTimeout(() => resolve((stored = v)), 40_000));
      stored = v;
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: store, clock: manualClock().fn, logger: capture().logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await settle();
  t.mock.timers.tick(1000);
  pool.markFailure("k1", "server_error");
  const flushed = pool.flush().catch((e) => e.message);
  await settle();
  t.mock.timers.tick(29_000);
  await settle();
  await flushed;
  const resting = () => Object.keys(stored.profiles).filter((id) => stored.profiles[id].cooldownUntil > T0).sort();
  assert.deepEqual(resting(), ["k0", "k1"]);
  assert.equal(saves, 2);
  t.mock.timers.tick(10_000); // the lost save lands (k1's rest gone from the store), then the write it causes
  await settle();
  t.mock.timers.tick(1000);
  await settle();
  assert.equal(saves, 3);
  assert.deepEqual(resting(), ["k0", "k1"]);
  await pool.close();
});

test("a store that never answers at all: flush() rejects after 30 s, and close() too (it ends)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const settle = () => settleMocked(t);
  const store = { name: "silent", load: async () => null, update: () => new Promise(() => {}) };
  const pool = new Pool({ profiles: keys(2), storage: store, clock: manualClock().fn, logger: capture().logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  const flushed = pool.flush().then(() => "resolved", (e) => e.message);
  await settle();
  t.mock.timers.tick(29_999);
  await settle();
  assert.equal(await Promise.race([flushed, "pending"]), "pending");
  t.mock.timers.tick(1);
  assert.equal(await flushed, "saving state to silent did not answer in 30 s: taken as lost");
  const closed = pool.close().then(() => "resolved", (e) => e.message);
  await settle();
  t.mock.timers.tick(30_000);
  assert.equal(await closed, "saving state to silent did not answer in 30 s: taken as lost");
});

test("a first load that never answers is taken as failed after 30 s: the failures recorded meanwhile are written (was: no write ever)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  const settle = () => settleMocked(t);
  let stored = null;
  const store = {
    name: "mute",
    load: () => new Promise(() => {}),
    update: (merge) => Promise.resolve((stored = merge(stored))),
  };
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: store, clock: manualClock().fn, logger: log.logger });
  pool.markFailure("k0", "rate_limit");
  await settle();
  t.mock.timers.tick(30_000);
  await settle();
  t.mock.timers.tick(1000); // the retry of the write that waited for the load
  await settle();
  await pool.flush();
  assert.ok(stored?.profiles?.k0?.cooldownUntil > T0, JSON.stringify(stored));
  // Only the load is reported: the write waiting for it had not asked the store yet.
  assert.deepEqual(log.error, ["key-carousel: loading state from mute failed, starting fresh: loading state from mute did not answer in 30 s: taken as lost"]);
  await pool.close();
});

test("a failure recorded after close() (a run still in flight) is not saved, and the logger says so once (was: silently dropped)", async () => {
  const store = memoryStore();
  const log = capture();
  const pool = new Pool({ profiles: keys(2), storage: store, logger: log.logger });
  await pool.init();
  let release;
  const call = pool
    .run(({ profileId }) => (profileId === "k0" ? new Promise((_, reject) => (release = () => reject(httpError(429, "Too Many Requests")))) : profileId), { provider: "openai" })
    .catch(() => {});
  await tick(2);
  await pool.close();
  release();
  await call;
  pool.markFailure("k1", "rate_limit");
  // close() wrote the pick of the call in flight, and nothing after it.
  const stored = JSON.parse(store.load()).profiles;
  assert.deepEqual([stored.k0.errorCount, stored.k1.errorCount], [0, 0], "no failure written after close()");
  assert.equal(pool.getStatus().profiles[1].errorCount, 1);
  const dropped = log.warn.filter((m) => /changes made after close\(\) are not saved/.test(m));
  assert.equal(dropped.length, 1, log.warn.join("\n"));
});

test("a write that fails while a run waits for a later one lets the run go at once (was: it waited the full second)", async () => {
  let n = 0;
  const store = {
    load: async () => null,
    update: async () => {
      n++;
      await tick(60);
      throw new Error("store down");
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: store, maxWaitMs: 0, logger: capture().logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit"); // a write starts and fails 60 ms later
  await tick(5);
  const t0 = Date.now();
  const e = await pool.run(() => Promise.reject(httpError(429, "Too Many Requests"))).catch((x) => x);
  const took = Date.now() - t0;
  assert.equal(e.name, "AllProfilesExhaustedError");
  assert.ok(took < 700, `the run waited ${took} ms for a store that had failed`);
  assert.ok(n >= 1);
});

test("a store error with an empty message is named in the log and the persist-error event (node-redis's TimeoutError; was: an empty string)", async () => {
  const logs = [];
  const events = [];
  const timeout = () => Object.assign(new Error(""), { name: "TimeoutError" });
  const store = { name: "flaky", load: () => null, save: () => Promise.reject(timeout()) };
  const pool = new Pool({ profiles: keys(1), clock: manualClock().fn, storage: store, logger: { error: (m) => logs.push(m), warn: (m) => logs.push(m) } });
  pool.on("persist-error", (e) => events.push(e));
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await assert.rejects(pool.flush(), (e) => e.name === "TimeoutError");
  assert.ok(events.length >= 1);
  assert.equal(events[0].error, "TimeoutError");
  assert.ok(logs.some((m) => m.includes("saving state to flaky failed") && m.endsWith(": TimeoutError")), logs.join("\n"));
  await pool.close().catch(() => {});
});

test("a failing store with saveIntervalMs: 0 is retried with backoff from 0.1 s, not once a millisecond", async () => {
  const log = capture();
  let saves = 0;
  const store = {
    load: () => null,
    save: () => {
      saves++;
      throw new Error("disk full");
    },
  };
  const pool = new Pool({ profiles: keys(2), storage: store, saveIntervalMs: 0, logger: log.logger });
  await pool.init();
  pool.markFailure("k0", "rate_limit");
  await new Promise((r) => setTimeout(r, 1000));
  // 0, 0.1, 0.3, 0.7 s: 4 attempts in the first second (a slow machine may see fewer).
  assert.ok(saves >= 2 && saves <= 5, `${saves} save attempts in 1 s`);
  assert.equal(log.error.length, saves, "one error line an attempt");
  assert.match(log.error[0], /\(attempt 1; retrying in 0\.1s\): disk full/);
  assert.match(log.error[1], /\(attempt 2; retrying in 0\.2s\): disk full/);
  assert.ok(log.error.every((m) => !m.includes("NaN")), log.error.join("\n"));
  await pool.close().catch(() => {});
});
