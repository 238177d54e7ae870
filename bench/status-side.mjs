// getStatus side by side: key-carousel 2 (Pool, and LlmKeyPool, its v1 API) against
// key-carousel 1.1.0, in one process, alternating, several rounds; prints medians and
// ratios. Quicker and steadier than `npm run bench` for this one comparison. The calls are
// synchronous and timed without `await` (v1 and v2 alike).
//
// Usage: node bench/status-side.mjs [--rounds N] [--sizes 3,100,...] [--used] [--inline] [--pkg DIR]
//   --used      every profile has been used once (run, or markSuccess above 10,000
//               profiles) and every tenth has then failed, instead of fresh pools
//   --inline    one timing loop per variant, so V8 may inline getStatus into it; by default
//               one loop times every variant and calls getStatus as `npm run bench` does
//   --pkg DIR   time another build of key-carousel 2 (DIR/index.mjs; default pkg/), e.g. the
//               last commit's: before/after ratios come from two runs. Not two builds in one
//               process: their status objects have the same keys in the same order, so they
//               share V8's hidden classes, and one build's field types can slow the other's.
//   SAMPLE_MS   (environment) time per sample, default 50
//
// Each variant is timed in samples of about SAMPLE_MS; the table shows the median over the
// samples of the mean time per call (so it includes the garbage collections the calls
// cause). From 10,000 profiles each call is also timed alone: "p50" is the median call,
// which is what `npm run bench` (tinybench, one call a sample there) reports.

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { LlmKeyPool } from "key-carousel-v1";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "15" },
    sizes: { type: "string", default: "3,100,1000,10000,100000" },
    used: { type: "boolean", default: false },
    inline: { type: "boolean", default: false },
    pkg: { type: "string" },
  },
});
const ROUNDS = Number(args.rounds);
const SIZES = args.sizes.split(",").map(Number);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 50);
const pkg = resolve(args.pkg ?? new URL("../pkg", import.meta.url).pathname);
const { Pool, LlmKeyPool: CompatPool } = await import(pathToFileURL(resolve(pkg, "index.mjs")).href);

const profilesOf = (n) =>
  Array.from({ length: n }, (_, i) => ({
    id: `key-${i}`,
    provider: i % 4 === 0 ? "anthropic" : "openai",
    apiKey: `sk-bench-${i}-${"x".repeat(24)}`,
  }));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hr = process.hrtime.bigint;

/** A timing loop: µs per call over `batch` calls; with `each`, every call's µs pushed there. */
const makeLoop = () =>
  new Function(
    "f",
    "batch",
    "hr",
    "each",
    `let s = 0;
    if (each !== undefined) {
      for (let i = 0; i < batch; i++) {
        const t = hr();
        s += f().profiles.length;
        each.push(Number(hr() - t) / 1000);
      }
    }
    const t0 = hr();
    if (each === undefined) for (let i = 0; i < batch; i++) s += f().profiles.length;
    const t = Number(hr() - t0) / 1000 / batch;
    return s >= 0 ? t : 0;`,
  );
const shared = makeLoop();

async function use(pool, n) {
  for (let i = 0; i < n; i++) {
    if (n <= 10_000) await pool.run(async () => 1);
    else await pool.markSuccess(`key-${i}`);
  }
  for (let i = 0; i < n; i += 10) await pool.markFailure(`key-${i}`, "server_error");
}

const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(us < 10 ? 3 : 1)} µs`);
const rows = [];
for (const n of SIZES) {
  const profiles = profilesOf(n);
  const pools = { v2: new Pool({ profiles }), compat: new CompatPool({ profiles }), v1: new LlmKeyPool({ profiles }) };
  if (args.used) for (const p of Object.values(pools)) await use(p, n);
  const keys = Object.keys(pools);
  // A call site of its own for each variant (as `() => v2.getStatus()` in bench.mjs): one
  // shared `pools[k].getStatus()` would be megamorphic, and its lookups part of the time.
  const fns = Object.fromEntries(keys.map((k) => [k, new Function("p", "return () => p.getStatus();")(pools[k])]));
  const loops = Object.fromEntries(keys.map((k) => [k, args.inline ? makeLoop() : shared]));
  const timed = n >= 10_000;
  // Warm up each, then size the batch to about SAMPLE_MS of its own work.
  const batch = {};
  for (const k of keys) {
    for (let t = performance.now(); performance.now() - t < 100; ) loops[k](fns[k], 1, hr);
    const per = loops[k](fns[k], Math.max(1, Math.round(200_000 / n)), hr);
    batch[k] = Math.max(1, Math.round((SAMPLE_MS * 1000) / Math.max(per, 0.01)));
  }
  const means = Object.fromEntries(keys.map((k) => [k, []]));
  const calls = Object.fromEntries(keys.map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of r % 2 ? [...keys].reverse() : keys) {
      if (timed) {
        const each = [];
        loops[k](fns[k], batch[k], hr, each);
        means[k].push(each.reduce((a, b) => a + b) / each.length);
        calls[k].push(...each);
      } else {
        means[k].push(loops[k](fns[k], batch[k], hr));
      }
    }
  }
  const m = Object.fromEntries(keys.map((k) => [k, median(means[k])]));
  const row = { profiles: n.toLocaleString("en") };
  Object.assign(row, { "v2 Pool": fmt(m.v2), "v2 LlmKeyPool": fmt(m.compat), v1: fmt(m.v1) });
  Object.assign(row, { "Pool/v1": (m.v2 / m.v1).toFixed(2), "LlmKeyPool/v1": (m.compat / m.v1).toFixed(2) });
  if (timed) {
    const p = Object.fromEntries(keys.map((k) => [k, median(calls[k])]));
    row["p50 Pool/v1"] = (p.v2 / p.v1).toFixed(2);
    row["p50 LlmKeyPool/v1"] = (p.compat / p.v1).toFixed(2);
  }
  rows.push(row);
}
console.log(
  `getStatus (${pkg}), ${args.used ? "used" : "fresh"} pools, ${args.inline ? "a timing loop per variant" : "one timing loop"}, ` +
    `median of ${ROUNDS} rounds (about ${SAMPLE_MS} ms a sample)`,
);
console.table(rows);
