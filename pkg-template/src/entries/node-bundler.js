// Node entry for bundlers (the "module" condition, which esbuild and Rollup set and Node
// does not): an ES module that works in the bundler's ES module output and in its CommonJS
// output alike. The bundle reads the .wasm copied next to it (see the README): in ES module
// output its place is `import.meta.url`; in CommonJS output (esbuild leaves `import.meta`
// empty there) it is `__filename`. Node itself never loads this file: it takes index.mjs
// ("module-sync") or index.cjs / index.legacy.mjs, which keep `import` and `require` on one
// instance.

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";

const wasmUrl = import.meta.url
  ? new URL("./key_carousel_bg.wasm", import.meta.url)
  : new URL("./key_carousel_bg.wasm", pathToFileURL(__filename));
setCore(glue, glue.initSync({ module: readFileSync(wasmUrl) }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Node it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}
