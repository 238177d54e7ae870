// Persisted `run` (successes) through fileStore, side by side with key-carousel 1.1.0's
// `storagePath` when it is installed (devDependency key-carousel-v1), in one process; then
// loading and writing the state of 100,000 profiles.
// Usage: node bench/persist.mjs   (after `npm run build`)
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { persistedRuns } from "./persisted.mjs";

const dir = mkdtempSync(join(tmpdir(), "kc-bench-"));
const profiles = (n) => Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: "openai", apiKey: `sk-bench-${i}-0123456789` }));
const task = () => Promise.resolve(1);

/** v2 through fileStore (persisted.mjs's loop, 3 s), then one write on its own. */
async function v2() {
  const path = join(dir, "v2.json");
  const pool = new Pool({ profiles: profiles(3), storage: fileStore(path) });
  await pool.init();
  for (let i = 0; i < 2000; i++) await pool.run(task); // warm-up
  const r = await persistedRuns(pool, path, 3);
  // One write on its own: a success, then flush (read, merge and write under the lock).
  const WRITES = 50;
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < WRITES; i++) {
    await pool.run(task);
    await pool.flush();
  }
  const writeMs = Number(process.hrtime.bigint() - w0) / 1e6 / WRITES;
  await pool.close();
  return { ...r, writeMs };
}

/** v1 through storagePath, the same loop for 2 s, when it is installed. */
async function v1() {
  let mod;
  try {
    mod = createRequire(import.meta.url)("key-carousel-v1");
  } catch {
    return undefined;
  }
  const path = join(dir, "v1.json");
  const pool = new mod.LlmKeyPool({ profiles: profiles(3), storagePath: path });
  await pool.init();
  return persistedRuns(pool, path, 2);
}

const r2 = await v2();
const r1 = await v1();
const rows = [{ "": "key-carousel 2, fileStore", "µs per run": r2.us.toFixed(2), calls: r2.calls, "file writes": r2.writes }];
if (r1 !== undefined) rows.push({ "": "key-carousel 1.1.0, storagePath", "µs per run": r1.us.toFixed(1), calls: r1.calls, "file writes": `${r1.calls} (one a run)` });
console.log("persisted run (task resolves at once, 3 profiles), amortized over the calls including the writes:");
console.table(rows);
if (r1 !== undefined) console.log(`v1 / v2: ${(r1.us / r2.us).toFixed(0)}x`);
console.log(
  `bar: <= 20 µs per call: ${r2.us <= 20 ? "met" : "NOT met"} (at ${Math.round(r2.callsPerSecond / 1000)}k calls a second, one turn of the event loop per call)`,
);
console.log(
  `one v2 write (read, merge, write and fsync under the lock): ${r2.writeMs.toFixed(2)} ms of wall time, beside the calls ` +
    `(a success's write is not awaited by its run; at most one a second, so below ${Math.ceil((r2.writeMs * 1000) / 20)} calls a second ` +
    `it is more than 20 µs a call)` +
    (r1 !== undefined ? `; v1 writes inside every run (${(r1.us / 1000).toFixed(2)} ms a call)` : ""),
);

// 100,000 profiles: one write (merge with the file under the lock), then a restart's load.
const N = 100_000;
const path = join(dir, "big.json");
const big = new Pool({ profiles: profiles(N), storage: fileStore(path) });
await big.init();
for (let i = 0; i < N; i += 10) big.markFailure(`k${i}`, "rate_limit");
let t0 = process.hrtime.bigint();
await big.flush();
const first = Number(process.hrtime.bigint() - t0) / 1e6;
await big.run(task);
t0 = process.hrtime.bigint();
await big.flush();
const write = Number(process.hrtime.bigint() - t0) / 1e6;
await big.close();
const again = new Pool({ profiles: profiles(N), storage: fileStore(path) });
t0 = process.hrtime.bigint();
await again.init();
const load = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`\n${N.toLocaleString("en")} profiles (${(statSync(path).size / 1e6).toFixed(1)} MB file, ${again.getStatus().totalInCooldown.toLocaleString("en")} cooling):`);
console.table([
  { "": "first write (empty file)", ms: first.toFixed(0) },
  { "": "write (read + merge + write under the lock)", ms: write.toFixed(0) },
  { "": "load at start (read + parse + merge)", ms: load.toFixed(0) },
]);
rmSync(dir, { recursive: true, force: true });
