// Keeping API keys out of everything the pool says: derived ids and redaction of
// error text that a provider may echo a key into.

import { ConfigError, itemPath } from "./errors.js";

const REDACTED = "[redacted]";

/**
 * A lone UTF-16 surrogate: names cross into the core as UTF-8, where each one becomes
 * U+FFFD, so "a\uD800" and "a\uDC00" would be one id there.
 */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const HAS_IS_WELL_FORMED = typeof "".isWellFormed === "function";

/** Whether `s` holds a lone surrogate (`isWellFormed` where there is one: 4× the regex's speed). */
export function hasLoneSurrogate(s) {
  return HAS_IS_WELL_FORMED ? !s.isWellFormed() : LONE_SURROGATE.test(s);
}

/**
 * Ids, providers and models cross into the core as UTF-8: a name (when it is a string) must
 * hold no lone surrogate. `list`, `i` and `field` name it in the ConfigError (see itemPath).
 */
export function wellFormed(value, list, i, field) {
  if (typeof value === "string" && hasLoneSurrogate(value)) {
    throw new ConfigError(itemPath(list, i, field), "must be well-formed Unicode (it holds a lone surrogate)");
  }
}

/** Shortest run of a key's characters treated as a leak of the key. */
export const MIN_LEAK = 8;
/** Anchors are 4 characters long, one every 4 characters of a key (see `anchorIndex`). */
const ANCHOR = 4;
/**
 * Entries pack (key << POS_BITS) | (position / ANCHOR): keys of up to 4,096 characters and
 * up to 2^21 keys (a 32-bit entry). Keys past 4,096 characters (a whole credential file)
 * get indexes of their own, with as many bits for positions as the longest needs
 * (`longIndexes`); past 2^21 keys, the call's own key is still checked.
 */
const POS_BITS = 10;

/**
 * A short, non-reversible fingerprint: a 53-bit string hash (cyrb53), as 14 hex digits.
 * Only used to derive stable ids; never reveals a key. 53 bits, not 32: among 100,000 keys,
 * two would share 32 bits with a chance of 69 % (the pool could not start), 53 bits one in
 * a million.
 */
