// Browser entry (Vite, webpack 5, Rollup, a plain <script type="module">) and the `default`
// of the exports map. Browsers cannot compile a module of this size synchronously on the main
// thread, so the page calls `await init()` once; until then every use of the pool throws an
// error that says so. The .wasm is referenced as `new URL("./key_carousel_bg.wasm",
// import.meta.url)`, the pattern Vite and webpack recognise: they emit the file and rewrite
// the URL (Rollup and esbuild do not: the README says to copy the file or pass its URL).

import * as glue from "key-carousel-wasm";
import { isCoreLoaded, setCore } from "../core.js";
import { named } from "../names.js";

export * from "../index.js";

let loading = null;

/**
 * Loads the WebAssembly module; call it once and await it before using the pool (calling it
 * again is harmless). `source` overrides where the module comes from: a URL (string or
 * `URL`), a `Request`, a `Response` or a promise of one, the bytes, or a compiled
 * `WebAssembly.Module`. Default: the package's own `key_carousel_bg.wasm`.
 */
export function init(source) {
  if (isCoreLoaded()) return Promise.resolve();
  // Bytes in any view (a DataView too, which WebAssembly refuses) as a Uint8Array.
  if (ArrayBuffer.isView(source) && !(source instanceof Uint8Array)) {
    source = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  }
  const from = source ?? new URL("./key_carousel_bg.wasm", import.meta.url);
  loading ??= glue.default({ module_or_path: from }).then(
    (instanceExports) => setCore(glue, instanceExports),
    (err) => {
      loading = null;
      throw loadError(from, err);
    },
  );
  return loading;
}

/** Why the module did not load (a 404, a page served in its place), and what to do. */
function loadError(from, err) {
  const where = typeof from === "string" || from instanceof URL ? ` from ${String(from)}` : typeof Request === "function" && from instanceof Request ? ` from ${from.url}` : "";
  return new Error(
    `key-carousel: cannot load its WebAssembly module (key_carousel_bg.wasm)${where}: ${err?.message ?? err}. ` +
      "Bundlers that do not emit it (esbuild, Rollup) need it copied next to the bundle from node_modules/key-carousel/, " +
      'or its URL passed: `await init("/assets/key_carousel_bg.wasm")`.',
    { cause: err },
  );
}

named({ init });
