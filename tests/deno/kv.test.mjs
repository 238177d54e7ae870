// denoKvStore in Deno with Deno.openKv on a temp file: run by tests/node/deno-kv.test.mjs as
// `deno test --unstable-kv --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1 tests/deno/`.
// The package is the built one (pkg/), loaded through Deno's Node compatibility.
import { Pool, denoKvStore } from "../../pkg/index.mjs";

const KEY = ["key-carousel"];
const keys = (n) => Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `sk-deno-${i}-0123456789abcdef` }));

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
function assertEquals(actual, expected, msg = "") {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg}\n  actual:   ${a}\n  expected: ${e}`);
}

async function tempKv() {
  const dir = await Deno.makeTempDir({ prefix: "kc-denokv-" });
  return { path: `${dir}/kv.sqlite`, dir };
}

async function stored(kv, key = KEY) {
  const v = (await kv.get(key)).value;
  return v === null ? null : JSON.parse(v);
}

const coolingIn = (state, now = Date.now()) =>
  Object.entries(state.profiles)
    .filter(([, r]) => r.cooldownUntil > now)
    .map(([id]) => id)
    .sort();

function capture() {
  const c = { warn: [], error: [] };
  c.logger = { warn: (m) => c.warn.push(m), error: (m) => c.error.push(m) };
  return c;
}

Deno.test("a failure reaches Deno KV; a pool on another handle of the file loads it and avoids the key", async () => {
  const { path, dir } = await tempKv();
  const kv1 = await Deno.openKv(path);
  const kv2 = await Deno.openKv(path);
  try {
    const a = new Pool({ profiles: keys(3), storage: denoKvStore(kv1) });
    await a.init();
    a.markFailure("k0", "rate_limit");
    await a.flush();
    const state = await stored(kv2);
    assertEquals(coolingIn(state), ["k0"]);
    assertEquals(state.profiles.k0.lastFailureReason, "rate_limit");

    const b = new Pool({ profiles: keys(3), storage: denoKvStore(kv2) });
    await b.init();
    assertEquals(b.getStatus().profiles[0].state, "cooldown");
    const picks = [];
    for (let i = 0; i < 4; i++) picks.push((await b.run(({ profileId }) => profileId)).value);
    assert(!picks.includes("k0"), `picked ${picks}`);
    await a.close();
    await b.close();
    let threw = false;
    try {
      denoKvStore({ get() {} });
    } catch (e) {
      threw = /Deno\.Kv/.test(e.message);
    }
    assert(threw, "a non-KV is refused");
  } finally {
    kv1.close();
    kv2.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a write that loses the check-and-set to another writer reads again and merges: nothing is lost", async () => {
  const { path, dir } = await tempKv();
  const kvA = await Deno.openKv(path);
  const kvB = await Deno.openKv(path);
  try {
    const b = new Pool({ profiles: keys(3), storage: denoKvStore(kvB) });
    await b.init();
    // A's first commit: B writes between A's read and A's commit.
    let commits = 0;
    const racing = {
      get: (k) => kvA.get(k),
      set: (k, v) => kvA.set(k, v),
      atomic() {
        const op = kvA.atomic();
        return {
          check(e) {
            op.check(e);
            return this;
          },
          set(k, v) {
            op.set(k, v);
            return this;
          },
          async commit() {
            commits++;
            if (commits === 1) {
              b.markFailure("k1", "rate_limit");
              await b.flush();
            }
            return op.commit();
          },
        };
      },
    };
    const a = new Pool({ profiles: keys(3), storage: denoKvStore(racing) });
    await a.init();
    a.markFailure("k0", "rate_limit");
    await a.flush();
    assertEquals(commits, 2, "A's first commit failed its check, the second succeeded");
    assertEquals(coolingIn(await stored(kvA)), ["k0", "k1"]);
    assert(a.isInCooldown("k1"), "A learned B's cooldown from the merge");
    await a.close();
    await b.close();
  } finally {
    kvA.close();
    kvB.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two writers on one KV file at once, 40 failures each on different keys: all are stored", async () => {
  const { path, dir } = await tempKv();
  const kvs = [await Deno.openKv(path), await Deno.openKv(path)];
  try {
    const pools = kvs.map((kv) => new Pool({ profiles: keys(8), storage: denoKvStore(kv), saveIntervalMs: 5 }));
    await Promise.all(pools.map((p) => p.init()));
    const lastFailure = {};
    await Promise.all(
      pools.map(async (pool, w) => {
        for (let n = 0; n < 40; n++) {
          const id = `k${w * 4 + (n % 4)}`; // writer 0: k0..k3, writer 1: k4..k7
          lastFailure[id] = Date.now(); // the pool's own time of the failure is this or later
          pool.markFailure(id, "rate_limit");
          await new Promise((r) => setTimeout(r, n % 3));
        }
        await pool.flush();
      }),
    );
    const state = await stored(kvs[0]);
    for (const [id, at] of Object.entries(lastFailure)) {
      assert(state.profiles[id].lastFailure >= at, `${id}: last failure at ${at} stored (${state.profiles[id].lastFailure})`);
      assertEquals(state.profiles[id].errorCount, 10, `${id}'s error count`);
    }
    await Promise.all(pools.map((p) => p.close()));
  } finally {
    for (const kv of kvs) kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two Deno processes on one KV file, started together, 4 failures each: the file holds all 8 cooldowns", async () => {
  const { path, dir } = await tempKv();
  try {
    const child = new URL("./kv-child.mjs", import.meta.url).pathname;
    const start = Date.now() + 1500;
    const procs = [["k0", "k1", "k2", "k3"], ["k4", "k5", "k6", "k7"]].map((ids) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--unstable-kv", "--allow-read", "--allow-write", "--allow-env", child, path, String(start), ...ids],
        stdout: "piped",
        stderr: "piped",
      }).output(),
    );
    for (const out of await Promise.all(procs)) {
      const text = new TextDecoder().decode(out.stdout);
      assert(out.code === 0, `child failed: ${new TextDecoder().decode(out.stderr)}`);
      assertEquals(JSON.parse(text.trim().split("\n").pop()).errors, []);
    }
    const kv = await Deno.openKv(path);
    try {
      assertEquals(coolingIn(await stored(kv)), ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad value: the pool starts fresh, warns once, and keeps it under [...key, \"corrupt\", <time>]", async () => {
  const { path, dir } = await tempKv();
  const kv = await Deno.openKv(path);
  try {
    const key = ["app", "llm-keys"];
    await kv.set(key, "{not json");
    const log = capture();
    const t0 = Date.now();
    const pool = new Pool({ profiles: keys(2), storage: denoKvStore(kv, { key }), logger: log.logger });
    await pool.init();
    assertEquals(log.warn.length, 1, log.warn.join("\n"));
    assert(/Deno KV key \["app", "llm-keys"\] is unusable \(not valid JSON/.test(log.warn[0]), log.warn[0]);
    const copies = [];
    for await (const e of kv.list({ prefix: [...key, "corrupt"] })) copies.push(e);
    assertEquals(copies.length, 1);
    assertEquals(copies[0].value, "{not json");
    const time = copies[0].key[3];
    assert(time >= t0 && time <= Date.now(), `the copy's time ${time}`);
    assert(log.warn[0].endsWith(`a copy is kept at ["app", "llm-keys", "corrupt", ${time}]`), log.warn[0]);
    assertEquals((await pool.run(({ profileId }) => profileId)).value, "k0");
    pool.markFailure("k1", "rate_limit");
    await pool.flush();
    assertEquals(coolingIn(await stored(kv, key)), ["k1"]);
    assertEquals(log.warn.length, 1);
    await pool.close();
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a state over 30,000 characters is stored gzip-compressed (was: over 64 KiB, about 300 profiles, it failed to save) and another handle's pool loads it; one too large even so fails, is logged, and runs go on", async () => {
  const { path, dir } = await tempKv();
  const kv = await Deno.openKv(path);
  const kv2 = await Deno.openKv(path);
  try {
    const log = capture();
    const many = Array.from({ length: 1000 }, (_, i) => ({ id: `profile-${i}`, provider: "openai", apiKey: `sk-deno-${i}-0123456789abcdef` }));
    const pool = new Pool({ profiles: many, storage: denoKvStore(kv), logger: log.logger });
    await pool.init();
    for (let i = 0; i < 1000; i += 2) pool.markFailure(`profile-${i}`, "rate_limit");
    await pool.flush();
    assertEquals(log.error, []);
    const value = (await kv.get(KEY)).value;
    assert(value instanceof Uint8Array && value.length < 65536, `stored ${value?.constructor?.name} of ${value?.length}`);
    const other = new Pool({ profiles: many, storage: denoKvStore(kv2) });
    await other.init();
    assertEquals(other.getStatus().totalInCooldown, 500);
    await other.close();
    await pool.close();
    // 20,000 profiles with random ids that have all failed, resting for random times: more
    // than 64 KiB even compressed.
    const huge = Array.from({ length: 20000 }, (_, i) => ({ id: crypto.randomUUID(), provider: "openai", apiKey: `sk-deno-${i}-0123456789abcdef` }));
    const big = new Pool({ profiles: huge, storage: denoKvStore(kv, { key: ["huge"] }), logger: log.logger });
    await big.init();
    for (const { id } of huge) big.markFailure(id, "rate_limit", { retryAfterMs: 1000 + Math.floor(Math.random() * 3_000_000) });
    await big.flush().catch(() => {});
    assert(/saving state to Deno KV key \["huge"\] failed .*Value too large/.test(log.error.join("\n")), log.error.join("\n"));
    assertEquals((await big.run(({ profileId }) => profileId, { maxWaitMs: 0 }).catch((e) => e.name)), "AllProfilesExhaustedError");
    await big.close().catch(() => {});
  } finally {
    kv.close();
    kv2.close();
    await Deno.remove(dir, { recursive: true });
  }
});
