// The browser build (pkg/index.browser.mjs, also the exports map's `default`) in Node: what
// `init(source)` takes. Chromium runs it in web-storage-browser.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const pkg = new URL("../../pkg/", import.meta.url);

// First: the module is not loaded yet (it is loaded once per process).
test("init() that cannot load the module says where it looked and what to do, with the cause (a 404, a page served in its place); a later init() still works (was: wasm-bindgen's error alone, naming neither the package nor the fix; found by a review)", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    if (req.url === "/missing.wasm") return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>app</title>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const browser = await import(new URL("index.browser.mjs", pkg));
    const quiet = console.warn;
    console.warn = () => {}; // wasm-bindgen's note on the MIME type of the page
    try {
      for (const path of ["/missing.wasm", "/app/key_carousel_bg.wasm"]) {
        const err = await browser.init(`${base}${path}`).then(() => undefined, (e) => e);
        assert.ok(err instanceof Error, String(err));
        assert.ok(err.message.startsWith(`key-carousel: cannot load its WebAssembly module (key_carousel_bg.wasm) from ${base}${path}: `), err.message);
        assert.match(err.message, /copied next to the bundle .*await init\("\/assets\/key_carousel_bg\.wasm"\)/);
        assert.ok(err.cause instanceof Error);
        assert.match(err.message, path === "/missing.wasm" ? /404/ : /magic word|expected magic/i);
      }
    } finally {
      console.warn = quiet;
    }
  } finally {
    server.close();
  }
});

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
