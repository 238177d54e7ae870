// What every bench script times with: the profiles, the task, tinybench's median of a
// batch of calls, and rounds in alternating order. Plain JavaScript and tinybench only, so
// bench/runtime.mjs runs it in Deno and Bun as bench.mjs does in Node.

import { Bench } from "tinybench";

/** `n` profiles: ids `key-<i>`, one in four Anthropic's, keys of 40-odd characters. */
export const profilesOf = (n) =>
  Array.from({ length: n }, (_, i) => ({
    id: `key-${i}`,
    provider: i % 4 === 0 ? "anthropic" : "openai",
    apiKey: `sk-bench-${i}-${"x".repeat(24)}`,
  }));

/** The task of a successful run: resolves at once. */
export const ok = () => Promise.resolve(1);

/** The middle value (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Calls per sample: enough that a sample takes well over the timer's resolution. v2's
 *  calls cost about the same at every size; v1's grow with the pool. */
export const V2_BATCH = 200;
export const v1BatchFor = (n) => (n >= 10_000 ? 1 : n >= 1000 ? 4 : 100);
/** getStatus is synchronous in both versions: the same batch for both. */
export const statusBatchFor = (n) => (n >= 10_000 ? 1 : n >= 1000 ? 20 : 200);

/** A timer of `time` ms per task (`quick`: a smoke run's shorter budget and one round). */
export function timer(quick) {
  const TIME = quick ? 60 : 250;
  const ROUNDS = quick ? 1 : 3;

  /** Median time of one call in µs: each sample runs `batch` calls. `sync`: the calls
   *  return no promise and are timed without `await` (for v1 and v2 alike). */
  async function measure(pairs, { sync = false } = {}) {
    const bench = new Bench({ time: TIME, warmupTime: Math.min(50, TIME / 4), iterations: 5 });
    for (const { name, fn, batch } of pairs) {
      bench.add(
        name,
        sync
          ? () => {
              for (let i = 0; i < batch; i++) fn();
            }
          : async () => {
              for (let i = 0; i < batch; i++) await fn();
            },
      );
    }
    await bench.run();
    const out = {};
    for (const task of bench.tasks) {
      const pair = pairs.find((p) => p.name === task.name);
      if (task.result.state !== "completed") throw task.result.error ?? new Error(`${task.name}: ${task.result.state}`);
      out[task.name] = (task.result.latency.p50 * 1000) / pair.batch;
    }
    return out;
  }

  /** `measure` ROUNDS times, the pairs in alternating order, and each one's median over the
   *  rounds: a machine that is slower for a while slows both versions alike, so the ratios of
   *  the rows with a target hold better from run to run. */
  async function measureRounds(pairs, opts) {
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await measure(r % 2 ? [...pairs].reverse() : pairs, opts));
    return Object.fromEntries(pairs.map(({ name }) => [name, median(runs.map((t) => t[name]))]));
  }

  return { measure, measureRounds };
}

/**
 * `run` and `getStatus` of v2's `Pool` and v1's `LlmKeyPool` at `n` profiles, side by side
 * (µs per call): `{ run: { v2, v1 }, status: { v2, v1 } }`, plus v2's pool (`pool`).
 */
export async function runAndStatus({ Pool, LlmKeyPool }, n, { measureRounds }) {
  const profiles = profilesOf(n);
  const v2 = new Pool({ profiles });
  const v1 = new LlmKeyPool({ profiles });
  const t = await measureRounds([
    { name: "v2 run", fn: () => v2.run(ok), batch: V2_BATCH },
    { name: "v1 run", fn: () => v1.run(ok), batch: v1BatchFor(n) },
  ]);
  const s = await measureRounds(
    [
      { name: "v2 status", fn: () => v2.getStatus(), batch: statusBatchFor(n) },
      { name: "v1 status", fn: () => v1.getStatus(), batch: statusBatchFor(n) },
    ],
    { sync: true },
  );
  return { run: { v2: t["v2 run"], v1: t["v1 run"] }, status: { v2: s["v2 status"], v1: s["v1 status"] }, pool: v2 };
}
