// Persisted runs timed as an app makes them: shared by bench.mjs (the table's row) and
// persist.mjs. Each call gives the event loop a turn, as a real call waiting on the network
// does, so a store's timed (coalesced) write runs between calls; a loop that never yields
// would never write, and would time a run with no persistence at all. The loop runs at least
// `seconds`, ends with flush() (the figure includes writing what the calls changed), and
// counts the writes that reached the file (its mtime changed), looking every 50 calls: at
// most one a look, which counts every write of a store that writes at most once a second
// (not of v1, which writes on every run).
import { statSync } from "node:fs";

const turn = () => new Promise((resolve) => setImmediate(resolve));

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

/**
 * @param {{ run(task: () => Promise<unknown>): Promise<unknown>, flush?(): Promise<void> }} pool
 *   a v2 Pool or a v1 LlmKeyPool, already initialised, persisting to `path`
 * @returns {Promise<{ us: number, calls: number, writes: number, callsPerSecond: number }>}
 */
export async function persistedRuns(pool, path, seconds) {
  const task = () => Promise.resolve(1);
  for (let i = 0; i < 100; i++) await pool.run(task); // warm-up
  await pool.flush?.();
  let writes = 0;
  let last = mtime(path);
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 50; i++) {
      await pool.run(task);
      await turn();
    }
    calls += 50;
    const m = mtime(path);
    if (m !== last) (last = m), writes++;
  }
  await pool.flush?.();
  const ms = performance.now() - t0;
  if (mtime(path) !== last) writes++;
  return { us: (ms * 1000) / calls, calls, writes, callsPerSecond: calls / (ms / 1000) };
}
