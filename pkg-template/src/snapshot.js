// Stored state <-> the core's record columns. The stored form is v1's file format,
// `{ "version": 1, "profiles": { id: { errorCount, lastUsed, ... } } }`, plus v2's fields
// (updatedAt, cooldownLong, cooldownStartedAt, and `models: { <model>: {...} }` for the
// rests of one model on that key), so key-carousel 1.1.0 can read it. The core sees a
// model's record as a record under the id `<id>\u0001<model>` (PAIR_SEPARATOR). Parsing
// and validation happen here, in JS (JSON.parse is native and fast, and the wasm stays
// small); the core gets numbers only, checks them again and merges (src/snapshot.rs).

import { CorePool, MAX_TIME, RECORD_COLUMNS } from "./core.js";
import { errorMessage } from "./errors.js";
import { REASONS, REASON_CODE } from "./reasons.js";
import { hasLoneSurrogate } from "./secrets.js";

export { RECORD_COLUMNS };
const MAX_COUNT = 2 ** 32 - 1;
const MAX_ID = 1024;
/** Joins a profile id and a model in the id of a model's record (src/snapshot.rs). */
export const PAIR_SEPARATOR = "\u0001";
/** The fields of a model's record (it has no lastUsed/lastSuccess). */
const MODEL_FIELDS = ["errorCount", "lastFailure", "cooldownUntil", "lastFailureReason", "updatedAt", "cooldownLong", "cooldownStartedAt"];
const LONG_BILLING = REASON_CODE.get("billing");
const LONG_AUTH = REASON_CODE.get("auth_permanent");
const TIME_FIELDS = [
  ["lastUsed", 1],
  ["lastFailure", 2],
  ["lastSuccess", 3],
  ["cooldownUntil", 4],
  ["updatedAt", 6],
  ["cooldownStartedAt", 8],
];

/** A stored value that cannot be used at all (garbage, truncated JSON, wrong version or types). */
export class CorruptState extends Error {}

function isRecordObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const isTime = (v) => typeof v === "number" && v >= 0 && v <= MAX_TIME; // false for NaN
const isCount = (v) => Number.isInteger(v) && v >= 0 && v <= MAX_COUNT;

/**
 * Parses a stored value (`string`, a parsed object, `null`/`undefined` for "nothing
 * stored") into `{ ids, cols, dropped }`: ids of the records, their columns, and how many
 * values (fields, records or ids) were unusable and dropped.
 * @throws {CorruptState} when the value as a whole is unusable.
 */
export function parseState(raw) {
  if (raw === null || raw === undefined) return { ids: [], cols: new Float64Array(0), dropped: 0 };
  let data = raw;
  if (typeof raw === "string") {
    // What the Redis store reads for a key of another type (see redis.js): said as it is.
    const other = /^\((a Redis [a-z]+, not a string)\)$/.exec(raw);
    if (other !== null) throw new CorruptState(other[1]);
    try {
      // A byte order mark, which an editor may have put before the text: not part of it.
      data = JSON.parse(raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw);
    } catch (e) {
      // Only where: the parser's message quotes the text, and a file given by mistake (a
      // key file) would show its first characters (the CLI, which knows no keys, prints it).
      const at = /position \d+/.exec(e?.message ?? "");
      throw new CorruptState(raw.trim() === "" ? "empty" : `not valid JSON${at === null ? "" : ` (at ${at[0]})`}`);
    }
  }
  try {
    return parseObject(data);
  } catch (e) {
    if (e instanceof CorruptState) throw e;
    throw new CorruptState(`unreadable (${errorMessage(e)})`); // e.g. a throwing getter
  }
}

