// The reference model of the fuzzer (fuzz.test.mjs): key-carousel 2's `Pool` written for
// clarity from the README and SPEC, with linear scans and plain objects. It knows nothing of
// the package's code; where the package and the model disagree, one of them is wrong.
//
// Times are numbers (ms since the epoch) or null for "absent".

export const REASONS = ["rate_limit", "server_error", "auth", "auth_permanent", "billing", "timeout", "model_not_found", "format", "unknown"];
export const MAX_TIME = 2 ** 53;
const TRANSIENT_BASE = 60_000;
export const DEFAULT_COOLDOWNS = {
  maxRateLimitCooldownMs: 3_600_000,
  billingBackoffMs: 18_000_000,
  billingMaxMs: 86_400_000,
  failureWindowMs: 86_400_000,
};

/** The per-reason policy: v2's default, then the user's `policy` option over it. */
export function policyOf(option = {}) {
  const out = {};
  for (const r of REASONS) {
    out[r] = {
      rotate: r !== "format",
      schedule: r === "format" ? "none" : r === "billing" || r === "auth_permanent" ? "long" : "transient",
    };
    Object.assign(out[r], option[r] ?? {});
  }
  return out;
}

/** The error count is a 32-bit count that stops at its maximum. */
const countUp = (n) => Math.min(n + 1, 2 ** 32 - 1);

/** `min(160, max(32, 24 + 8n))`. */
export const maxAttempts = (n) => Math.min(160, Math.max(32, 24 + 8 * n));

// ── records and the merge rule (README "Merging", src/snapshot.rs) ────────────────────

export function emptyRecord() {
  return {
    errorCount: 0,
    lastUsed: null,
    lastFailure: null,
    lastSuccess: null,
    cooldownUntil: null,
    reason: null,
    updatedAt: null,
    cooldownLong: false,
    cooldownStartedAt: null,
  };
}

const maxOf = (a, b) => (a === null ? b : b === null ? a : Math.max(a, b));
/**
 * An event's updatedAt: `now`, or when the record's last change (0 if none) is not
 * earlier, the next double above it (kept at 2^53), so the pool's own later event wins the
 * merge against the record it stored before.
 */
const later = (prev, now) => {
  const p = (prev ?? 0) + 0;
  if (p < now) return now;
  const f = new Float64Array([p]);
  const b = new BigUint64Array(f.buffer);
  b[0] += 1n;
  return f[0] <= 2 ** 53 ? f[0] : p;
};

const eventTime = (r) => r.updatedAt ?? maxOf(r.lastFailure, r.lastSuccess);

/** Compares two numbers as Rust's f64::total_cmp does for the values that occur here. */
function cmpNum(a, b) {
  if (a < b) return -1;
  if (a > b) return 1;
  if (Object.is(a, -0) && Object.is(b, 0)) return -1;
  if (Object.is(a, 0) && Object.is(b, -0)) return 1;
  return 0;
}

function cmpKey(a, b) {
  const t = (x) => x ?? -1;
  return (
    cmpNum(t(eventTime(a)), t(eventTime(b))) ||
    cmpNum(a.cooldownUntil ?? Infinity, b.cooldownUntil ?? Infinity) || // at one event time, no rest wins
    cmpNum(a.errorCount, b.errorCount) ||
    ((a.reason ?? "") < (b.reason ?? "") ? -1 : (a.reason ?? "") > (b.reason ?? "") ? 1 : 0) ||
    cmpNum(a.cooldownLong ? 1 : 0, b.cooldownLong ? 1 : 0) ||
    cmpNum(t(a.cooldownStartedAt), t(b.cooldownStartedAt))
  );
}

/** Timestamps take the maximum; the cooldown group comes whole from the greater key. */
export function mergeRecords(a, b) {
  const w = cmpKey(a, b) < 0 ? b : a;
  return {
    ...w,
    lastUsed: maxOf(a.lastUsed, b.lastUsed),
    lastFailure: maxOf(a.lastFailure, b.lastFailure),
    lastSuccess: maxOf(a.lastSuccess, b.lastSuccess),
    updatedAt: eventTime(w),
  };
}

export const normalized = (r) => ({ ...r, updatedAt: eventTime(r) });

/** Merges two Maps id -> record. */
export function mergeMaps(a, b) {
  const out = new Map([...a].map(([id, r]) => [id, normalized(r)]));
  for (const [id, r] of b) out.set(id, out.has(id) ? mergeRecords(out.get(id), r) : normalized(r));
  return out;
}

// ── the stored form (README "Bad state") ──────────────────────────────────────────────

