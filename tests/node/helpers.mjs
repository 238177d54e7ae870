// Shared helpers of the Node test suite (not a test file itself).
import assert from "node:assert/strict";

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