function parseObject(data) {
  if (ArrayBuffer.isView(data)) throw new CorruptState(`${data.byteLength} bytes, not JSON text`);
  if (!isRecordObject(data)) throw new CorruptState(`not an object but ${data === null ? "null" : Array.isArray(data) ? "an array" : typeof data}`);
  if (data.version !== 1) {
    const v = data.version;
    if (v === undefined) throw new CorruptState("no `version` (not a key-carousel state)");
    // A version is a number; a text is quoted only if it could not be a key (the CLI knows no
    // keys to redact, and the file may be any JSON).
    throw new CorruptState(`unsupported version ${typeof v === "number" ? v : typeof v === "string" ? (/^[\w.-]{0,7}$/.test(v) ? JSON.stringify(v) : `(a text of ${v.length} characters)`) : typeof v}`);
  }
  const profiles = data.profiles;
  if (!isRecordObject(profiles)) throw new CorruptState("`profiles` is not an object");
  const ids = [];
  const rows = [];
  let dropped = 0;
  const usable = (id) =>
    id !== "" && id.length <= MAX_ID && !id.includes("\u0000") && !id.includes(PAIR_SEPARATOR) && !hasLoneSurrogate(id);
  for (const id of Object.keys(profiles)) {
    const rec = profiles[id];
    if (!usable(id) || !isRecordObject(rec)) {
      dropped++;
      continue;
    }
    ids.push(id);
    rows.push(rec);
    const models = rec.models;
    if (models === undefined) continue;
    if (!isRecordObject(models)) {
      dropped++;
      continue;
    }
    for (const model of Object.keys(models)) {
      if (!usable(model) || !isRecordObject(models[model])) {
        dropped++;
        continue;
      }
      ids.push(`${id}${PAIR_SEPARATOR}${model}`);
      rows.push(models[model]);
    }
  }
  const cols = new Float64Array(ids.length * RECORD_COLUMNS).fill(NaN);
  rows.forEach((rec, i) => {
    dropped += parseRecord(rec, cols, i * RECORD_COLUMNS);
  });
  return { ids, cols, dropped };
}

/** Writes one stored record's columns at `b`; returns how many values were unusable. */
function parseRecord(rec, cols, b) {
  let dropped = 0;
  const count = rec.errorCount;
  if (isCount(count)) cols[b] = count;
  else {
    cols[b] = 0;
    if (count !== undefined) dropped++;
  }
  for (const [name, col] of TIME_FIELDS) {
    const v = rec[name];
    if (isTime(v)) cols[b + col] = v;
    else if (v !== undefined && v !== null) dropped++;
  }
  const reason = rec.lastFailureReason;
  // A reason this version does not know is a reason still: key-carousel 1 stores whatever
  // string `markFailure` got (a rolling upgrade shares such files). It reads as "unknown",
  // which cools the same, rather than as a bad value to copy aside at every load.
  const code = typeof reason === "string" ? (REASON_CODE.get(reason) ?? REASON_CODE.get("unknown")) : undefined;
  if (code !== undefined) cols[b + 5] = code;
  else if (reason !== undefined && reason !== null) dropped++;
  const long = rec.cooldownLong;
  if (long === undefined && rec.updatedAt === undefined) {
    // Written by key-carousel 1, which has no cooldownLong: it calls a profile disabled
    // when its last failure was billing or auth_permanent (the long schedule).
    cols[b + 7] = code === LONG_BILLING || code === LONG_AUTH ? 1 : 0;
  } else {
    cols[b + 7] = long === true ? 1 : 0;
    if (long !== undefined && typeof long !== "boolean") dropped++;
  }
  return dropped;
}

function parseArgument(value, name) {
  try {
    return parseState(value);
  } catch (e) {
    if (e instanceof CorruptState) throw new TypeError(`mergeSnapshots: ${name} is unusable: ${e.message}`);
    throw e;
  }
}

/** The stored form of one record (absent values are left out, as v1 leaves them out). */
function record(cols, b) {
  const r = { errorCount: cols[b] };
  if (cols[b + 1] === cols[b + 1]) r.lastUsed = cols[b + 1];
  if (cols[b + 2] === cols[b + 2]) r.lastFailure = cols[b + 2];
  if (cols[b + 3] === cols[b + 3]) r.lastSuccess = cols[b + 3];
  if (cols[b + 4] === cols[b + 4]) r.cooldownUntil = cols[b + 4];
  if (cols[b + 5] >= 0) r.lastFailureReason = REASONS[cols[b + 5]];
  if (cols[b + 6] === cols[b + 6]) r.updatedAt = cols[b + 6];
  if (cols[b + 7] === 1) r.cooldownLong = true;
  // A record without updatedAt and without cooldownLong reads as key-carousel 1 wrote it (the
  // reason decides): a short rest after a long reason says so, or it would read back as long.
  else if (!(cols[b + 6] === cols[b + 6]) && (cols[b + 5] === LONG_BILLING || cols[b + 5] === LONG_AUTH)) r.cooldownLong = false;
  if (cols[b + 8] === cols[b + 8]) r.cooldownStartedAt = cols[b + 8];
  return r;
}

/** Whether a pair's record holds no time, no count and no reason (`updatedAt` 0: none). */
function saysNothing(r) {
  return (
    r.errorCount === 0 &&
    (r.updatedAt === undefined || r.updatedAt === 0) &&
    r.lastFailure === undefined &&
    r.cooldownUntil === undefined &&
    r.cooldownStartedAt === undefined &&
    r.lastFailureReason === undefined &&
    r.cooldownLong === undefined
  );
}

