// The file store's writes of a large state: the text a pool writes is JSON.stringify of its
// snapshot, byte for byte, though only the records that changed since its last write are
// serialised again (snapshot.js, SnapshotBytes); a write merges nothing in when the file
// still holds that pool's last write, and merges whatever anyone else wrote; the snapshot a
// store is given reads as a plain object although its records are made when first read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fsp, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Pool } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { BYTES } from "../../pkg-template/src/protocol.js";
import { RECORD_COLUMNS, SnapshotBytes, toSnapshot } from "../../pkg-template/src/snapshot.js";
import { REASONS } from "../../pkg-template/src/reasons.js";
import { HOUR, MIN, T0, keys, manualClock, tooManyRequests } from "./helpers.mjs";

const dir = () => mkdtempSync(join(tmpdir(), "kc-text-"));

// ── SnapshotBytes against JSON.stringify, over sequences of exports ───────────────────────

/** Ids as they come: integer-like ones (which JSON.stringify writes first), odd ones. */
const ID = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("k0", "k1", "k2", "0", "7", "42", "4294967294", "4294967295", "-1", "01", "__proto__", "é", "a\"b\\c\n", "x\uD800", "\u2028") },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 4 }).filter((s) => !s.includes("\u0000") && !s.includes("\u0001")) },
);
const TIME = fc.oneof(fc.constant(NaN), fc.constantFrom(T0, T0 + 1, T0 + MIN, 0), fc.integer({ min: 0, max: 2 ** 53 }), fc.double({ min: 0, max: 2e12, noNaN: true }));
/** One record's columns as the core exports them (src/snapshot.rs: count, 5 times, reason, long, time). */
const ANY_RECORD = fc.tuple(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  TIME,
  TIME,
  TIME,
  TIME,
  fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: REASONS.length - 1 })),
  TIME,
  fc.constantFrom(0, 1),
  TIME,
);
/** Or one that says nothing (a model's record then is not written: toSnapshot). */
const RECORD = fc.oneof(ANY_RECORD, fc.constant([0, NaN, NaN, NaN, NaN, -1, NaN, 0, NaN]), fc.constant([0, NaN, NaN, NaN, NaN, -1, 0, 0, NaN]));

/** A layout (the pool's ids, the others' ids, models of some) and a few exports of it. */
const HISTORY = fc
  .record({
    all: fc.uniqueArray(ID, { minLength: 0, maxLength: 12 }),
    pooled: fc.nat(),
    pairs: fc.array(fc.tuple(fc.nat(), fc.constantFrom("gpt-4o", "7", "m")), { maxLength: 3 }),
  })
  .chain(({ all, pooled, pairs }) => {
    const ids = all.slice(0, pooled % (all.length + 1));
    const extra = all.slice(ids.length);
    // Models of the ids here, and of one that is not (its record sits in one made for it, if any).
    const owners = [...all, "ghost"];
    const pairIds = [...new Set(pairs.map(([i, m]) => `${owners[i % owners.length]}\u0001${m}`))];
    const count = ids.length + extra.length + pairIds.length;
    const step = fc.record({
      // Which record, which of its columns (9: all of them), its new values.
      changes: fc.array(fc.tuple(fc.nat(), fc.nat({ max: RECORD_COLUMNS }), RECORD), { maxLength: 4 }),
      // A new array of the same ids (the cache keys on the array) or, rarely, other extra ids.
      copyIds: fc.boolean(),
      dropExtra: fc.boolean(),
      // Another id in the place of the first extra one (one forgotten, one merged in): same count.
      newExtra: fc.option(fc.constantFrom("9", "new", "0", "k0"), { nil: undefined }),
    });
    return fc.record({
      // Entries per block (the pool's 64 would leave these states in one).
      block: fc.integer({ min: 1, max: 4 }),
      ids: fc.constant(ids),
      extra: fc.constant([...extra, ...pairIds]),
      first: fc.array(RECORD, { minLength: count, maxLength: count }),
      steps: fc.array(step, { maxLength: 6 }),
    });
  });

