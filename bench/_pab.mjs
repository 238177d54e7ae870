const mod = await import("key-carousel-ab");
new mod.Pool({ profiles: [{ id: "w", provider: "p", apiKey: "sk-warm-up-key" }] });
const profiles = JSON.parse(JSON.stringify(Array.from({ length: 100000 }, (_, i) => ({ id: `key-${i}`, provider: i % 4 === 0 ? "anthropic" : "openai", apiKey: `sk-bench-${i}-${"x".repeat(24)}` }))));
globalThis.gc?.();
const t0 = performance.now();
const pool = new mod.Pool({ profiles });
console.log((performance.now() - t0).toFixed(1));
