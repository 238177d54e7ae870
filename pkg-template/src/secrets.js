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
/** The most key pieces `keyIndex` holds for `redact` (about 3 MB of strings at most). */
const MAX_PIECES = 60_000;

/**
 * A short, non-reversible fingerprint: 32 bits of a 53-bit string hash (cyrb53), as 8
 * hex digits. Only used to derive stable ids; never reveals a key.
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
  // `^` gives a signed 32-bit result: `>>> 0` makes it unsigned, so it prints as 8 hex digits.
  return ((h2 ^ h1) >>> 0).toString(16).padStart(8, "0");
}

/** `index` (a `keyIndex`, or null) while it still covers `keys`, else a new one. */
export function keyIndexOf(index, keys) {
  return index !== null && index.size === keys.length ? index : keyIndex(keys);
}

/**
 * The configured keys, indexed for `redact`: by their last 8 characters (so finding the
 * keys a text holds costs the text's length, not the number of keys; keys of one provider
 * share their first characters — "sk-proj-", "sk-ant-api03-" — but not their last), the
 * shorter ones apart. Built on the first failure, not at construction.
 */
export function keyIndex(keys) {
  const byTail = new Map();
  const short = [];
  // A key read from a file keeps its newline; what reaches the provider (fetch trims
  // header values), and what it echoes, is the key without it.
  const all = new Set(keys);
  for (const k of keys) {
    const t = k.trim();
    if (t !== "") all.add(t);
  }
  for (const k of all) {
    if (k.length < MIN_LEAK) {
      short.push(k);
      continue;
    }
    const tail = k.slice(-MIN_LEAK);
    const list = byTail.get(tail);
    if (list === undefined) byTail.set(tail, [k]);
    else list.push(k);
  }
  // Every 8-character piece of every key, while they are few enough to hold (1,000 keys of
  // 60 characters): a provider may echo part of a key other than the one the call used
  // (an SDK client reused across keys). Above that, pieces of the call's own key only.
  let pieces = null;
  let count = 0;
  for (const list of byTail.values()) for (const k of list) count += k.length - MIN_LEAK + 1;
  if (count <= MAX_PIECES) {
    pieces = new Set();
    for (const list of byTail.values()) {
      for (const k of list) for (let i = 0; i + MIN_LEAK <= k.length; i++) pieces.add(k.slice(i, i + MIN_LEAK));
    }
  }
  return { byTail, short, pieces, size: keys.length };
}

/** Whether the character at `i` of `s` would continue a key-like token. */
function tokenChar(s, i) {
  const c = s.charCodeAt(i);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
}

/** `text` with each occurrence of `k` that no key-like character touches replaced. */
function redactToken(text, k) {
  let out = "";
  let from = 0;
  for (let at = text.indexOf(k); at !== -1; at = text.indexOf(k, at + 1)) {
    if (at < from) continue;
    const end = at + k.length;
    const bounded = !(at > 0 && tokenChar(text, at - 1) && tokenChar(k, 0)) && !(end < text.length && tokenChar(text, end) && tokenChar(k, k.length - 1));
    if (!bounded) continue;
    out += text.slice(from, at) + REDACTED;
    from = end;
  }
  return out + text.slice(from);
}

/**
 * Replaces in `text` every configured key (`index` from `keyIndex`), and every run of 8 or
 * more characters that also occurs in a configured key (a key the provider echoed partly;
 * in a pool too large for `keyIndex` to hold every piece, in `key`, the call's own), with
 * "[redacted]".
 */
export function redact(text, key, index) {
  let out = text;
  const found = new Set();
  // Each window of 8 characters that ends a configured key: does the whole key end there?
  for (let i = 0; i + MIN_LEAK <= out.length; i++) {
    const candidates = index.byTail.get(out.slice(i, i + MIN_LEAK));
    if (candidates === undefined) continue;
    for (const k of candidates) {
      const start = i + MIN_LEAK - k.length;
      if (start >= 0 && out.startsWith(k, start)) found.add(k);
    }
  }
  // Longest first: a key that is a prefix of another is replaced after it, not inside it.
  for (const k of [...found].sort((a, b) => b.length - a.length)) out = out.split(k).join(REDACTED);
  // A key shorter than 8 characters (a placeholder, a test's "test") only where it stands
  // as a token of its own: "e" must not take every "e" out of "Service unavailable".
  for (const k of index.short) if (out.includes(k)) out = redactToken(out, k);
  const pieces = index.pieces;
  if ((pieces === null || pieces.size === 0) && key.length < MIN_LEAK) return out;
  if (out.length < MIN_LEAK) return out;
  // Mark every position covered by an 8-character window that occurs in a key.
  let marks = null;
  for (let i = 0; i + MIN_LEAK <= out.length; i++) {
    const piece = out.slice(i, i + MIN_LEAK);
    if (pieces !== null ? pieces.has(piece) : key.includes(piece)) {
      marks ??= new Uint8Array(out.length);
      marks.fill(1, i, i + MIN_LEAK);
    }
  }
  if (marks === null) return out;
  let result = "";
  for (let i = 0; i < out.length; ) {
    if (marks[i]) {
      result += REDACTED;
      while (i < out.length && marks[i]) i++;
    } else {
      result += out[i++];
    }
  }
  return result;
}
