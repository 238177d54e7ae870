// Construction time and memory of one pool of N profiles, in this fresh process (run
// with --expose-gc). Prints JSON: constructMs, bytesPerProfile (heap + external, which
// includes the wasm memory), wasmBytesPerProfile (v2 only: growth of the wasm memory).
// Usage: node --expose-gc bench/memory.mjs v2|v1 100000
const [which, count] = [process.argv[2], Number(process.argv[3] ?? 100000)];
const mod = which === "v2" ? await import("key-carousel") : await import("key-carousel-v1");
const Ctor = which === "v2" ? mod.Pool : mod.LlmKeyPool;
// Warm the constructor on a small pool so the figure is the pool's, not the JIT's.
new Ctor({ profiles: [{ id: "w", provider: "p", apiKey: "sk-warm-up-key" }] });
const profiles = Array.from({ length: count }, (_, i) => ({
  id: `key-${i}`,
  provider: i % 4 === 0 ? "anthropic" : "openai",
  apiKey: `sk-bench-${i}-${"x".repeat(24)}`,
}));
globalThis.gc();
const before = process.memoryUsage();
const t0 = performance.now();
const pool = new Ctor({ profiles });
const constructMs = performance.now() - t0;
globalThis.gc();
const after = process.memoryUsage();
const heap = after.heapUsed - before.heapUsed;
const external = after.external - before.external;
console.log(
  JSON.stringify({
    constructMs,
    bytesPerProfile: (heap + external) / count,
    wasmBytesPerProfile: which === "v2" ? external / count : undefined,
    size: pool.getStatus().profiles.length,
  }),
);
