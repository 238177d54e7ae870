// Runs the Deno tests (tests/deno/) in Deno, from the npm devDependency `deno`: Deno.openKv
// on temp files, two handles and two Deno processes writing one KV file, bad values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("denoKvStore in Deno (deno test tests/deno/)", (t) => {
  const deno = join(root, "node_modules", ".bin", "deno");
  const r = spawnSync(deno, ["test", "--unstable-kv", "--allow-read", "--allow-write", "--allow-env", "--allow-run", "--allow-net=127.0.0.1", "tests/deno/"], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  assert.ifError(r.error); // deno missing: `npm ci` installs it
  const out = `${r.stdout}\n${r.stderr}`;
  for (const line of out.split("\n").filter((l) => / \.\.\. (ok|FAILED)/.test(l))) t.diagnostic(line);
  assert.equal(r.status, 0, out);
  const summary = /ok \| (\d+) passed \| 0 failed/.exec(out);
  assert.ok(summary && Number(summary[1]) >= 6, `expected the Deno tests to pass:\n${out}`);
});

test("denoKvStore's types accept Deno's own Deno.Kv (deno check)", () => {
  const deno = join(root, "node_modules", ".bin", "deno");
  const r = spawnSync(deno, ["check", "--unstable-kv", "tests/deno/kv-types.ts"], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  assert.ifError(r.error);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
});

test("denoKvStore writes through a Deno KV whose entries carry only what DenoKvLike declares, value and versionstamp (was: its check got no key, and every write after the first conflicted)", async () => {
  const { Pool, denoKvStore } = await import("key-carousel");
  // A wrapper (or fake) of Deno.Kv: get answers { value, versionstamp }, as typed.
  let stored = { value: null, versionstamp: null };
  let version = 0;
  const kv = {
    get: async () => ({ ...stored }),
    set: async (key, value) => {
      stored = { value, versionstamp: String(++version) };
      return { ok: true, versionstamp: stored.versionstamp };
    },
    atomic() {
      const checks = [];
      let write;
      const op = {
        check: (entry) => (checks.push(entry), op),
        set: (key, value) => ((write = { key, value }), op),
        commit: async () => {
          // Deno refuses a check without a key; a stale versionstamp is a conflict.
          if (checks.some((c) => !Array.isArray(c.key))) throw new TypeError("check: key must be an array");
          if (checks.some((c) => c.versionstamp !== stored.versionstamp)) return { ok: false };
          stored = { value: write.value, versionstamp: String(++version) };
          return { ok: true, versionstamp: stored.versionstamp };
        },
      };
      return op;
    },
  };
  const pool = new Pool({ profiles: [{ id: "a", provider: "openai", apiKey: "sk-kv-aaaaaaaaaaaaaaaa" }, { id: "b", provider: "openai", apiKey: "sk-kv-bbbbbbbbbbbbbbbb" }], storage: denoKvStore(kv) });
  await pool.init();
  pool.markFailure("a", "rate_limit");
  await pool.flush();
  pool.markFailure("b", "rate_limit");
  await pool.flush();
  assert.equal(version, 2);
  assert.deepEqual(Object.keys(JSON.parse(stored.value).profiles).sort(), ["a", "b"]);
  await pool.close();
});

test("denoKvStore's key cannot be changed from outside: neither the array passed in nor store.key moves where it writes (was: store.key was the live key, its name kept the old one)", async () => {
  const { denoKvStore } = await import("key-carousel");
  const seen = [];
  const kv = { get: async (key) => (seen.push(JSON.stringify(key)), { value: null, versionstamp: null }), set: async () => ({ ok: true }), atomic() {} };
  const parts = ["app", "keys"];
  const store = denoKvStore(kv, { key: parts });
  parts.push("caller");
  assert.throws(() => store.key.push("oops"), TypeError);
  await store.load();
  assert.deepEqual(seen, ['["app","keys"]']);
  assert.equal(store.name, 'Deno KV key ["app", "keys"]');
});

test("denoKvStore: stored bytes that are not gzip are a bad value, copied aside as they are; a compressed state is read back", async () => {
  const { Pool, denoKvStore } = await import("key-carousel");
  const { gzipSync } = await import("node:zlib");
  const data = new Map();
  let version = 0;
  const kv = {
    get: async (key) => ({ key, value: data.get(JSON.stringify(key)) ?? null, versionstamp: data.has(JSON.stringify(key)) ? String(version) : null }),
    set: async (key, value) => (data.set(JSON.stringify(key), value), { ok: true }),
    atomic() {
      let write;
      const op = { check: () => op, set: (key, value) => ((write = { key, value }), op), commit: async () => (data.set(JSON.stringify(write.key), write.value), version++, { ok: true }) };
      return op;
    },
  };
  const bad = new Uint8Array([1, 2, 3]);
  data.set('["key-carousel"]', bad);
  const warnings = [];
  const profiles = [{ id: "a", provider: "openai", apiKey: "sk-kv-aaaaaaaaaaaaaaaa" }];
  const pool = new Pool({ profiles, storage: denoKvStore(kv), logger: { warn: (m) => warnings.push(m), error() {}, info() {} } });
  await pool.init();
  pool.markFailure("a", "rate_limit");
  await pool.flush();
  const sides = [...data.keys()].filter((k) => k.startsWith('["key-carousel","corrupt",'));
  assert.equal(sides.length, 1, [...data.keys()].join(" "));
  assert.deepEqual(data.get(sides[0]), bad);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /is unusable \(3 bytes, not JSON text/);
  await pool.close();
  // gzip whose content is not UTF-8 text: kept as the bytes they are too.
  const notText = new Uint8Array(gzipSync(Buffer.from([0xff, 0xfe, 0x41])));
  data.clear();
  data.set('["key-carousel"]', notText);
  const third = new Pool({ profiles, storage: denoKvStore(kv), logger: { warn() {}, error() {}, info() {} } });
  await third.init();
  third.markFailure("a", "rate_limit");
  await third.flush();
  const kept = [...data.keys()].filter((k) => k.startsWith('["key-carousel","corrupt",'));
  assert.deepEqual(data.get(kept[0]), notText);
  await third.close();
  // A state stored compressed (as a bigger one is) is read as its text.
  const state = { version: 1, profiles: { a: { errorCount: 1, lastFailure: Date.now(), cooldownUntil: Date.now() + 60_000, lastFailureReason: "rate_limit", updatedAt: Date.now() } } };
  data.set('["key-carousel"]', new Uint8Array(gzipSync(JSON.stringify(state))));
  const again = new Pool({ profiles, storage: denoKvStore(kv) });
  await again.init();
  assert.equal(again.getStatus().profiles[0].state, "cooldown");
  await again.close();
});
