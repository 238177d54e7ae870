// Node entry: loads the wasm synchronously from the package's own file, so the first
// call works without `await init()`. Built to index.cjs; index.mjs re-exports it, so
// `import` and `require` share one module instance.

import { readFileSync } from "node:fs";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";

setCore(glue, glue.initSync({ module: readFileSync(new URL("./key_carousel_bg.wasm", import.meta.url)) }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Node it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}
