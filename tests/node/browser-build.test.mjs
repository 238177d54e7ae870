// The browser build (pkg/index.browser.mjs, also the exports map's `default`) in Node: what
// `init(source)` takes. Chromium runs it in web-storage-browser.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const pkg = new URL("../../pkg/", import.meta.url);

test("init() takes the module's bytes in any view, a DataView too (was: WebAssembly refused the DataView)", async () => {
  const browser = await import(new URL("index.browser.mjs", pkg));
  assert.throws(() => new browser.Pool({ profiles: [{ provider: "openai", apiKey: "sk-browser-aaaaaaaaaaaa" }] }), /await init\(\)/);
  const bytes = readFileSync(new URL("key_carousel_bg.wasm", pkg));
  await browser.init(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const pool = new browser.Pool({ profiles: [{ provider: "openai", apiKey: "sk-browser-aaaaaaaaaaaa" }] });
  assert.equal(pool.getStatus().totalAvailable, 1);
});

test("storagePath where there is no file system: a ConfigError naming the field from Pool and from LlmKeyPool alike (was: a plain Error from LlmKeyPool; found by an audit)", async () => {
  const browser = await import(new URL("index.browser.mjs", pkg));
  await browser.init(readFileSync(new URL("key_carousel_bg.wasm", pkg)));
  const profiles = [{ provider: "openai", apiKey: "sk-browser-aaaaaaaaaaaa" }];
  for (const make of [() => new browser.Pool({ profiles, storagePath: "/tmp/kc-state.json" }), () => new browser.LlmKeyPool({ profiles, storagePath: "/tmp/kc-state.json" })]) {
    assert.throws(make, (e) => e instanceof browser.ConfigError && e.field === "storagePath" && /needs a file system/.test(e.message));
  }
});