const isTime = (v) => typeof v === "number" && v >= 0 && v <= MAX_TIME;
const isCount = (v) => Number.isInteger(v) && v >= 0 && v <= 2 ** 32 - 1;
const isPlain = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const TIME_FIELDS = ["lastUsed", "lastFailure", "lastSuccess", "cooldownUntil", "updatedAt", "cooldownStartedAt"];

/**
 * What a stored value means: `{ corrupt: true }` when unusable as a whole, else
 * `{ records: [[id, record]], dropped }` (each unusable field, record or id dropped alone).
 * Never throws: hostile objects (throwing getters) are corrupt.
 */
export function parseStored(raw) {
  if (raw === null || raw === undefined) return { records: [], dropped: 0 };
  let data = raw;
  if (typeof raw === "string") {
    try {
      data = JSON.parse(raw);
    } catch {
      return { corrupt: true };
    }
  }
  try {
    if (!isPlain(data) || data.version !== 1 || !isPlain(data.profiles)) return { corrupt: true };
    const records = [];
    let dropped = 0;
    for (const id of Object.keys(data.profiles)) {
      const rec = data.profiles[id];
      if (id === "" || id.length > 1024 || id.includes("\u0000") || /[\uD800-\uDFFF]/u.test(id) || !isPlain(rec)) {
        dropped++;
        continue;
      }
      const r = emptyRecord();
      if (isCount(rec.errorCount)) r.errorCount = rec.errorCount;
      else if (rec.errorCount !== undefined) dropped++;
      for (const f of TIME_FIELDS) {
        const v = rec[f];
        if (isTime(v)) r[f] = v;
        else if (v !== undefined && v !== null) dropped++;
      }
      const reason = rec.lastFailureReason;
      if (typeof reason === "string") r.reason = REASONS.includes(reason) ? reason : "unknown";
      else if (reason !== undefined && reason !== null) dropped++;
      const long = rec.cooldownLong;
      if (long === undefined && rec.updatedAt === undefined) r.cooldownLong = r.reason === "billing" || r.reason === "auth_permanent";
      else {
        r.cooldownLong = long === true;
        if (long !== undefined && typeof long !== "boolean") dropped++;
      }
      records.push([id, r]);
    }
    return { records, dropped };
  } catch {
    return { corrupt: true };
  }
}

/** The stored form the pool writes for a record (absent values left out). */
export function storedForm(r) {
  const out = { errorCount: r.errorCount };
  for (const [f, v] of [
    ["lastUsed", r.lastUsed],
    ["lastFailure", r.lastFailure],
    ["lastSuccess", r.lastSuccess],
    ["cooldownUntil", r.cooldownUntil],
  ]) {
    if (v !== null) out[f] = v;
  }
  if (r.reason !== null) out.lastFailureReason = r.reason;
  if (r.updatedAt !== null) out.updatedAt = r.updatedAt;
  if (r.cooldownLong) out.cooldownLong = true;
  else if (r.updatedAt === null && (r.reason === "billing" || r.reason === "auth_permanent")) out.cooldownLong = false;
  if (r.cooldownStartedAt !== null) out.cooldownStartedAt = r.cooldownStartedAt;
  return out;
}

// ── the pool ──────────────────────────────────────────────────────────────────────────

export class ModelPool {
  /**
   * @param {object} c
   * @param {{ id, provider, model, apiKey, fallback }[]} c.profiles in pool order (primaries, then fallbacks)
   * @param {object} c.cooldowns the four fields, defaults filled in
   * @param {object} c.policy from policyOf
   * @param {number|undefined} c.maxWaitMs
   */
  constructor({ profiles, cooldowns, policy, maxWaitMs }) {
    this.cd = cooldowns;
    this.policy = policy;
    this.maxWaitMs = maxWaitMs;
    this.picks = 0;
    this.extras = new Map();
    this.p = profiles.map((d) => ({ ...d, rank: 0, ...emptyRecord(), updatedAt: null, inFlight: 0 }));
    this.maxAttempts = maxAttempts(this.p.length);
  }

  index(id) {
    return this.p.findIndex((p) => p.id === id);
  }

  cooling(i, now) {
    const u = this.p[i].cooldownUntil;
    return u !== null && u > now;
  }

  /** Group 0: the preferred provider's primaries (every primary when none is preferred); 1: other primaries; 2: fallbacks. */
  pick(now, provider, excluded) {
    const group = (p) => (p.fallback ? 2 : provider === undefined || p.provider === provider ? 0 : 1);
    let best = -1;
    for (let i = 0; i < this.p.length; i++) {
      if (this.cooling(i, now) || excluded?.has(i)) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const a = this.p[i];
      const b = this.p[best];
      if (group(a) < group(b) || (group(a) === group(b) && a.rank < b.rank)) best = i;
    }
    return best;
  }

