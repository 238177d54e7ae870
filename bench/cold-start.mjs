// One cold start, in this fresh process: load the package by its name (through its
// exports map, as a user's project does; v2's wasm is compiled and instantiated at load),
// construct a pool of 3 keys. Prints the ms it took.
// Usage: node bench/cold-start.mjs v2|v1 [import|require]
//   v2 import on Node with require(esm) loads index.mjs; with --no-experimental-require-module
//   (how Node 18 and 20.18 resolve it) index.legacy.mjs, which re-exports index.cjs.
import { createRequire } from "node:module";

const [which, how = "import"] = process.argv.slice(2);
const name = which === "v2" ? "key-carousel" : "key-carousel-v1";
const profiles = [0, 1, 2].map((i) => ({ provider: "openai", apiKey: `sk-cold-${i}-${"x".repeat(24)}` }));
const require = how === "require" ? createRequire(import.meta.url) : undefined;
const t0 = performance.now();
const lib = how === "require" ? require(name) : await import(name);
if (which === "v2") new lib.Pool({ profiles });
else new lib.LlmKeyPool({ profiles });
console.log(performance.now() - t0);
