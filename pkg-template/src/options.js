// The Pool's options: each field read once (a getter cannot pass the checks with one value
// and be used with another), checked, and refused with a ConfigError naming the field
// (`profiles[2].apiKey: must be a non-empty string`). What the constructor gives the core
// and keeps; the core checks the numbers again (config.rs).

import { ConfigError, itemPath, shownName } from "./errors.js";
import { MAX_TIMER_MS } from "./wait.js";
import { resolvePolicy } from "./reasons.js";
import { MIN_LEAK, fingerprint, holdsKey, wellFormed } from "./secrets.js";
import { fileStoreFactory } from "./persist.js";
import { DEFAULT_MAX_SESSIONS } from "./sessions.js";
import { resolveSchedules, resolveStrategy } from "./schedules.js";

export const COOLDOWN_FIELDS = ["maxRateLimitCooldownMs", "billingBackoffMs", "billingMaxMs", "failureWindowMs"];
const POOL_OPTIONS = new Set([
  "profiles",
  "fallbackModels",
  "cooldowns",
  "policy",
  "maxWaitMs",
  "clock",
  "logger",
  "storage",
  "storagePath",
  "saveIntervalMs",
  "strategy",
  "schedules",
  "sessions",
]);
const PROFILE_KEYS = new Set(["id", "provider", "model", "apiKey", "weight"]);
const MAX_WEIGHT = 1000;
/**
 * The most profiles the constructor makes room for before reading them (see readPoolOptions):
 * past it, its arrays grow as they fill. A sparse `profiles` of length 2^32 - 1, refused at
 * its first hole, makes no more room than this (5 arrays of 8 bytes a slot).
 */
const ROOM = 1 << 17;
const FALLBACK_KEYS = new Set(["provider", "model", "apiKey"]);
const COOLDOWN_KEYS = new Set(COOLDOWN_FIELDS);

export function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `obj` has only `allowed` keys; `path` names it (with `i`: item `i` of the list `path`). */
function checkKeys(obj, allowed, path, i) {
  // for-in with an own-property test: Object.keys would make an array per profile.
  for (const key in obj) {
    if (!allowed.has(key) && Object.hasOwn(obj, key)) {
      const at = i === undefined ? path : itemPath(path, i);
      throw new ConfigError(at ? `${at}.${shownName(key)}` : shownName(key), "unknown option");
    }
  }
}

function optionalString(value, list, i, field) {
  if (value !== undefined && typeof value !== "string") throw new ConfigError(itemPath(list, i, field), "must be a string");
}

export function checkWait(value, field) {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new ConfigError(field, "must be a non-negative number of ms (Infinity allowed)");
  }
}

/** The store of the `storage` / `storagePath` options, checked; undefined when none. */
function storeOption(options) {
  const { storage, storagePath } = options;
  if (storage !== undefined && storagePath !== undefined) {
    throw new ConfigError("storagePath", "give either storage or storagePath, not both");
  }
  if (storagePath !== undefined) {
    if (typeof storagePath !== "string" || storagePath === "") {
      throw new ConfigError("storagePath", "must be a non-empty string (the path of the state file)");
    }
    const make = fileStoreFactory();
    if (make === null) {
      throw new ConfigError("storagePath", "needs a file system; use `storage: fileStore(path)` from key-carousel/file where there is one");
    }
    return make(storagePath);
  }
  if (storage === undefined) return undefined;
  if (
    storage === null ||
    typeof storage !== "object" ||
    typeof storage.load !== "function" ||
    (typeof storage.save !== "function" && typeof storage.update !== "function")
  ) {
    throw new ConfigError("storage", "must be a store: an object with load() and save(snapshot) or update(merge)");
  }
  return storage;
}

/** The `sessions` option: `{ max }`, the most sessions remembered (default 10,000). */
function sessionsOption(option) {
  if (option === undefined) return DEFAULT_MAX_SESSIONS;
  if (!isObject(option)) throw new ConfigError("sessions", "must be an object { max }");
  checkKeys(option, new Set(["max"]), "sessions");
  const { max = DEFAULT_MAX_SESSIONS } = option;
  if (!(Number.isInteger(max) && max >= 1)) throw new ConfigError("sessions.max", "must be a whole number >= 1");
  return max;
}