  /** `excluded`: a Set of the profiles the run does not get (its keys that failed with no rest). */
  acquire(now, provider, excluded) {
    const i = this.pick(now, provider, excluded);
    if (i < 0) return -1;
    const p = this.p[i];
    p.rank = ++this.picks;
    p.lastUsed = now;
    p.inFlight++;
    return i;
  }

  late(i, now, lease) {
    return lease !== undefined && this.cooling(i, now) && this.p[i].cooldownStartedAt !== null && lease <= this.p[i].cooldownStartedAt;
  }

  succeed(i, now, lease) {
    const late = this.late(i, now, lease);
    const p = this.p[i];
    if (lease !== undefined) p.inFlight = Math.max(0, p.inFlight - 1);
    p.lastUsed = now;
    p.lastSuccess = now;
    // markSuccess (no lease) is an event even with no rest to end here; a call's success is
    // one when it ends a rest that is running (not one that ended by itself).
    if ((!late && p.cooldownUntil !== null && p.cooldownUntil > now) || lease === undefined) p.updatedAt = later(p.updatedAt, now);
    if (!late) p.cooldownUntil = null;
    if (lease === undefined) {
      p.rank = ++this.picks;
      p.cooldownStartedAt = null; // markSuccess ends the incident, as a clear does
    }
  }

  step(schedule, n) {
    if (schedule === "transient") return Math.min(this.cd.maxRateLimitCooldownMs, TRANSIENT_BASE * 5 ** Math.min(n - 1, 3));
    return Math.min(this.cd.billingMaxMs, this.cd.billingBackoffMs * 2 ** Math.min(n - 1, 10));
  }

  /**
   * As the binding reports it: the cooldown started in ms, -1 when none, -2 when late (the
   * call began before the profile's last rest did, whether that rest is on or over).
   */
  fail(i, now, reason, retryMs, lease) {
    const late = lease !== undefined && this.p[i].cooldownStartedAt !== null && lease <= this.p[i].cooldownStartedAt;
    const cooling = this.cooling(i, now);
    const pol = this.policy[reason];
    const p = this.p[i];
    if (lease !== undefined) p.inFlight = Math.max(0, p.inFlight - 1);
    if (late) return -2;
    if (pol.schedule === "none") return -1;
    if (cooling) {
      p.errorCount = countUp(p.errorCount);
      p.lastFailure = now;
      p.updatedAt = later(p.updatedAt, now);
      return -1;
    }
    if (p.lastFailure !== null && now - p.lastFailure > this.cd.failureWindowMs) p.errorCount = 0;
    p.errorCount = countUp(p.errorCount);
    p.lastFailure = now;
    p.reason = reason;
    // Begun no earlier than the failing call (the clock may have stepped back since).
    p.cooldownStartedAt = lease === undefined ? now : Math.max(lease, now);
    p.cooldownLong = pol.schedule === "long";
    p.updatedAt = later(p.updatedAt, now);
    const cap = pol.schedule === "long" ? this.cd.billingMaxMs : this.cd.maxRateLimitCooldownMs;
    const ms = retryMs !== undefined ? Math.min(retryMs, cap) : this.step(pol.schedule, p.errorCount);
    if (ms === 0) p.cooldownStartedAt = null; // a rest of 0 ms is none: no incident
    // No time past 2^53 is recorded: a rest that would end later ends there.
    if (now + ms > 2 ** 53) {
      p.cooldownUntil = 2 ** 53;
      return 2 ** 53 - now;
    }
    p.cooldownUntil = now + ms;
    return ms;
  }

  release(i) {
    this.p[i].inFlight = Math.max(0, this.p[i].inFlight - 1);
  }

  clear(i, now) {
    const p = this.p[i];
    p.updatedAt = later(p.updatedAt, now); // always an event: it ends rests not seen here
    p.errorCount = 0;
    p.cooldownUntil = null;
    p.cooldownStartedAt = null; // the incident is over: later failures count
  }

  /** Ms until the soonest cooling profile recovers, or -1. */
  wait(now, excluded) {
    let best = -1;
    for (let i = 0; i < this.p.length; i++) {
      if (excluded?.has(i)) continue;
      if (this.cooling(i, now) && (best < 0 || this.p[i].cooldownUntil - now < best)) best = this.p[i].cooldownUntil - now;
    }
    return best;
  }