/**
 * Builds the stored form from the core's export: `ids` name the first records (the
 * pool's profiles), `extraIds` (joined with "\0") the rest.
 */
export function toSnapshot(ids, extraIds, cols) {
  // A null-prototype object: an id such as "__proto__" is an ordinary key here.
  const profiles = Object.create(null);
  let i = 0;
  for (; i < ids.length; i++) profiles[ids[i]] = record(cols, i * RECORD_COLUMNS);
  const pairs = [];
  if (extraIds !== "") {
    for (const id of extraIds.split("\u0000")) {
      const b = i++ * RECORD_COLUMNS;
      if (id.includes(PAIR_SEPARATOR)) pairs.push([id, b]);
      else profiles[id] = record(cols, b);
    }
  }
  // A model's record sits in its profile's, under `models` (a profile with none gets
  // an empty record to hold it).
  for (const [pair, b] of pairs) {
    const cut = pair.indexOf(PAIR_SEPARATOR);
    const rec = modelRecord(cols, b);
    if (rec === undefined) continue;
    const holder = (profiles[pair.slice(0, cut)] ??= { errorCount: 0 });
    (holder.models ??= Object.create(null))[pair.slice(cut + 1)] = rec;
  }
  return { version: 1, profiles };
}

/**
 * The stored form of a model's record (at `b`), or undefined for a pair whose history the
 * core forgot (src/snapshot.rs, `Pool::pair_forgotten`): it has nothing to say, and is not
 * written.
 */
function modelRecord(cols, b) {
  const full = record(cols, b);
  if (saysNothing(full)) return undefined;
  const rec = {};
  for (const f of MODEL_FIELDS) if (full[f] !== undefined) rec[f] = full[f];
  return rec;
}

const utf8 = /* @__PURE__ */ new TextEncoder();

/** Whether records `b` (a column offset) of `x` and `y` hold the same values (NaN: absent). */
function sameColumns(x, y, b) {
  for (let c = b; c < b + RECORD_COLUMNS; c++) {
    const u = x[c];
    const v = y[c];
    if (u !== v && (u === u || v === v)) return false;
  }
  return true;
}

/** Whether the models' records (`[model, record, ...]`) of `x` and `y` hold the same values. */
function sameModels(x, y, models) {
  for (let m = 1; m < models.length; m += 2) if (!sameColumns(x, y, models[m] * RECORD_COLUMNS)) return false;
  return true;
}

/**
 * `JSON.stringify` of one pool's successive snapshots in UTF-8, the same bytes, made again
 * only for the entries of `profiles` whose records changed since the last one: a busy pool
 * changes a few records between two writes, and serialising a large state was the longest
 * stall of its process's event loop (a hundred records changed: 10,000 profiles ~7 ms a
 * write, now ~1.5; 100,000 profiles ~140 ms, now ~8). An entry is a profile's record and its
 * models' (as toSnapshot makes it); a layout where a model's record has no profile's to sit
 * in (toSnapshot makes one for it, or not, by its values) is serialised whole. Holds the last
 * columns, the entries' texts and the blocks' bytes.
 */
export class SnapshotBytes {
  /** How many entries a block joins (64; tests give a few). */
  #block;
  /** What the order below is for: the pool's ids, the extra ids, the record count. */
  #ids = null;
  #extra = "";
  #count = -1;
  /**
   * Each entry of `profiles` in JSON.stringify's order: its record, its `"id":`, its models'
   * records (`[model, record, ...]`, or undefined for none); null: serialised whole.
   */
  #order = null;
  #heads = [];
  #models = [];
  /**
   * The columns the texts were made from (null: none yet), each entry's text, and each
   * block's bytes (`#block` entries joined and encoded; undefined: to make again): encoding
   * only the blocks that changed, then copying the blocks' bytes together, is what keeps a
   * large state's serialisation quick (joining a few megabytes of text, then encoding it,
   * took longer than all the rest).
   */
  #cols = null;
  #texts = [];
  #blocks = [];
  /** The buffers of the last two results (see `of`). */
  #current = null;
  #spare = null;

  constructor(block = 64) {
    this.#block = block;
  }