export const KEY_IN_NAME = "holds an API key (whole, or 8 of its characters in a row); a name is shown in status, logs and stored state";
const BLANK_KEY = "is only whitespace (an unset environment variable, or one holding a stray space?)";

/** A key without the whitespace around it (`trim` only when an end is whitespace or a control). */
function trimmed(key) {
  return key.charCodeAt(0) <= 32 || key.charCodeAt(key.length - 1) <= 32 ? key.trim() : key;
}

/** A name's length; 0 for one not given. */
function nameLength(name) {
  return typeof name === "string" ? name.length : 0;
}

/** Whether a key is only whitespace (`trim` stops at a key's first character: no scan). */
function blank(key) {
  return key.trim() === "";
}

/**
 * Refuses an id, provider or model that holds a key whole, its own or another profile's
 * (each profile's id and model are checked for pieces of its own key as they are read), in
 * `profiles` and `fallbackModels` as the constructor read them (each field once), in
 * columns: `{ count, id?, provider, model }`, each field an array by position (no object
 * per profile: at 100,000 profiles those took a fifth of the constructor's time).
 * ConfigError naming the field. `shortest`: the length of the shortest key (trimmed) of at
 * least MIN_LEAK characters (Infinity: none); `longest`: the length of the longest name. Both
 * are taken as the constructor reads the profiles: a pool's names are mostly shorter than its
 * keys, and then this reads nothing.
 */
export function refuseKeysAsNames(profiles, fallbackModels, keys, shortest, longest) {
  if (longest < shortest) return;
  const long = (name) => typeof name === "string" && name.length >= shortest;
  const names = new Map(); // name -> [list, index, field]
  const add = (list, columns, i, field) => {
    const name = columns[field]?.[i];
    if (long(name) && !names.has(name)) names.set(name, [list, i, field]);
  };
  for (let i = 0; i < profiles.count; i++) for (const field of ["id", "provider", "model"]) add("profiles", profiles, i, field);
  for (let i = 0; i < fallbackModels.count; i++) for (const field of ["provider", "model"]) add("fallbackModels", fallbackModels, i, field);
  // The keys by their first 8 characters: each window of 8 of a long name is one lookup.
  const byHead = new Map();
  for (const k of new Set(keys.map(trimmed))) {
    if (k.length < MIN_LEAK) continue;
    const head = k.slice(0, MIN_LEAK);
    const list = byHead.get(head);
    if (list === undefined) byHead.set(head, [k]);
    else list.push(k);
  }
  for (const [name, where] of names) {
    for (let i = 0; i + MIN_LEAK <= name.length; i++) {
      const list = byHead.get(name.slice(i, i + MIN_LEAK));
      if (list !== undefined && list.some((k) => name.startsWith(k, i))) throw new ConfigError(itemPath(...where), KEY_IN_NAME);
    }
  }
}

/** The problem of a profile that repeats profiles[`twin`]'s provider, model and key. */
function sameKeyAs(twin) {
  return `same provider, model and key as profiles[${twin}]`;
}

/**
 * The first profile with the same provider, model and key as an earlier one, as
 * `[index, the earlier one's index]`; undefined when none. Sorting the keys tells whether any
 * key comes twice (5 ms for 100,000 keys, where a Map of them takes 18); only then are the
 * profiles indexed by all three.
 */
function twinOf(providers, models, keys, count) {
  const sorted = keys.slice(0, count).sort();
  let again = false;
  for (let j = 1; j < count && !again; j++) again = sorted[j] === sorted[j - 1];
  if (!again) return undefined;
  const seen = new Map();
  for (let i = 0; i < count; i++) {
    const all = JSON.stringify([providers[i], models[i] ?? null, keys[i]]);
    const twin = seen.get(all);
    if (twin !== undefined) return [i, twin];
    seen.set(all, i);
  }
  return undefined;
}

/**
 * The numbers of the profiles kept, one slot each, as the core takes them: typed and filled
 * in place, so nothing is converted at the crossing. `weighted`: a weight other than 1.
 */
