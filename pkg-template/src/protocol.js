// What a pool and the built-in stores pass each other beyond the public StateStore
// interface (index.d.ts). The keys are in the symbol registry: the store may come from
// another bundle of this package (the file store's subpath) than the pool.

/**
 * The key, in a store's `update` context, of a token that stands for the pool writing (one
 * per pool, the same in each of its writes). The file store keeps the bytes it last wrote for
 * that token: when the file still holds exactly those, it is the pool's own state, and the
 * store merges nothing (`merge(null)`) rather than parse and merge it again (a large state:
 * milliseconds each, and the longest stalls of a busy process's event loop).
 */
export const WRITER = Symbol.for("key-carousel.writer");

/**
 * The key of a pool's snapshot's serialiser (a function, not enumerable): `snapshot[BYTES]()`
 * is `JSON.stringify(snapshot)` in UTF-8, made by the pool (snapshot.js, SnapshotBytes), or
 * undefined when the pool cannot vouch for it (the snapshot was read or changed since it was
 * made): then the store serialises it itself.
 */
export const BYTES = Symbol.for("key-carousel.bytes");
