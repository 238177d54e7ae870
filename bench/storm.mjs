// A failure storm on a persisted pool, as a service sees it: WORKERS calls at a time, each
// answering after CALL_MS, one in FAIL_ONE_IN failing with a 429 (the run then tries another
// key). Measures how busy the event loop is (the share of the time it ran code, Node's
// eventLoopUtilization), how late a timer of the service's fires at the 99th percentile
// (monitorEventLoopDelay), and the wall time per finished run. Shared by bench.mjs.
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

const WORKERS = 50;
const CALL_MS = 5;
const FAIL_ONE_IN = 5;

const rateLimited = () => Object.assign(new Error("429 Too Many Requests"), { status: 429 });

/**
 * @param {{ run(task: () => Promise<unknown>): Promise<unknown>, flush?(): Promise<void> }} pool
 * @param {number} seconds
 * @returns {Promise<{ busy: number, delayP99Ms: number, usPerRun: number, runs: number, failures: number }>}
 */
export async function storm(pool, seconds) {
  let runs = 0;
  let failures = 0;
  let stop = false;
  // Which calls fail: a fixed pseudo-random sequence (xorshift32), the same in every
  // measurement. (Every fifth call would fail the same worker every time: the workers'
  // calls come in rounds of 50.)
  let x = 2463534242;
  const fails = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % FAIL_ONE_IN === 0;
  };
  const task = () =>
    new Promise((resolve, reject) =>
      setTimeout(() => {
        if (fails()) {
          failures++;
          reject(rateLimited());
        } else resolve(1);
      }, CALL_MS),
    );
  const worker = async () => {
    while (!stop) {
      await pool.run(task);
      runs++;
    }
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const workers = Array.from({ length: WORKERS }, worker);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stop = true;
  await Promise.all(workers);
  const ms = performance.now() - t0;
  const busy = performance.eventLoopUtilization(elu0).utilization;
  delay.disable();
  await pool.flush?.();
  return { busy, delayP99Ms: delay.percentile(99) / 1e6, usPerRun: (ms * 1000) / runs, runs, failures };
}
