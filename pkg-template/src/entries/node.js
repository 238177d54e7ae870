// Node entry, built twice: to index.cjs (Node without require(esm): `require`, and `import`
// through index.legacy.mjs, one instance) and to index.bundler.mjs (the "module" condition,
// which esbuild and Rollup set and Node does not). It loads the wasm synchronously from the
// package's own file, so the first call works without `await init()`. A bundle reads the
// .wasm copied next to it (see the README): in ES module output its place is
// `import.meta.url`; in CommonJS output (esbuild leaves `import.meta` empty there) it is
// `__filename`. (index.cjs defines `import.meta.url` itself: see scripts/build.mjs.)

import * as fs from "node:fs";
import { pathToFileURL } from "node:url";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";
import { readWasm } from "./wasm-file.js";
import { named } from "../names.js";

const wasmUrl = import.meta.url
  ? new URL("./key_carousel_bg.wasm", import.meta.url)
  : new URL("./key_carousel_bg.wasm", pathToFileURL(__filename));
setCore(glue, glue.initSync({ module: readWasm(fs, wasmUrl) }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Node it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
