// One cold start, in this fresh process: load the package by its name (through its
// exports map, as a user's project does; v2's wasm is compiled and instantiated at load),
// construct a pool of 3 keys. Prints the ms it took.
// Usage: node bench/cold-start.mjs v2|v1 [import|require] [phases]
//   v2 import on Node with require(esm) loads index.mjs; with --no-experimental-require-module
//   (how Node 18 and 20.18 resolve it) index.legacy.mjs, which re-exports index.cjs.
//   phases  (import only) prints JSON instead: the ms to resolve the name (Node's resolver,
//           package.json's exports map), to load what it resolved to (JS parsed and run; v2's
//           wasm read, compiled and instantiated), and of the first `new Pool` (the JS and
//           wasm functions it calls compiled at their first call).
//        node --experimental-vm-modules bench/cold-start.mjs v2|v1 parse
//   prints JSON: the bytes of the file `import` resolves the name to, and the ms V8 takes to
//   compile that ES module's source (parsed, not linked or run), in this fresh process.
//        node bench/cold-start.mjs wasm
//   prints JSON: the ms to read v2's .wasm, compile it and instantiate it, alone (its
//   imports stubbed), in this fresh process.
import { createRequire } from "node:module";

const [which, how = "import", mode] = process.argv.slice(2);
if (which === "wasm") {
  const t0 = performance.now();
  // As v2's Node entry gets it: not through `import`, which builds an ES facade of node:fs.
  const { readFileSync } = process.getBuiltinModule?.("node:fs") ?? createRequire(import.meta.url)("node:fs");
  const bytes = readFileSync(new URL("../pkg/key_carousel_bg.wasm", import.meta.url));
  const t1 = performance.now();
  const module = new WebAssembly.Module(bytes);
  const t2 = performance.now();
  const imports = {};
  for (const i of WebAssembly.Module.imports(module)) (imports[i.module] ??= {})[i.name] = () => {};
  const t3 = performance.now();
  new WebAssembly.Instance(module, imports);
  const t4 = performance.now();
  console.log(JSON.stringify({ read: t1 - t0, compile: t2 - t1, instantiate: t4 - t3 }));
  process.exit(0);
}
const name = which === "v2" ? "key-carousel" : "key-carousel-v1";
if (how === "parse") {
  const { readFileSync } = createRequire(import.meta.url)("node:fs");
  const vm = createRequire(import.meta.url)("node:vm");
  const source = readFileSync(new URL(import.meta.resolve(name)), "utf8");
  new vm.SourceTextModule("export const warm = 1;"); // the vm module path's own first use
  const t0 = performance.now();
  new vm.SourceTextModule(source);
  const t1 = performance.now();
  console.log(JSON.stringify({ bytes: Buffer.byteLength(source), parse: t1 - t0 }));
  process.exit(0);
}
const profiles = [0, 1, 2].map((i) => ({ provider: "openai", apiKey: `sk-cold-${i}-${"x".repeat(24)}` }));
const construct = (lib) => (which === "v2" ? new lib.Pool({ profiles }) : new lib.LlmKeyPool({ profiles }));
if (mode === "phases") {
  const t0 = performance.now();
  const url = import.meta.resolve(name);
  const t1 = performance.now();
  const lib = await import(url);
  const t2 = performance.now();
  construct(lib);
  const t3 = performance.now();
  console.log(JSON.stringify({ resolve: t1 - t0, load: t2 - t1, construct: t3 - t2 }));
} else {
  const require = how === "require" ? createRequire(import.meta.url) : undefined;
  const t0 = performance.now();
  const lib = how === "require" ? require(name) : await import(name);
  construct(lib);
  console.log(performance.now() - t0);
}