class Added {
  length = 0;
  weighted = false;

  /**
   * Room for `expected` slots, at most 1,024 at first (a sparse `profiles` of length
   * 2^32 - 1 is refused at its first hole, after this); more is grown by doubling.
   */
  constructor(expected) {
    const room = Math.min(expected, 1024);
    this.fallback = new Uint8Array(room);
    this.positions = new Uint32Array(room);
    this.weights = new Uint32Array(room);
  }

  push(fallback, position, weight) {
    const at = this.length++;
    if (at === this.positions.length) {
      const room = 2 * at + 16;
      this.fallback = grown(this.fallback, room);
      this.positions = grown(this.positions, room);
      this.weights = grown(this.weights, room);
    }
    this.fallback[at] = fallback;
    this.positions[at] = position;
    this.weights[at] = weight;
    if (weight !== 1) this.weighted = true;
  }
}

/** A copy of the typed array `column` with room for `room` elements. */
function grown(column, room) {
  const more = new column.constructor(room);
  more.set(column);
  return more;
}

/** The default clock: `Date.now` looked up at each call, so fake timers installed later work. */
const dateNow = () => Date.now();


/**
 * The Pool's `options`, read and checked: the profiles
 * and fallbacks the core is given (`ids`, `providers`, `models` and `keys` by index, the
 * numbers in `added`; `skipped`: the debug lines for fallbacks without a key), the
 * `cooldowns` in COOLDOWN_FIELDS' order, and the other options resolved.
 */
