// Shared helpers of the Node test suite (not a test file itself).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** A fixed start time, a whole number of seconds (HTTP dates are second-precise). */
export const T0 = 1_700_000_000_000;

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;

/** An error shaped like an HTTP client's: a message plus `status` (and extras). */
export function httpError(status, message, extra = {}) {
  return Object.assign(new Error(message), { status }, extra);
}

export const tooManyRequests = () => httpError(429, "Too Many Requests");

/** `n` primaries of one provider with explicit ids k0..k(n-1). */
export function keys(n, provider = "openai") {
  return Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider, apiKey: `key-${provider}-${i}-0123456789` }));
}

/** A manual clock: `clock.now` is the time; pass `clock.fn` as the pool's clock. */
export function manualClock(start = T0) {
  const c = { now: start, fn: () => c.now };
  return c;
}

/** The rejection reason of `promise`; fails the test if it resolves. */
export async function rejection(promise) {
  let value;
  try {
    value = await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`expected a rejection, got ${JSON.stringify(value)}`);
}

/** The status of one profile, by id. */
export function statusOf(pool, id) {
  const p = pool.getStatus().profiles.find((s) => s.id === id);
  assert.ok(p, `no profile ${id} in status`);
  return p;
}

/** A barrier: `arrive()` resolves once `n` callers have arrived. */
export function barrier(n) {
  let release;
  const gate = new Promise((r) => (release = r));
  const b = {
    arrived: 0,
    arrive() {
      b.arrived++;
      if (b.arrived >= n) release();
      return gate;
    },
  };
  return b;
}

export const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Type-checks tests/types/<file> with tsc, in a temporary project where `key-carousel` is
 * `target` (default: the built package, pkg/) and each of `links` is the workspace's
 * node_modules/<link>; `compilerOptions` go into its tsconfig beside tests/types/tsconfig.base.json.
 * → { code, out } (tsc's exit code and output).
 */
export async function typecheck(file, { target = join(root, "pkg"), links = [], compilerOptions } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kc-types-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(target, join(dir, "node_modules", "key-carousel"), "dir");
    for (const m of links) {
      mkdirSync(dirname(join(dir, "node_modules", m)), { recursive: true });
      symlinkSync(join(root, "node_modules", m), join(dir, "node_modules", m), "dir");
    }
    copyFileSync(join(root, "tests", "types", file), join(dir, file));
    copyFileSync(join(root, "tests", "types", "tsconfig.base.json"), join(dir, "tsconfig.base.json"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "./tsconfig.base.json", compilerOptions, files: [file] }));
    try {
      const tsc = join(root, "node_modules", ".bin", "tsc");
      const { stdout, stderr } = await promisify(execFile)(tsc, ["-p", join(dir, "tsconfig.json")], { timeout: 120_000 });
      return { code: 0, out: stdout + stderr };
    } catch (e) {
      return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Under `t.mock.timers` (setTimeout mocked, setImmediate not): lets promise callbacks run,
 * fires the timers due now, and lets their callbacks run.
 */
export function settleMocked(t) {
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  return turn().then(() => t.mock.timers.tick(0)).then(turn);
}

/**
 * A Web Storage with a quota of `quota` characters (keys and values, as browsers count):
 * a `setItem` past it throws QuotaExceededError and changes nothing. Returns
 * `{ storage, items, used() }` (`items`: its Map).
 */
export function quotaStorage(quota) {
  const items = new Map();
  const used = () => [...items].reduce((n, [k, v]) => n + k.length + v.length, 0);
  const storage = {
    getItem: (k) => items.get(k) ?? null,
    setItem(k, v) {
      const before = items.get(k);
      items.set(k, String(v));
      if (used() > quota) {
        if (before === undefined) items.delete(k);
        else items.set(k, before);
        throw new DOMException(`Setting the value of '${k}' exceeded the quota.`, "QuotaExceededError");
      }
    },
    removeItem: (k) => items.delete(k),
  };
  return { storage, items, used };
}
