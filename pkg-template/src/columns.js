// The core's status columns (`Pool::write_columns` in src/status.rs), as the JS layer
// reads them: per profile a header — one number, an integer below 2^27 — then only the
// values the header says follow, in this order: cooldownUntil, errorCount, lastUsed,
// lastFailure, lastSuccess (a profile never used is its header alone); then the totals
// (available, inCooldown, disabled, unavailableReason, nextAvailableAt), the number of
// model-scoped rests and PAIR_COLS numbers for each.

import { REASONS } from "./reasons.js";

/** Header bits 0–1: the state, an index into STATES. */
export const STATE = 0b11;
export const STATES = ["available", "cooldown", "disabled"];
/** Header bits 2–5: the last failure's reason code + 1; REASON_OF maps them to the name. */
export const REASON_SHIFT = 2;
export const REASON_MASK = 0b1111;
export const REASON_OF = [undefined, ...REASONS];
/** The values that follow the header, in this order, each when its bit is set. */
export const COOLDOWN_UNTIL = 1 << 6;
export const ERROR_COUNT = 1 << 7;
export const LAST_USED = 1 << 8;
export const LAST_FAILURE = 1 << 9;
export const LAST_SUCCESS = 1 << 10;
/** Any of them. */
export const VALUES = COOLDOWN_UNTIL | ERROR_COUNT | LAST_USED | LAST_FAILURE | LAST_SUCCESS;
/** Header bits 11–26: calls in flight. */
export const IN_FLIGHT_SHIFT = 11;
/** Numbers per model-scoped rest: profile, model, state, cooldownUntil, errorCount, reason code. */
export const PAIR_COLS = 6;

/** Calls in flight per profile, from the status of `n` profiles. */
export function inFlights(cols, n) {
  const out = new Array(n);
  for (let i = 0, k = 0; i < n; i++) {
    const h = cols[k];
    out[i] = h >>> IN_FLIGHT_SHIFT;
    k += 1 + bitCount(h & VALUES);
  }
  return out;
}

function bitCount(x) {
  let c = 0;
  for (; x !== 0; x &= x - 1) c++;
  return c;
}