  /** `getStatus()` as the README describes it. */
  status(now) {
    let available = 0;
    let inCooldown = 0;
    let disabled = 0;
    let unavailableReason = null;
    let next;
    const profiles = this.p.map((p, i) => {
      const cooling = this.cooling(i, now);
      const state = !cooling ? "available" : p.cooldownLong ? "disabled" : "cooldown";
      if (state === "available") available++;
      else {
        if (state === "cooldown") inCooldown++;
        else disabled++;
        unavailableReason = p.reason;
        next = next === undefined ? p.cooldownUntil : Math.min(next, p.cooldownUntil);
      }
      return {
        id: p.id,
        provider: p.provider,
        model: p.model,
        state,
        cooldownUntil: cooling ? p.cooldownUntil : undefined,
        errorCount: p.errorCount,
        lastUsed: p.lastUsed ?? undefined,
        lastFailure: p.lastFailure ?? undefined,
        lastSuccess: p.lastSuccess ?? undefined,
        reason: cooling ? (p.reason ?? undefined) : undefined,
        remainingMs: cooling ? p.cooldownUntil - now : 0,
        inFlight: p.inFlight,
      };
    });
    return {
      profiles,
      totalAvailable: available,
      totalInCooldown: inCooldown,
      totalDisabled: disabled,
      unavailableReason: available > 0 ? null : unavailableReason,
      nextAvailableAt: available > 0 ? undefined : next,
    };
  }

  record(i) {
    const p = this.p[i];
    return {
      errorCount: p.errorCount,
      lastUsed: p.lastUsed,
      lastFailure: p.lastFailure,
      lastSuccess: p.lastSuccess,
      cooldownUntil: p.cooldownUntil,
      reason: p.reason,
      updatedAt: p.updatedAt ?? 0, // never changed here: 0, so a plain use never wins a merge
      cooldownLong: p.cooldownLong,
      cooldownStartedAt: p.cooldownStartedAt,
    };
  }

  /** Every record, the pool's and the kept ones of unknown ids. */
  export() {
    const out = new Map(this.extras);
    this.p.forEach((p, i) => out.set(p.id, this.record(i)));
    return out;
  }

  /** Forgets the kept records that are stale at `now` (see `stale`). */
  forget(now) {
    for (const [id, r] of this.extras) if (stale(r, now)) this.extras.delete(id);
  }

  /**
   * Merges stored records in at `now`; re-ranks by lastUsed when one changed. Kept records
   * stale at `now` are forgotten first, and stale records of unknown ids not taken in. A profile's
   * record is taken without a rest start later than `now` (a rest cannot have begun yet).
   */
  import(records, now) {
    this.forget(now);
    let reorder = false;
    for (const [id, stored] of records) {
      const i = this.index(id);
      if (i < 0) {
        if (!stale(stored, now)) this.extras.set(id, this.extras.has(id) ? mergeRecords(this.extras.get(id), stored) : normalized(stored));
        continue;
      }
      const mine = this.record(i);
      const begun = typeof stored.cooldownStartedAt === "number" && stored.cooldownStartedAt > now ? { ...stored, cooldownStartedAt: null } : stored;
      const m = mergeRecords(mine, begun);
      const p = this.p[i];
      if (m.lastUsed !== mine.lastUsed) reorder = true;
      Object.assign(p, {
        errorCount: m.errorCount,
        lastUsed: m.lastUsed,
        lastFailure: m.lastFailure,
        lastSuccess: m.lastSuccess,
        cooldownUntil: m.cooldownUntil,
        reason: m.reason,
        updatedAt: m.updatedAt,
        cooldownLong: m.cooldownLong,
        cooldownStartedAt: m.cooldownStartedAt,
      });
    }
    if (!reorder) return;
    // Never used: rank 0; used: 1, 2, ... by lastUsed, then the current rank, then index.
    const used = this.p.map((_, i) => i).filter((i) => this.p[i].lastUsed !== null);
    used.sort((a, b) => cmpNum(this.p[a].lastUsed, this.p[b].lastUsed) || this.p[a].rank - this.p[b].rank || a - b);
    used.forEach((i, k) => (this.p[i].rank = k + 1));
    for (let i = 0; i < this.p.length; i++) if (this.p[i].lastUsed === null) this.p[i].rank = 0;
    this.picks = used.length;
  }
}

/**
 * A record of an id the pool does not have is forgotten once every time in it is more than
 * 30 days before `now` (one without times counts as of time 0).
 */
function stale(r, now) {
  const cut = now - 30 * 86_400_000;
  const times = [r.lastUsed, r.lastFailure, r.lastSuccess, r.cooldownUntil, r.updatedAt, r.cooldownStartedAt];
  return cut > 0 && !times.some((t) => typeof t === "number" && t >= cut);
}

/** Comparable text of a Map id -> record (null and absent fields alike). */
export function recordsText(map) {
  return JSON.stringify([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, r]) => [id, storedForm(r)]));
}