  /**
   * The UTF-8 bytes of `JSON.stringify(snapshot)`; `toSnapshot(ids, extraIds, cols)` made
   * `snapshot`. They are good until the second call after this one, which writes over them.
   * @param {{ version: 1, profiles: object }} snapshot
   * @param {string[]} ids
   * @param {string} extraIds
   * @param {Float64Array} cols
   */
  of(snapshot, ids, extraIds, cols) {
    const count = cols.length / RECORD_COLUMNS;
    if (ids !== this.#ids || extraIds !== this.#extra || count !== this.#count) this.#layout(snapshot, ids, extraIds, count);
    const order = this.#order;
    if (order === null) return utf8.encode(JSON.stringify(snapshot));
    const last = this.#cols;
    const texts = this.#texts;
    const blocks = this.#blocks;
    for (let e = 0; e < order.length; e++) {
      const b = order[e] * RECORD_COLUMNS;
      const models = this.#models[e];
      if (last !== null && sameColumns(last, cols, b) && (models === undefined || sameModels(last, cols, models))) continue;
      const rec = record(cols, b);
      if (models !== undefined) {
        for (let m = 0; m < models.length; m += 2) {
          const mrec = modelRecord(cols, models[m + 1] * RECORD_COLUMNS);
          if (mrec !== undefined) (rec.models ??= Object.create(null))[models[m]] = mrec;
        }
      }
      texts[e] = this.#heads[e] + JSON.stringify(rec);
      blocks[Math.floor(e / this.#block)] = undefined;
    }
    this.#cols = cols;
    const size = this.#block;
    const head = utf8.encode(`{"version":${JSON.stringify(snapshot.version)},"profiles":{`);
    let length = head.length + Math.max(0, blocks.length - 1) + 2;
    for (let k = 0; k < blocks.length; k++) length += (blocks[k] ??= utf8.encode(texts.slice(k * size, (k + 1) * size).join(","))).length;
    // Into the buffer of the call before last (its bytes are written and replaced by now):
    // a large state's megabytes, allocated afresh at each write, had the collector run
    // several times as often.
    let buffer = this.#spare;
    if (buffer === null || buffer.length < length) buffer = new Uint8Array(Math.ceil(length * 1.25));
    this.#spare = this.#current;
    this.#current = buffer;
    const out = buffer.subarray(0, length);
    out.set(head, 0);
    let at = head.length;
    for (let k = 0; k < blocks.length; k++) {
      if (k > 0) out[at++] = 0x2c; // ,
      out.set(blocks[k], at);
      at += blocks[k].length;
    }
    out[at++] = 0x7d; // }
    out[at] = 0x7d;
    return out;
  }

  #layout(snapshot, ids, extraIds, count) {
    this.#ids = ids;
    this.#extra = extraIds;
    this.#count = count;
    this.#cols = null;
    this.#order = null;
    this.#heads = [];
    this.#models = [];
    this.#texts = [];
    this.#blocks = [];
    // Record index by id, and each profile's models (in the order toSnapshot adds them).
    const index = new Map();
    for (let i = 0; i < ids.length; i++) index.set(ids[i], i);
    const pairs = new Map();
    let records = ids.length;
    if (extraIds !== "") {
      for (const id of extraIds.split("\u0000")) {
        const cut = id.indexOf(PAIR_SEPARATOR);
        if (cut < 0) index.set(id, records++);
        else {
          const owner = id.slice(0, cut);
          let list = pairs.get(owner);
          if (list === undefined) pairs.set(owner, (list = []));
          list.push(id.slice(cut + 1), records++);
        }
      }
    }
    if (records !== count) return;
    for (const owner of pairs.keys()) if (!index.has(owner)) return;
    // The order JSON.stringify writes them in: integer-like ids first, then in creation order.
    const keys = Object.keys(snapshot.profiles);
    if (keys.length !== index.size) return;
    this.#order = keys.map((k) => index.get(k));
    this.#heads = keys.map((k) => `${JSON.stringify(k)}:`);
    this.#models = keys.map((k) => pairs.get(k));
    this.#texts = new Array(keys.length);
    this.#blocks = new Array(Math.ceil(keys.length / this.#block)).fill(undefined);
  }
}

/**
 * Merges two stored states with the core's rule (the same as every store's): per id, the
 * timestamps take the maximum and the cooldown group comes from the later event. Accepts
 * what `parseState` accepts; unusable values are dropped.
 * @throws {TypeError} when either value as a whole is unusable, saying which and why.
 */
export function mergeSnapshots(a, b) {
  const pa = parseArgument(a, "a");
  const pb = parseArgument(b, "b");
  const c = new CorePool(0, undefined, undefined, undefined, undefined, new Uint8Array(0));
  try {
    c.importSnapshot(pa.ids, pa.cols, 0);
    c.importSnapshot(pb.ids, pb.cols, 0);
    return toSnapshot([], c.extraIds(), c.exportSnapshot());
  } finally {
    c.free();
  }
}
