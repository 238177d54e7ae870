// The page script of the Web Storage test (tests/node/web-storage-browser.test.mjs), bundled
// by the test with esbuild: the package's JS layer (pkg-template/src) with wasm-bindgen's
// glue, the wasm fetched from the test server. Not a browser entry of the package: only
// what this test needs to load the module in a page.
import * as glue from "key-carousel-wasm";
import { setCore } from "../../pkg-template/src/core.js";
import { Pool, webStorageStore } from "../../pkg-template/src/index.js";

const profiles = [0, 1, 2].map((i) => ({ id: `k${i}`, provider: "openai", apiKey: `sk-browser-${i}-0123456789abcdef` }));

const loaded = (async () => {
  const bytes = await (await fetch("/key_carousel_bg.wasm")).arrayBuffer();
  setCore(glue, glue.initSync({ module: bytes }));
})();

/**
 * A pool on localStorage (default key), as a page would make one. `failK0`: k0 answers 429
 * in the first run. Returns what the page sees: the picks, the states, the logged warnings.
 */
async function session({ failK0 = false, runs = 3 } = {}) {
  await loaded;
  const warnings = [];
  const pool = new Pool({ profiles, storage: webStorageStore(localStorage), logger: { warn: (m) => warnings.push(m) } });
  await pool.init();
  const states = Object.fromEntries(pool.getStatus().profiles.map((p) => [p.id, p.state]));
  const picks = [];
  for (let i = 0; i < runs; i++) {
    const r = await pool.run(({ profileId }) => {
      if (failK0 && profileId === "k0") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
      return profileId;
    });
    picks.push(r.value);
  }
  await pool.flush();
  return { states, picks, warnings };
}

globalThis.keyCarousel = { session, loaded: loaded.then(() => true) };