test("SnapshotBytes writes exactly JSON.stringify(snapshot) in UTF-8, export after export, whatever changed", () => {
  fc.assert(
    fc.property(HISTORY, ({ block, ids, extra, first, steps }) => {
      const maker = new SnapshotBytes(block);
      let theIds = ids;
      let extraIds = extra;
      let cols = Float64Array.from(first.flat());
      // The last result stays as it was through the next call (the file store compares the
      // file with its last write's bytes, then makes the next).
      let last = null;
      const check = () => {
        const snapshot = toSnapshot(theIds, extraIds.join("\u0000"), cols);
        const bytes = maker.of(snapshot, theIds, extraIds.join("\u0000"), cols);
        const expected = Buffer.from(JSON.stringify(snapshot), "utf8");
        assert.deepEqual(Buffer.from(bytes), expected);
        if (last !== null) assert.deepEqual(Buffer.from(last.bytes), last.expected);
        last = { bytes, expected };
      };
      check();
      for (const { changes, copyIds, dropExtra, newExtra } of steps) {
        // Each export is a new array (the core's exportSnapshot copies out).
        cols = cols.slice();
        for (const [at, col, rec] of changes) {
          if (cols.length === 0) continue;
          const b = (at % (cols.length / RECORD_COLUMNS)) * RECORD_COLUMNS;
          if (col === RECORD_COLUMNS) cols.set(rec, b);
          else cols[b + col] = rec[col];
        }
        if (copyIds) theIds = theIds.slice();
        if (newExtra !== undefined && extraIds.length > 0 && !theIds.includes(newExtra) && !extraIds.includes(newExtra)) {
          extraIds = [newExtra, ...extraIds.slice(1)];
        } else if (dropExtra && extraIds.length > 0) {
          extraIds = extraIds.slice(1);
          cols = cols.slice(0, cols.length - RECORD_COLUMNS);
        }
        check();
      }
    }),
    { numRuns: 1500 },
  );
});

// ── through a pool and the file store ───────────────────────────────────────────────────

/**
 * The file store, checked at each write: the file it wrote against JSON.stringify of the
 * snapshot the pool gave it (its records made afresh from the same columns).
 */
function checkedFileStore(path) {
  const inner = fileStore(path);
  const s = {
    name: inner.name,
    writes: 0,
    mismatches: [],
    load: () => inner.load(),
    async update(merge, context) {
      let given;
      await inner.update((stored, found) => (given = merge(stored, found)), context);
      s.writes++;
      const wrote = readFileSync(path, "utf8");
      const expected = JSON.stringify(given);
      if (wrote !== expected) s.mismatches.push({ write: s.writes, wrote: wrote.slice(0, 200), expected: expected.slice(0, 200) });
    },
  };
  return s;
}

test("a pool's file holds JSON.stringify of its state at every write: records changing, models resting and forgotten, others' ids kept", async () => {
  const path = join(dir(), "state.json");
  // Others' ids, integer-like ones among them (JSON.stringify writes those first).
  const others = { 42: { errorCount: 1, lastFailure: T0 - 5, updatedAt: T0 - 5 }, __proto__x: { errorCount: 0, lastSuccess: T0 - 9 }, 7: { errorCount: 2, lastFailure: T0 - 1, updatedAt: T0 - 1 } };
  writeFileSync(path, JSON.stringify({ version: 1, profiles: others }));
  const clock = manualClock();
  const store = checkedFileStore(path);
  const profiles = [...keys(1200), { id: "3", provider: "openai", apiKey: "key-openai-three-0123456789" }];
  const pool = new Pool({ profiles, storage: store, clock: clock.fn, maxWaitMs: 0 });
  await pool.init();
  // A fixed pseudo-random sequence of runs (xorshift32).
  let x = 2463534242;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const phase = async (rounds, withModels) => {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 40; i++) {
        clock.now += 1 + (next() % 50);
        const fails = next() % 4 === 0;
        const model = withModels && next() % 2 === 0 ? `m${next() % 3}` : undefined;
        await pool
          .run(
            () => {
              if (fails) throw tooManyRequests();
              return 1;
            },
            model === undefined ? undefined : { model },
          )
          .catch(() => {});
      }
      await pool.flush();
    }
  };
  await phase(6, false);
  const before = store.writes;
  await phase(4, true);
  // The model rests and every failure forgotten: the records are the profiles' again.
  clock.now += 31 * 24 * HOUR;
  await phase(4, false);
  await pool.close();
  assert.ok(store.writes >= before + 8, `${store.writes} writes`);
  assert.deepEqual(store.mismatches, []);
  const stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  for (let i = 0; i < 1200; i++) assert.ok(Object.hasOwn(stored, `k${i}`), `k${i}`);
  assert.ok(Object.hasOwn(stored, "3"));
});

