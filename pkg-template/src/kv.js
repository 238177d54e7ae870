// Key-value stores of the edge runtimes: Cloudflare Workers KV and Deno KV. Both keep the
// state as one JSON string (key-carousel 1's format plus v2's fields) under one key, and
// a bad value under a side key. Nothing here imports a runtime module: the binding or the
// Deno.Kv is the user's.

import { errorMessage } from "./errors.js";

// A pause inside a write keeps the process alive (not unref'd): whoever awaits the write
// (flush, close) must see it end.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const asText = (raw) => (typeof raw === "string" ? raw : JSON.stringify(raw));

/**
 * Workers KV key → the time (Date.now ms) its next put may start. One per isolate, not per
 * store: a Worker that makes a store (and a pool) per request, against the README's advice, must
 * still space the puts of its concurrent requests. Two namespaces using the same key name
 * share a slot, which only spaces their puts more than needed.
 */
const nextPut = new Map();

function checkOptions(name, options) {
  if (options === null || typeof options !== "object") throw new TypeError(`${name} options must be an object`);
}

/**
 * Keeps the state in Workers KV under `key` (default "key-carousel"). Each write reads the
 * value, merges the pool's state into it and puts the result: KV has no transactions, so
 * two writers at the same moment can overwrite each other (the later put wins), and KV is
 * eventually consistent (a put is visible elsewhere within about 60 s, reads may be
 * cached that long). What a writer lost is put back by the next write of the pool that
 * holds it, since every write carries the pool's whole state. Puts to the key are at
 * least `minWriteIntervalMs` apart (KV allows one write per second per key). A bad value
 * is copied to `<key>:corrupt:<time>`.
 */
export function cloudflareKvStore(namespace, options = {}) {
  if (namespace === null || typeof namespace !== "object" || typeof namespace.get !== "function" || typeof namespace.put !== "function") {
    throw new TypeError("cloudflareKvStore(namespace): namespace must be a Workers KV namespace binding (env.MY_KV)");
  }
  checkOptions("cloudflareKvStore", options);
  const key = options.key ?? "key-carousel";
  if (typeof key !== "string" || key === "") throw new TypeError("cloudflareKvStore: key must be a non-empty string");
  const minWriteIntervalMs = options.minWriteIntervalMs ?? 1000;
  if (typeof minWriteIntervalMs !== "number" || !(minWriteIntervalMs >= 0)) {
    throw new TypeError("cloudflareKvStore: minWriteIntervalMs must be a number >= 0");
  }
  return {
    name: `Cloudflare KV key ${JSON.stringify(key)}`,
    key,
    load() {
      return namespace.get(key, "text");
    },
    async update(merge) {
      // Wait for the slot first, then read: the write carries everything up to then.
      const slot = () => {
        const now = Date.now();
        let at = nextPut.get(key) ?? 0;
        // A slot more than an interval ahead: the wall clock stepped back; do not stall.
        if (at > now + minWriteIntervalMs) nextPut.set(key, (at = now + minWriteIntervalMs));
        return at - now;
      };
      for (let wait = slot(); wait > 0; wait = slot()) await sleep(wait);
      // Taken at once (no await since the check): a concurrent writer waits for the next.
      nextPut.set(key, Date.now() + minWriteIntervalMs);
      const snapshot = merge(await namespace.get(key, "text"));
      const putAt = Date.now();
      try {
        await namespace.put(key, JSON.stringify(snapshot));
      } finally {
        // Counted from the put itself, which the read before it may have delayed.
        nextPut.set(key, Math.max(nextPut.get(key) ?? 0, putAt + minWriteIntervalMs));
      }
    },
    async keepCorrupt(raw) {
      const side = `${key}:corrupt:${Date.now()}`;
      await namespace.put(side, asText(raw));
      return side;
    },
  };
}

const MAX_ATTEMPTS = 50;
const BUSY = /database is locked|SQLITE_BUSY/i;

/**
 * Past this many characters, the state goes to Deno KV gzip-compressed (as bytes): a value
 * is at most 64 KiB there, and a text of more than 32,768 characters may take more than that
 * (V8 keeps a text with a character beyond Latin-1 as UTF-16). A smaller state stays JSON
 * text, readable as it is.
 */
