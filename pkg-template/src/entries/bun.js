// Bun entry: reads the package's own .wasm synchronously (Bun's node:fs) and instantiates it
// at import, so the first call works without `await init()`. ES module for both `import` and
// `require` (Bun requires ES modules synchronously): one module instance.

import { readFileSync } from "node:fs";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";
import { named } from "../names.js";

setCore(glue, glue.initSync({ module: readFileSync(new URL("./key_carousel_bg.wasm", import.meta.url)) }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Bun it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
