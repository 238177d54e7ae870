// The built-in stores that need nothing but JavaScript: memory and Web Storage
// (localStorage / sessionStorage). The interface they implement is documented in
// index.d.ts (`StateStore`); fileStore is in file.js (subpath `key-carousel/file`).

/**
 * Keeps the state in this process (as a JSON string, so later changes to an object never
 * leak in). Pools given the same store share their state; read-merge-write is atomic
 * because it runs synchronously.
 */
export function memoryStore() {
  let value = null;
  const copies = [];
  return {
    name: "memoryStore",
    load() {
      return value;
    },
    update(merge) {
      value = JSON.stringify(merge(value));
    },
    keepCorrupt(raw) {
      copies.push(raw);
      return `memoryStore.corrupt[${copies.length - 1}]`;
    },
    /** Bad values found in this store, as they were (for inspection). */
    get corrupt() {
      return copies.slice();
    },
  };
}

/**
 * `localStorage`, or undefined where there is none, or where reading it throws (a sandboxed
 * iframe, blocked storage: SecurityError), which the caller then hears as a TypeError.
 */
function defaultStorage() {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the state under `key` in a Web Storage (`localStorage` by default). One
 * read-merge-write is synchronous, so atomic within a page; two tabs writing at once can
 * interleave (the later write wins for that moment; the next write of the other tab merges
 * again). A bad value is copied to `<key>.corrupt-<time>` (moved there when there is no room for a copy).
 */
export function webStorageStore(storage = defaultStorage(), options = {}) {
  if (storage === null || typeof storage !== "object" || typeof storage.getItem !== "function" || typeof storage.setItem !== "function") {
    throw new TypeError("webStorageStore(storage): storage must be a Web Storage (localStorage here is unavailable)");
  }
  if (options === null || typeof options !== "object") throw new TypeError("webStorageStore options must be an object { key? }");
  const key = options.key ?? "key-carousel";
  if (typeof key !== "string" || key === "") throw new TypeError("webStorageStore: key must be a non-empty string");
  return {
    name: `webStorage key ${JSON.stringify(key)}`,
    load() {
      return storage.getItem(key);
    },
    update(merge) {
      storage.setItem(key, JSON.stringify(merge(storage.getItem(key))));
    },
    keepCorrupt(raw) {
      const side = `${key}.corrupt-${Date.now()}`;
      const text = typeof raw === "string" ? raw : JSON.stringify(raw);
      try {
        storage.setItem(side, text);
      } catch (e) {
        // No room for a copy (a bad value over half the quota): moved aside instead, when
        // the key still holds it, or it could never be kept (nor, as the pool does not
        // overwrite what it could not keep, replaced). A copy otherwise: the key keeps what
        // other tabs read of it (a partly bad state's good rests) until the pool writes.
        if (typeof storage.removeItem !== "function" || storage.getItem(key) !== text) throw e;
        storage.removeItem(key);
        try {
          storage.setItem(side, text);
        } catch {
          storage.setItem(key, text); // put back as it was: its room was just freed
          throw e;
        }
      }
      return side;
    },
  };
}