test("two pools sharing one fileStore: each write merges what the other wrote (neither takes the other's write for its own)", async () => {
  const path = join(dir(), "state.json");
  const store = fileStore(path);
  const a = new Pool({ profiles: [{ id: "a", provider: "openai", apiKey: "key-openai-aaaa-0123456789" }], storage: store, maxWaitMs: 0 });
  const b = new Pool({ profiles: [{ id: "b", provider: "openai", apiKey: "key-openai-bbbb-0123456789" }], storage: store, maxWaitMs: 0 });
  await a.init();
  await b.init();
  const fail = () => {
    throw tooManyRequests();
  };
  await a.run(fail).catch(() => {});
  await a.flush();
  await b.run(fail).catch(() => {});
  await b.flush();
  let stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  assert.ok(stored.a?.cooldownUntil > Date.now(), "a's rest, written by a, kept by b's write");
  assert.ok(stored.b?.cooldownUntil > Date.now(), "b's rest");
  // a writes again: the file is b's write now, not a's last.
  a.markSuccess("a");
  await a.flush();
  stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  assert.equal(stored.a.cooldownUntil, undefined);
  assert.ok(stored.b?.cooldownUntil > Date.now(), "b's rest kept by a's second write");
  await a.close();
  await b.close();
});

test("a pool's next write merges what another process wrote since its last one, even at the same size", async () => {
  const path = join(dir(), "state.json");
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), storage: fileStore(path), clock: clock.fn, maxWaitMs: 0 });
  await pool.init();
  pool.markFailure("k0", "rate_limit", { retryAfterMs: MIN });
  await pool.flush();
  const mine = readFileSync(path, "utf8");
  // Another writer's state of the very same length: only its bytes tell it apart.
  const theirs = mine.replace('"k1":{"errorCount":0', '"k1":{"errorCount":7');
  assert.equal(theirs.length, mine.length);
  assert.notEqual(theirs, mine);
  writeFileSync(path, theirs);
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 2 * MIN });
  await pool.flush();
  const stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  assert.equal(stored.k1.errorCount, 7);
  assert.equal(pool.getStatus().profiles.find((p) => p.id === "k1").errorCount, 7);
  await pool.close();
});

test("the snapshot a store is given reads as a plain object: keys, JSON, structuredClone, assignment", async () => {
  const seen = [];
  const pool = new Pool({
    profiles: keys(2),
    storage: {
      load: () => null,
      save: (s) => {
        // The pool's own serialisation first: it vouches only for a snapshot nobody read.
        const bytes = Buffer.from(s[BYTES]()).toString("utf8");
        seen.push({
          bytes,
          again: s[BYTES](),
          keys: Object.keys(s),
          json: JSON.parse(JSON.stringify(s)),
          clone: structuredClone(s),
          proto: Object.getPrototypeOf(s.profiles),
          same: s.profiles === s.profiles,
          stringified: JSON.stringify(s),
        });
        s.profiles = { replaced: true };
        seen.push(JSON.stringify(s));
        return undefined;
      },
    },
    maxWaitMs: 0,
  });
  await pool.init();
  pool.markFailure("k1", "rate_limit", { retryAfterMs: MIN });
  await pool.flush();
  const [first, after] = seen;
  assert.deepEqual(first.keys, ["version", "profiles"]);
  assert.deepEqual(Object.keys(first.json.profiles), ["k0", "k1"]);
  assert.ok(first.json.profiles.k1.cooldownUntil > Date.now());
  assert.deepEqual(first.clone, first.json);
  assert.equal(first.proto, null);
  assert.equal(first.same, true);
  assert.equal(first.bytes, first.stringified);
  assert.equal(first.again, undefined, "read since: the store serialises it itself");
  assert.equal(after, '{"version":1,"profiles":{"replaced":true}}');
  await pool.close();
});

