// One cold start, in this fresh process: import the package (v2: its wasm is compiled
// and instantiated at import), construct a pool of 3 keys. Prints the ms it took.
// Usage: node bench/cold-start.mjs v2|v1
const which = process.argv[2];
const profiles = [0, 1, 2].map((i) => ({ provider: "openai", apiKey: `sk-cold-${i}-${"x".repeat(24)}` }));
const t0 = performance.now();
if (which === "v2") {
  const { Pool } = await import("../pkg/index.mjs");
  new Pool({ profiles });
} else {
  const { LlmKeyPool } = await import("key-carousel-v1");
  new LlmKeyPool({ profiles });
}
console.log(performance.now() - t0);
