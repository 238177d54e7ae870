// The side-by-side rows of bench.mjs in another runtime (Deno, Bun), in this process.
// Usage: deno run -A bench/runtime.mjs calls [--quick]   |   bun bench/runtime.mjs calls [--quick]
//   calls  prints JSON: { runtime, sizes: [{ n, run: { v2, v1 }, status: { v2, v1 } }] },
//          µs per call, as bench.mjs measures them in Node (bench/measure.mjs).
//        deno run -A bench/runtime.mjs cold v2|v1   |   bun bench/runtime.mjs cold v2|v1
//   cold   prints the ms of one cold start in this fresh process: the package imported by
//          its name (the runtime's own export condition), then a pool of 3 keys.
import { runAndStatus, timer } from "./measure.mjs";

const args = globalThis.Deno ? globalThis.Deno.args : globalThis.process.argv.slice(2);
const [mode, which] = args;
const runtime = globalThis.Bun ? `Bun ${globalThis.Bun.version}` : globalThis.Deno ? `Deno ${globalThis.Deno.version.deno}` : `Node ${globalThis.process.version}`;

if (mode === "cold") {
  const profiles = [0, 1, 2].map((i) => ({ provider: "openai", apiKey: `sk-cold-${i}-${"x".repeat(24)}` }));
  const t0 = performance.now();
  if (which === "v2") new (await import("key-carousel")).Pool({ profiles });
  else new (await import("key-carousel-v1")).LlmKeyPool({ profiles });
  console.log(performance.now() - t0);
} else if (mode === "calls") {
  const quick = args.includes("--quick");
  const libs = { ...(await import("key-carousel")), ...(await import("key-carousel-v1")) };
  const t = timer(quick);
  const sizes = [];
  for (const n of quick ? [3, 1000] : [3, 100, 1000, 10_000]) {
    const { run, status } = await runAndStatus(libs, n, t);
    sizes.push({ n, run, status });
  }
  console.log(JSON.stringify({ runtime, sizes }));
} else {
  throw new Error("usage: bench/runtime.mjs calls [--quick] | cold v2|v1");
}
