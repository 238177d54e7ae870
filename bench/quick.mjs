// A quick figure, not the full benchmark: time of one successful `run` (task resolves at
// once) and of `getStatus()` at several pool sizes, in this process. Prints a table.
// Usage: node bench/quick.mjs   (after `npm run build`)
import { Pool } from "../pkg/index.mjs";

async function timeRun(pool, iterations) {
  const task = () => Promise.resolve(1);
  for (let i = 0; i < 2000; i++) await pool.run(task); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await pool.run(task);
  return Number(process.hrtime.bigint() - t0) / iterations / 1000;
}

function timeStatus(pool, iterations) {
  for (let i = 0; i < 5; i++) pool.getStatus();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) pool.getStatus();
  return Number(process.hrtime.bigint() - t0) / iterations / 1000;
}

const rows = [];
for (const n of [3, 100, 1000, 10000, 100000]) {
  const t0 = process.hrtime.bigint();
  const pool = new Pool({
    profiles: Array.from({ length: n }, (_, i) => ({ id: `k${i}`, provider: i % 2 ? "openai" : "anthropic", apiKey: `sk-${i}-xxxxxxxx` })),
  });
  const build = Number(process.hrtime.bigint() - t0) / 1e6;
  const run = await timeRun(pool, 50_000);
  const status = timeStatus(pool, n >= 10000 ? 20 : 500);
  rows.push({ profiles: n, "new Pool (ms)": build.toFixed(1), "run (µs)": run.toFixed(3), "getStatus (µs)": status.toFixed(1) });
}
console.table(rows);