test("a file that grows while a write reads it (a writer that takes no lock) is read whole", async () => {
  const where = dir();
  const path = join(where, "state.json");
  const clock = manualClock();
  const pool = new Pool({ profiles: keys(2), storage: fileStore(path), clock: clock.fn, maxWaitMs: 0 });
  await pool.init();
  // Another writer's state, written since the pool loaded, with a rest the pool must keep.
  writeFileSync(path, JSON.stringify({ version: 1, profiles: { k1: { errorCount: 1, lastFailure: T0, cooldownUntil: T0 + HOUR, updatedAt: T0 } } }));
  // The file reads 40 bytes shorter in its stat than it is: as if it grew between the two.
  const open = fsp.open;
  let opened = 0;
  fsp.open = async (...args) => {
    const handle = await open(...args);
    if (args[0] !== path) return handle;
    opened++;
    const stat = handle.stat.bind(handle);
    handle.stat = async () => Object.assign(await stat(), { size: (await stat()).size - 40 });
    return handle;
  };
  try {
    pool.markFailure("k0", "rate_limit", { retryAfterMs: MIN });
    await pool.flush();
  } finally {
    fsp.open = open;
  }
  assert.ok(opened > 0);
  assert.deepEqual(readdirSync(where).filter((f) => f.includes("corrupt")), []);
  const stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  assert.equal(stored.k1.cooldownUntil, T0 + HOUR);
  assert.equal(stored.k0.cooldownUntil, T0 + MIN);
  await pool.close();
});

test("a store that changes the snapshot before the file store writes it: the file holds what it changed", async () => {
  const path = join(dir(), "state.json");
  const inner = fileStore(path);
  let changes = 0;
  const store = {
    load: () => inner.load(),
    // Passes the pool's context on (its writer token too), as a wrapper would.
    update: (merge, context) =>
      inner.update((stored) => {
        const s = merge(stored);
        changes++;
        if (changes === 2) for (const rec of Object.values(s.profiles)) delete rec.lastUsed;
        if (changes === 3) s.savedBy = "wrapper";
        if (changes === 4) s.profiles = { only: { errorCount: 0 } };
        return s;
      }, context),
  };
  const pool = new Pool({ profiles: keys(2), storage: store, maxWaitMs: 0 });
  await pool.init();
  const write = async () => {
    await pool.run(() => 1);
    await pool.flush();
    return JSON.parse(readFileSync(path, "utf8"));
  };
  assert.ok((await write()).profiles.k0.lastUsed > 0);
  const second = await write();
  assert.equal(second.profiles.k0.lastUsed, undefined);
  assert.equal(second.profiles.k1.lastUsed, undefined);
  assert.equal((await write()).savedBy, "wrapper");
  assert.deepEqual((await write()).profiles, { only: { errorCount: 0 } });
  await pool.close();
});

test("a store that freezes or seals the snapshot it is given still reads it, and the pool's writes go on", async () => {
  for (const lock of [Object.freeze, Object.seal, Object.preventExtensions]) {
    const kept = [];
    const pool = new Pool({
      profiles: keys(2),
      storage: {
        load: () => null,
        save: (s) => {
          lock(s);
          kept.push(JSON.parse(JSON.stringify(s)));
          if (lock === Object.freeze) assert.throws(() => (s.profiles = {}), TypeError);
          else {
            s.profiles = { replaced: { errorCount: 0 } };
            kept.push(JSON.parse(JSON.stringify(s)));
          }
        },
      },
      maxWaitMs: 0,
    });
    await pool.init();
    pool.markFailure("k1", "rate_limit", { retryAfterMs: MIN });
    await pool.flush();
    pool.markFailure("k0", "rate_limit", { retryAfterMs: MIN });
    await pool.flush();
    await pool.close();
    assert.ok(kept[0].profiles.k1.cooldownUntil > Date.now(), lock.name);
    const last = lock === Object.freeze ? kept[kept.length - 1] : kept[kept.length - 2];
    assert.ok(last.profiles.k0.cooldownUntil > Date.now(), lock.name);
    if (lock !== Object.freeze) assert.deepEqual(kept[kept.length - 1].profiles, { replaced: { errorCount: 0 } }, lock.name);
  }
});
