// A Deno process for tests/deno/kv.test.mjs: deno run kv-child.mjs <kv path> <start ms> <ids...>
// Opens the KV file, waits for the common start time, marks each given key failed, writes,
// and prints the errors it logged as one JSON line.
import { Pool, denoKvStore } from "../../pkg/index.mjs";

const [path, start, ...ids] = Deno.args;
// Two processes creating the same new KV file at once: SQLite may answer "database is
// locked" to one of them (Deno.openKv itself, before any store is involved); open again.
async function open() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await Deno.openKv(path);
    } catch (e) {
      if (!/database is locked/.test(e?.message) || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
    }
  }
}
const kv = await open();
const errors = [];
const profiles = Array.from({ length: 8 }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `sk-deno-${i}-0123456789abcdef` }));
const pool = new Pool({ profiles, storage: denoKvStore(kv), logger: { error: (m) => errors.push(m) } });
await pool.init();
await new Promise((r) => setTimeout(r, Math.max(0, Number(start) - Date.now())));
for (const id of ids) {
  pool.markFailure(id, "rate_limit");
  await new Promise((r) => setTimeout(r, 0)); // each failure is its own write
}
await pool.close();
kv.close();
console.log(JSON.stringify({ errors }));