export function readPoolOptions(options) {
  if (!isObject(options)) throw new ConfigError("options", "must be an object { profiles, ... }");
  checkKeys(options, POOL_OPTIONS, "");
  const { profiles, fallbackModels = [], cooldowns = {}, maxWaitMs, clock = dateNow, logger } = options;
  if (!Array.isArray(profiles)) throw new ConfigError("profiles", "must be an array");
  if (!Array.isArray(fallbackModels)) throw new ConfigError("fallbackModels", "must be an array");
  if (!isObject(cooldowns)) throw new ConfigError("cooldowns", "must be an object");
  checkKeys(cooldowns, COOLDOWN_KEYS, "cooldowns");
  for (const f of COOLDOWN_FIELDS) {
    if (cooldowns[f] !== undefined && typeof cooldowns[f] !== "number") {
      throw new ConfigError(`cooldowns.${f}`, "must be a number of ms");
    }
  }
  checkWait(maxWaitMs, "maxWaitMs");
  const store = storeOption(options);
  const { saveIntervalMs = 1000 } = options;
  if (typeof saveIntervalMs !== "number" || !(saveIntervalMs >= 0) || saveIntervalMs === Infinity) {
    throw new ConfigError("saveIntervalMs", "must be a finite number of ms >= 0");
  }
  // A timer waits at most that long (setTimeout fires at once beyond it, with a warning).
  if (saveIntervalMs > MAX_TIMER_MS) throw new ConfigError("saveIntervalMs", `must be at most ${MAX_TIMER_MS} ms (24.8 days)`);
  if (typeof clock !== "function") throw new ConfigError("clock", "must be a function returning ms since the epoch");
  if (logger !== undefined && (logger === null || typeof logger !== "object")) {
    throw new ConfigError("logger", "must be an object with debug/info/warn/error methods");
  }
  const [policy, policyBytes] = resolvePolicy(options.policy);
  const strategy = resolveStrategy(options.strategy);
  const [transient, long] = resolveSchedules(options.schedules, cooldowns);
  const sessionsMax = sessionsOption(options.sessions);

  // Validated here, then added to the core in one call.
  // Made at the profiles' length (up to ROOM) and filled in place: grown by push, they
  // copied each element about twice over (~9 ms of 100,000 profiles).
  const room = Math.min(profiles.length, ROOM);
  const ids = new Array(room);
  // Each profile's provider, model and key, by index (the ids are collected apart, for the core).
  const providers = new Array(room);
  const models = new Array(room);
  const keys = new Array(room);
  // For refuseKeysAsNames: the shortest key of MIN_LEAK characters or more (trimmed), the longest name.
  let shortest = Infinity;
  let longest = 0;
  const measure = (key, a, b, c) => {
    const n = trimmed(key).length;
    if (n >= MIN_LEAK && n < shortest) shortest = n;
    longest = Math.max(longest, nameLength(a), nameLength(b), nameLength(c));
  };
  const added = new Added(profiles.length + fallbackModels.length);
  const derived = new Map();
  // For refuseKeysAsNames: the ids as given (undefined where derived), and the fallbacks'
  // names as read; the profiles' providers and models are the first `primaries` above.
  const givenIds = new Array(room);
  const fallbackProviders = [];
  const fallbackModelNames = [];
  // Loops rather than forEach, which skips the holes of a sparse array ([, {...}]).
  let primaries = 0;
  for (let i = 0; i < profiles.length; i++, primaries++) {
    const given = profiles[i];
    if (!isObject(given)) throw new ConfigError(itemPath("profiles", i), "must be an object { provider, apiKey, id?, model? }");
    checkKeys(given, PROFILE_KEYS, "profiles", i);
    // Each field read once: a getter cannot pass the checks with one value and be used with
    // another. Into locals, not an object: 100,000 of them took ~15 ms to make and collect.
    const givenId = given.id;
    const provider = given.provider;
    const model = given.model;
    const apiKey = given.apiKey;
    const weight = given.weight;
    givenIds[i] = givenId;
    if (typeof apiKey !== "string" || apiKey === "") {
      throw new ConfigError(itemPath("profiles", i, "apiKey"), "must be a non-empty string");
    }
    if (blank(apiKey)) throw new ConfigError(itemPath("profiles", i, "apiKey"), BLANK_KEY);
    if (typeof provider !== "string") throw new ConfigError(itemPath("profiles", i, "provider"), "must be a string");
    optionalString(givenId, "profiles", i, "id");
    optionalString(model, "profiles", i, "model");
    if (model === "") throw new ConfigError(itemPath("profiles", i, "model"), "must not be empty");
    if (weight !== undefined && !(Number.isInteger(weight) && weight >= 1 && weight <= MAX_WEIGHT)) {
      throw new ConfigError(itemPath("profiles", i, "weight"), "must be a whole number from 1 to 1000");
    }
    wellFormed(provider, "profiles", i, "provider");
    wellFormed(givenId, "profiles", i, "id");
    wellFormed(model, "profiles", i, "model");
    let id = givenId;
    if (id === undefined) {
      // Stable across restarts, reordering and added keys; reveals nothing of the key.
      id = `${provider}-${fingerprint(`${model ?? ""}\u0000${apiKey}`)}`;
      const twin = derived.get(id);
      if (twin !== undefined) {
        const same = keys[twin] === apiKey && models[twin] === model;
        throw new ConfigError(
          itemPath("profiles", i, same ? "apiKey" : "id"),
          same ? sameKeyAs(twin) : `the id derived from its key (${id}) is profiles[${twin}]'s too: give one of them an id`,
        );
      }
      derived.set(id, i);
    }
    // The names the pool shows (status, logs, stored state) may not hold 8 characters of
    // their profile's key (none may hold a key whole). Not the provider: test keys often
    // hold it ("key-anthropic-1"), and a provider is one of a few names, not a place for a key.
    if (holdsKey(givenId, apiKey)) throw new ConfigError(itemPath("profiles", i, "id"), KEY_IN_NAME);
    if (holdsKey(model, apiKey)) throw new ConfigError(itemPath("profiles", i, "model"), KEY_IN_NAME);
    measure(apiKey, givenId, provider, model);
    providers[i] = provider;
    models[i] = model;
    keys[i] = apiKey;
    added.push(0, i, weight ?? 1);
    ids[i] = id;
  }
  // The profiles read: fewer than the room made when a getter shortened `profiles` meanwhile.
  if (primaries < ids.length) for (const column of [ids, providers, models, keys, givenIds]) column.length = primaries;
  // Whatever their ids: the same key twice in one rotation would be called again right
  // after it failed.
  const twins = twinOf(providers, models, keys, primaries);
  if (twins !== undefined) {
    throw new ConfigError(itemPath("profiles", twins[0], "apiKey"), sameKeyAs(twins[1]));
  }
  // Logged once every key is known (and no name holds one): a name here may hold a key
  // of a fallback read later.
  const skipped = [];
  for (let i = 0; i < fallbackModels.length; i++) {
    const given = fallbackModels[i];
    const at = `fallbackModels[${i}]`;
    if (!isObject(given)) throw new ConfigError(at, "must be an object { provider, model, apiKey? }");
    checkKeys(given, FALLBACK_KEYS, "fallbackModels", i);
    const fb = { provider: given.provider, model: given.model, apiKey: given.apiKey };
    fallbackProviders.push(fb.provider);
    fallbackModelNames.push(fb.model);
    if (typeof fb.provider !== "string") throw new ConfigError(`${at}.provider`, "must be a string");
    if (typeof fb.model !== "string" || fb.model === "") {
      throw new ConfigError(`${at}.model`, "must be a non-empty string");
    }
    if (fb.apiKey !== undefined && (typeof fb.apiKey !== "string" || fb.apiKey === "")) {
      throw new ConfigError(`${at}.apiKey`, "must be a non-empty string when given");
    }
    if (fb.apiKey !== undefined && blank(fb.apiKey)) throw new ConfigError(`${at}.apiKey`, BLANK_KEY);
    wellFormed(fb.provider, "fallbackModels", i, "provider");
    wellFormed(fb.model, "fallbackModels", i, "model");
    measure(fb.apiKey ?? "", fb.provider, fb.model);
    const borrowed = providers.indexOf(fb.provider);
    const apiKey = fb.apiKey ?? (borrowed >= 0 && borrowed < primaries ? keys[borrowed] : undefined);
    if (apiKey === undefined) {
      skipped.push(`${at} skipped: no apiKey and no ${fb.provider} profile to borrow one from`);
      continue;
    }
    if (holdsKey(fb.model, apiKey)) throw new ConfigError(`${at}.model`, KEY_IN_NAME);
    const id = `fallback-${fb.provider}-${fb.model}`;
    providers.push(fb.provider);
    models.push(fb.model);
    keys.push(apiKey);
    added.push(1, i, 1);
    ids.push(id);
  }
  if (ids.length === 0) {
    throw new ConfigError("profiles", "at least one profile or fallback with an API key is required");
  }
  refuseKeysAsNames(
    { count: primaries, id: givenIds, provider: providers, model: models },
    { count: fallbackProviders.length, provider: fallbackProviders, model: fallbackModelNames },
    keys,
    shortest,
    longest,
  );
  return {
    ids,
    givenIds,
    providers,
    models,
    keys,
    added,
    skipped,
    cooldowns: COOLDOWN_FIELDS.map((f) => cooldowns[f]),
    policy,
    policyBytes,
    strategy,
    transient,
    long,
    sessionsMax,
    store,
    saveIntervalMs,
    clock,
    logger,
    maxWaitMs,
  };
}

/**
 * `e`, or, when the core refused the form of an id the user did not write (a fallback's,
 * made from its provider and model; a profile's, made from its provider and key), the same
 * problem named after the field the id was made from. `hasOwnId(i)`: whether profiles[i]
 * gave an id.
 */
export function renamedDerived(e, hasOwnId) {
  if (!(e instanceof ConfigError)) return e;
  const problem = e.message.slice(e.field.length + 2);
  // An id made twice ("… is already used by fallbackModels[0]") is about the id: it says so.
  if (problem.includes(" is already used by ")) return e;
  let m = /^fallbackModels\[(\d+)\]\.id$/.exec(e.field);
  if (m !== null) return new ConfigError(`fallbackModels[${m[1]}].model`, `${problem} (said of the profile id made from it, fallback-<provider>-<model>)`);
  m = /^profiles\[(\d+)\]\.id$/.exec(e.field);
  if (m !== null && !hasOwnId(Number(m[1]))) {
    return new ConfigError(`profiles[${m[1]}].provider`, `${problem} (said of the profile id made from it, <provider>-<14 hex digits>: give the profile an id)`);
  }
  return e;
}
