// Construction time and memory of one pool of N profiles, in this fresh process (run
// with --expose-gc). Prints JSON:
//   constructMs           time of `new Pool` / `new LlmKeyPool`
//   bytesPerProfile       heap + external (which holds the wasm memory) the pool keeps,
//                         right after construction
//   bytesPerProfileUsed   the same after every key was used once and getStatus was asked
//   wasmBytesPerProfile   (v2) growth of the module's memory (its pages: it never shrinks)
//                         right after construction, and wasmBytesPerProfileUsed after use
// The keys and ids are flat strings, as read from the environment or JSON: a string built
// by a template literal is a rope, which a constructor that flattens it would seem to give
// memory back for.
// With "persisted" (v2), then also the wasm memory of a second pool of N profiles with a
// store (memoryStore), after every key was used, a status and two saves (the second merges the first
// back in), wasmBytesPerProfileSaved, and of a third pool after it loaded that state,
// wasmBytesPerProfileLoaded: each from right before its construction.
// Usage: node --expose-gc bench/memory.mjs v2|v1 100000 [persisted]
const [which, count, persisted] = [process.argv[2], Number(process.argv[3] ?? 100000), process.argv[4] === "persisted"];
// The module's memory, seen as the package instantiates it (the package does not expose it).
const memories = [];
const Instance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const instance = new Instance(module, imports);
  for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
  return instance;
};
WebAssembly.Instance.prototype = Instance.prototype;
const wasmBytes = () => memories.reduce((s, m) => s + m.buffer.byteLength, 0);

const mod = which === "v2" ? await import("key-carousel") : await import("key-carousel-v1");
const Ctor = which === "v2" ? mod.Pool : mod.LlmKeyPool;
if (which === "v2" && memories.length === 0) throw new Error("memory.mjs: the module's memory was not seen");
// Warm the constructor on a small pool so the figure is the pool's, not the JIT's.
new Ctor({ profiles: [{ id: "w", provider: "p", apiKey: "sk-warm-up-key" }] });
const profiles = JSON.parse(
  JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      id: `key-${i}`,
      provider: i % 4 === 0 ? "anthropic" : "openai",
      apiKey: `sk-bench-${i}-${"x".repeat(24)}`,
    })),
  ),
);
const gc = () => {
  for (let i = 0; i < 3; i++) globalThis.gc();
};
const total = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
gc();
const before = total();
const wasm0 = wasmBytes();
const t0 = performance.now();
const pool = new Ctor({ profiles });
const constructMs = performance.now() - t0;
gc();
const built = total();
const wasmBuilt = wasmBytes();
// Every key used once (v1's run sorts the pool each call: its keys are marked instead),
// then a status, as a service's health check asks it.
const task = async () => 1;
if (which === "v2") for (let i = 0; i < count; i++) await pool.run(task);
else for (let i = 0; i < count; i++) await pool.markSuccess(profiles[i].id);
const size = pool.getStatus().profiles.length;
gc();
const used = total();
const wasmUsed = wasmBytes();
let wasmBytesPerProfileSaved;
let wasmBytesPerProfileLoaded;
if (which === "v2" && persisted) {
  const storage = mod.memoryStore();
  const w0 = wasmBytes();
  const saver = new Ctor({ profiles, storage, saveIntervalMs: 3_600_000 });
  await saver.init();
  for (let i = 0; i < count; i++) await saver.run(task);
  saver.getStatus();
  await saver.flush();
  saver.markFailure(profiles[0].id, "timeout");
  await saver.flush();
  wasmBytesPerProfileSaved = (wasmBytes() - w0) / count;
  globalThis.saver = saver;
  const w1 = wasmBytes();
  const loader = new Ctor({ profiles, storage });
  await loader.init();
  wasmBytesPerProfileLoaded = (wasmBytes() - w1) / count;
  globalThis.loader = loader;
}
console.log(
  JSON.stringify({
    constructMs,
    bytesPerProfile: (built - before) / count,
    bytesPerProfileUsed: (used - before) / count,
    wasmBytesPerProfile: which === "v2" ? (wasmBuilt - wasm0) / count : undefined,
    wasmBytesPerProfileUsed: which === "v2" ? (wasmUsed - wasm0) / count : undefined,
    wasmBytesPerProfileSaved,
    wasmBytesPerProfileLoaded,
    size,
  }),
);
globalThis.keep = pool;