const DENO_KV_TEXT_MAX = 30000;

/** The bytes of `data` (text or bytes) passed through `stream` (CompressionStream: Deno, Node ≥ 18, browsers). */
async function through(data, stream) {
  return new Uint8Array(await new Response(new Blob([data]).stream().pipeThrough(stream)).arrayBuffer());
}

/**
 * A stored Deno KV value as the pool reads it: bytes (a compressed state) as their text;
 * bytes that are not gzip of UTF-8 text as they are (a bad value, copied aside as it is).
 */
async function storedText(value) {
  if (!(value instanceof Uint8Array)) return value ?? null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(await through(value, new DecompressionStream("gzip")));
  } catch {
    return value;
  }
}

function keyText(key) {
  return `[${key.map((p) => (typeof p === "string" ? JSON.stringify(p) : typeof p === "bigint" ? `${p}n` : String(p))).join(", ")}]`;
}

/**
 * Keeps the state in Deno KV under `key` (default ["key-carousel"]). Each write is an atomic
 * read-merge-write: read the entry, merge, commit with a check of the entry's versionstamp,
 * and on a conflicting write (or a local KV file busy with another writer) start again, at
 * most 50 times in a row (then the write fails and is retried later). So no writer's update
 * is lost. A value is at most 64 KiB (Deno KV's limit): a state of more than 30,000
 * characters (some 120 profiles that have all failed) is stored gzip-compressed, as bytes,
 * which holds thousands (see the README). A bad value is copied to `[...key, "corrupt", <time>]`.
 */
export function denoKvStore(kv, options = {}) {
  if (kv === null || typeof kv !== "object" || typeof kv.get !== "function" || typeof kv.set !== "function" || typeof kv.atomic !== "function") {
    throw new TypeError("denoKvStore(kv): kv must be a Deno.Kv (await Deno.openKv())");
  }
  checkOptions("denoKvStore", options);
  let key = options.key ?? ["key-carousel"];
  if (typeof key === "string") key = [key];
  if (!Array.isArray(key) || key.length === 0) throw new TypeError("denoKvStore: key must be a non-empty array of key parts (or a string)");
  // A frozen copy: the store's `key` is where it reads and writes, and its name says so.
  key = Object.freeze([...key]);
  const name = `Deno KV key ${keyText(key)}`;
  return {
    name,
    key,
    async load() {
      for (let attempt = 1; ; attempt++) {
        try {
          return await storedText((await kv.get(key)).value);
        } catch (e) {
          if (!BUSY.test(errorMessage(e)) || attempt >= MAX_ATTEMPTS) throw e;
          await sleep(1 + Math.random() * Math.min(50, attempt * 5));
        }
      }
    },
    async update(merge) {
      for (let attempt = 1; ; attempt++) {
        let result;
        try {
          const entry = await kv.get(key);
          const text = JSON.stringify(merge(await storedText(entry.value)));
          const value = text.length > DENO_KV_TEXT_MAX ? await through(text, new CompressionStream("gzip")) : text;
          // The check names the key itself: a Deno KV wrapper's entry may carry only the
          // value and versionstamp (what DenoKvLike declares).
          result = await kv.atomic().check({ key, versionstamp: entry.versionstamp }).set(key, value).commit();
        } catch (e) {
          // A local KV file (SQLite) that another handle or process is writing: try again.
          if (!BUSY.test(errorMessage(e)) || attempt >= MAX_ATTEMPTS) throw e;
          result = { ok: false };
        }
        if (result.ok) return;
        if (attempt >= MAX_ATTEMPTS) throw new Error(`${name}: ${attempt} conflicting writes in a row`);
        if (attempt > 1) await sleep(1 + Math.random() * Math.min(50, attempt * 5)); // others are writing: step aside
      }
    },
    async keepCorrupt(raw) {
      const side = [...key, "corrupt", Date.now()];
      await kv.set(side, raw);
      return keyText(side);
    },
  };
}
