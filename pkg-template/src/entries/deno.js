// Deno entry: the .wasm is imported in the source phase (`import source`, Deno ≥ 2.6), which
// gives a compiled `WebAssembly.Module` through the module graph: no --allow-read, no fetch,
// and the first call works without `await init()`. (Reading the file with Deno.readFileSync
// or node:fs would need --allow-read for the package's own directory.)

import source wasm from "./key_carousel_bg.wasm";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";
import { named } from "../names.js";

setCore(glue, glue.initSync({ module: wasm }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Deno it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