export function fingerprint(text) {
  let h1 = 0xdeadbeef ^ 0x6b63;
  let h2 = 0x41c6ce57 ^ 0x6b63;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  // The high 21 bits from h2, the low 32 from h1 (`>>> 0`: unsigned): an integer below 2^53.
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

/**
 * Whether the name `name` holds the key `key` (of 8 characters or more: shorter ones are
 * placeholders, not keys): whole, or 8 of its characters in a row. A name is shown
 * everywhere (status, logs, stored state).
 */
export function holdsKey(name, key) {
  if (typeof name !== "string" || typeof key !== "string" || name.length < MIN_LEAK || key.length < MIN_LEAK) return false;
  // Every window of a name shorter than 2 × MIN_LEAK holds its characters from
  // `length - MIN_LEAK` to MIN_LEAK: a key without them holds no window (one search, where
  // most names, ids such as "key-12345", end).
  if (name.length < 2 * MIN_LEAK && !key.includes(name.slice(name.length - MIN_LEAK, MIN_LEAK))) return false;
  // The name's windows cover the whole key too (also one read from a file with its newline).
  for (let i = 0; i + MIN_LEAK <= name.length; i++) if (inKey(name, i, key)) return key.trim().length >= MIN_LEAK;
  return false;
}

/**
 * Whether the 8 characters of `text` from `i` occur in `key`, compared in place (no
 * substring made: `holdsKey` runs for every profile at construction).
 */
function inKey(text, i, key) {
  const first = text[i];
  for (let j = key.indexOf(first); j !== -1 && j + MIN_LEAK <= key.length; j = key.indexOf(first, j + 1)) {
    let m = 1;
    while (m < MIN_LEAK && key.charCodeAt(j + m) === text.charCodeAt(i + m)) m++;
    if (m === MIN_LEAK) return true;
  }
  return false;
}

/** Whether `name` holds 8 characters in a row of any key of `index` (a `keyIndex`) of 8 or more. */
export function holdsAnyKey(name, index) {
  return name.length >= MIN_LEAK && markBeyond(name, index.anchors, markPieces(name, index.anchors, null)) !== null;
}

/** `marks` with the pieces of `text` found in the keys longer than the index holds. */
function markBeyond(text, anchors, marks) {
  if (anchors.beyond !== null) for (const a of anchors.beyond) marks = markPieces(text, a, marks);
  return marks;
}

/**
 * Anchor indexes of `long` keys (past 4,096 characters), longest first: each with the
 * position bits its longest key needs, and as many keys as the bits left can number.
 */
function longIndexes(long, crowdedAbove) {
  const sorted = [...long].sort((a, b) => b.length - a.length);
  const indexes = [];
  for (let i = 0; i < sorted.length; ) {
    const posBits = Math.max(1, Math.ceil(Math.log2(Math.floor(sorted[i].length / ANCHOR) + 1)));
    const n = Math.min(sorted.length - i, 2 ** (31 - posBits));
    indexes.push(anchorIndex(sorted.slice(i, i + n), crowdedAbove, posBits));
    i += n;
  }
  return indexes;
}

/** `index` (a `keyIndex`, or null) while it still covers `keys`, else a new one. */
export function keyIndexOf(index, keys) {
  return index !== null && index.size === keys.length ? index : keyIndex(keys);
}

/**
 * The configured keys, indexed for `redact`: by their last 8 characters (so finding the
 * keys a text holds costs the text's length, not the number of keys; keys of one provider
 * share their first characters — "sk-proj-", "sk-ant-api03-" — but not their last), the
 * shorter ones apart, and by anchors (`anchorIndex`) for the pieces of keys a text holds.
 * Built on the first failure, not at construction.
 */
export function keyIndex(keys, crowded = CROWDED) {
  const byTail = new Map();
  const short = [];
  // A key read from a file keeps its newline; what reaches the provider (fetch trims
  // header values), and what it echoes, is the key without it.
  const all = new Set(keys);
  for (const k of keys) {
    const t = k.trim();
    if (t !== "") all.add(t);
  }
  const long = [];
  all.delete("");
  for (const k of all) {
    if (k.length < MIN_LEAK) {
      short.push(k);
      continue;
    }
    long.push(k);
    const tail = k.slice(-MIN_LEAK);
    const list = byTail.get(tail);
    if (list === undefined) byTail.set(tail, [k]);
    else list.push(k);
  }
  return { byTail, short, anchors: anchorIndex(long, crowded), size: keys.length };
}

/** A hash of the 4 characters of `s` from `i`. */
function hash4(s, i) {
  let h = Math.imul(s.charCodeAt(i), 0x9e3779b1) ^ s.charCodeAt(i + 1);
  h = Math.imul(h, 0x85ebca6b) ^ s.charCodeAt(i + 2);
  h = Math.imul(h, 0xc2b2ae35) ^ s.charCodeAt(i + 3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Every 8-character piece of every key, findable in any pool (a provider may echo part of a
 * key other than the call's: an SDK client reused across keys). Each piece holds one of its
 * key's 4-character runs that start at 0, 4, 8, …: those "anchors" are indexed, in buckets
 * by their hash (CSR: `head` offsets into `entries`), a quarter of the key's length in
 * entries of 4 bytes (100,000 keys of 164 characters: 25 MB). See `markPieces`.
 */
function anchorIndex(keys, crowdedAbove, posBits = POS_BITS) {
  const count = Math.min(keys.length, 2 ** (31 - posBits));
  const limit = ANCHOR * 2 ** posBits;
  let n = 0;
  for (let k = 0; k < count; k++) n += Math.min(keys[k].length, limit) >> 2;
  let bits = 4;
  while (1 << bits < n / 2) bits++;
  const shift = 32 - bits;
  const head = new Int32Array((1 << bits) + 1);
  const hashes = new Int32Array(n);
  let h = 0;
  for (let k = 0; k < count; k++) {
    const key = keys[k];
    const end = Math.min(key.length, limit);
    for (let p = 0; p + ANCHOR <= end; p += ANCHOR) {
      const b = hash4(key, p) >>> shift;
      hashes[h++] = b;
      head[b + 1]++;
    }
  }
  for (let b = 1; b < head.length; b++) head[b] += head[b - 1];
  const at = head.slice(0, -1);
  const entries = new Int32Array(n);
  h = 0;
  for (let k = 0; k < count; k++) {
    const end = Math.min(keys[k].length, limit);
    for (let p = 0; p + ANCHOR <= end; p += ANCHOR) entries[at[hashes[h++]]++] = k * 2 ** posBits + (p >> 2);
  }
  // Keys past the limit (4,096 characters: a whole credential file, say): indexed whole in
  // indexes of their own, whose entries leave as many bits to positions as their longest
  // key needs (see `longIndexes`).
  const long = posBits === POS_BITS ? keys.slice(0, count).filter((k) => k.length > limit) : [];
  const beyond = long.length === 0 ? null : longIndexes(long, crowdedAbove);
  const complete = count === keys.length;
  const groups = crowdedGroups(keys, head, entries, crowdedAbove, posBits);
  if (groups.size === 0) return { keys, head, entries, shift, groups, complete, beyond, posBits };
  // The grouped entries leave their buckets (marked -1): the buckets are made again without them.
  const kept = new Int32Array(head.length);
  let k = 0;
  for (let b = 0; b + 1 < head.length; b++) {
    kept[b] = k;
    for (let e = head[b]; e < head[b + 1]; e++) if (entries[e] !== -1) entries[k++] = entries[e];
  }
  kept[head.length - 1] = k;
  return { keys, head: kept, entries: entries.slice(0, k), shift, groups, complete, beyond, posBits };
}

/** Bucket size, and group size, above which anchors are grouped (tests vary it). */
const CROWDED = 32;
/** The low `n` bytes of a 32-bit word. */
const LOW = [0, 0xff, 0xffff, 0xffffff, -1];

/**
 * Anchors that many keys share (the same 4 characters at the same place in each: "sk-p",
 * "roj-"), which a bucket would make a text's position scan one by one, grouped by those 4
 * characters (packed as bytes, see `packText`). A group holds, for each split of 4 more
 * characters into `l` before and `4 - l` after the anchor, the sorted words of those
 * characters of its entries: a text's 8 characters around the anchor are then one binary
 * search each. Entries with a character that is not a byte (1–255) stay in their bucket.
 */
function crowdedGroups(keys, head, entries, crowdedAbove, posBits) {
  const mask = 2 ** posBits - 1;
  const groups = new Map();
  for (let b = 0; b + 1 < head.length; b++) {
    if (head[b + 1] - head[b] <= crowdedAbove) continue;
    const byHere = new Map();
    for (let e = head[b]; e < head[b + 1]; e++) {
      const key = keys[entries[e] >>> posBits];
      const p = (entries[e] & mask) * ANCHOR;
      const here = packText(key, p, 1);
      if (byteCount(here) < ANCHOR) continue;
      const before = packText(key, p - 1, -1);
      const after = packText(key, p + ANCHOR, 1);
      // Packed up to the first character that is not a byte: such an entry stays.
      if (byteCount(before) < Math.min(ANCHOR, p) || byteCount(after) < Math.min(ANCHOR, key.length - p - ANCHOR)) continue;
      let list = byHere.get(here);
      if (list === undefined) byHere.set(here, (list = []));
      list.push(e, before, after);
    }
    for (const [here, list] of byHere) {
      if (list.length / 3 <= crowdedAbove) continue;
      const splits = [];
      for (let l = 0; l <= ANCHOR; l++) {
        const words = new Uint32Array(list.length / 3);
        for (let i = 0; i < words.length; i++) words[i] = splitWord(list[3 * i + 1], list[3 * i + 2], l);
        splits.push(words.sort());
      }
      groups.set(here, splits);
      for (let i = 0; i < list.length; i += 3) entries[list[i]] = -1;
    }
  }
  return groups;
}

/** The word of `l` characters before an anchor (`before`, nearest first) and `4 - l` after it. */
function splitWord(before, after, l) {
  return ((before & LOW[l]) | (l === ANCHOR ? 0 : (after & LOW[ANCHOR - l]) << (8 * l))) >>> 0;
}

/** How many characters a word of `packText` holds. */
function byteCount(w) {
  let n = 0;
  while (n < ANCHOR && ((w >>> (8 * n)) & 255) !== 0) n++;
  return n;
}

/** Whether the sorted `words` hold `w`. */
function has(words, w) {
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (words[mid] < w) lo = mid + 1;
    else hi = mid;
  }
  return lo < words.length && words[lo] === w;
}

/**
 * The 4 characters of `text` from `i` going by `step` (1 or -1), packed as bytes (the first
 * in the lowest), up to the first that is missing or not a byte 1–255 (0 from there).
 */
function packText(text, i, step) {
  let w = 0;
  for (let c = 0; c < ANCHOR && i >= 0 && i < text.length; c++, i += step) {
    const ch = text.charCodeAt(i);
    if (ch === 0 || ch > 255) break;
    w |= ch << (8 * c);
  }
  return w;
}

/**
 * Marks in `marks` (made when first needed; returned) each character of `text` that lies in
 * a run of 8 or more that also occurs in a key of `a` (an `anchorIndex`). At each position
 * of the text, the keys' anchors with the same 4 characters are extended by up to 4
 * characters each way: a piece found at `i` in a key holds an anchor, at most 4 characters
 * from either end, so this finds every piece, and only pieces (each is checked against the
 * key: no hash makes a false one). Costs the text's length times the anchors a bucket holds,
 * a few; anchors many keys share (a provider's prefix) are grouped (`crowdedGroups`): a few
 * binary searches.
 */
function markPieces(text, a, marks) {
  const { keys, head, entries, shift, posBits } = a;
  const mask = 2 ** posBits - 1;
  const n = text.length;
  const side = MIN_LEAK - ANCHOR;
  for (let j = 0; j + ANCHOR <= n; j++) {
    const b = hash4(text, j) >>> shift;
    const group = a.groups.size === 0 ? undefined : a.groups.get(packText(text, j, 1));
    if (group !== undefined) {
      const before = packText(text, j - 1, -1);
      const after = packText(text, j + ANCHOR, 1);
      const nb = byteCount(before);
      const na = byteCount(after);
      for (let l = Math.max(0, ANCHOR - na); l <= Math.min(ANCHOR, nb); l++) {
        if (has(group[l], splitWord(before, after, l))) {
          marks ??= new Uint8Array(n);
          marks.fill(1, j - l, j + MIN_LEAK - l);
        }
      }
    }
    for (let e = head[b], end = head[b + 1]; e < end; e++) {
      const key = keys[entries[e] >>> posBits];
      const p = (entries[e] & mask) * ANCHOR;
      if (
        key.charCodeAt(p) !== text.charCodeAt(j) ||
        key.charCodeAt(p + 1) !== text.charCodeAt(j + 1) ||
        key.charCodeAt(p + 2) !== text.charCodeAt(j + 2) ||
        key.charCodeAt(p + 3) !== text.charCodeAt(j + 3)
      ) {
        continue;
      }
      let l = 0;
      while (l < side && l < p && l < j && key.charCodeAt(p - 1 - l) === text.charCodeAt(j - 1 - l)) l++;
      let r = 0;
      const after = p + ANCHOR;
      while (r < side && j + ANCHOR + r < n && key.charCodeAt(after + r) === text.charCodeAt(j + ANCHOR + r)) r++;
      if (l + ANCHOR + r < MIN_LEAK) continue;
      marks ??= new Uint8Array(n);
      marks.fill(1, j - l, j + ANCHOR + r);
      if (l === side && r === side) break; // no other anchor here can mark more
    }
  }
  return marks;
}

/** Marks (as `markPieces`) the runs of 8 or more characters of `text` that occur in `key`. */
function markKey(text, key, marks) {
  for (let i = 0; i + MIN_LEAK <= text.length; i++) {
    if (inKey(text, i, key)) {
      marks ??= new Uint8Array(text.length);
      marks.fill(1, i, i + MIN_LEAK);
    }
  }
  return marks;
}

/** Whether the character at `i` of `s` would continue a key-like token. */
function tokenChar(s, i) {
  const c = s.charCodeAt(i);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
}

/** `marks` with each occurrence of `k` in `text` that no key-like character touches. */
function markToken(text, k, marks) {
  for (let at = text.indexOf(k); at !== -1; at = text.indexOf(k, at + 1)) {
    const end = at + k.length;
    const bounded = !(at > 0 && tokenChar(text, at - 1) && tokenChar(k, 0)) && !(end < text.length && tokenChar(text, end) && tokenChar(k, k.length - 1));
    if (!bounded) continue;
    marks ??= new Uint8Array(text.length);
    marks.fill(1, at, end);
  }
  return marks;
}

/**
 * Replaces in `text` every configured key (`index` from `keyIndex`), and every run of 8 or
 * more characters that also occurs in a configured key (a key the provider echoed partly),
 * with "[redacted]". Everything is found in `text` as it is, then replaced at once: a key
 * inside another takes nothing from the search for the other's pieces. `key` is the call's
 * own key ("" for none): always in the index, unless past its limit of 2 million keys.
 */
export function redact(text, key, index) {
  let marks = null;
  // Each window of 8 characters that ends a configured key: does the whole key end there?
  for (let i = 0; i + MIN_LEAK <= text.length; i++) {
    const candidates = index.byTail.get(text.slice(i, i + MIN_LEAK));
    if (candidates === undefined) continue;
    for (const k of candidates) {
      const start = i + MIN_LEAK - k.length;
      if (start >= 0 && text.startsWith(k, start)) {
        marks ??= new Uint8Array(text.length);
        marks.fill(1, start, i + MIN_LEAK);
      }
    }
  }
  // A key shorter than 8 characters (a placeholder, a test's "test") only where it stands
  // as a token of its own: "e" must not take every "e" out of "Service unavailable".
  for (const k of index.short) if (text.includes(k)) marks = markToken(text, k, marks);
  if (text.length >= MIN_LEAK) {
    marks = markBeyond(text, index.anchors, markPieces(text, index.anchors, marks));
    // The call's own key, should the index not hold it.
    if (!index.anchors.complete && key.length >= MIN_LEAK) marks = markKey(text, key, marks);
  }
  if (marks === null) return text;
  let result = "";
  for (let i = 0; i < text.length; ) {
    if (marks[i]) {
      result += REDACTED;
      while (i < text.length && marks[i]) i++;
    } else {
      const from = i;
      while (i < text.length && !marks[i]) i++;
      result += text.slice(from, i);
    }
  }
  return result;
}
