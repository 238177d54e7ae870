// Bun entry: the package's own .wasm is imported as a file (`type: "file"`, which gives its
// path: `bun build` emits the file next to the bundle and `bun build --compile` embeds it in
// the executable) and read synchronously (Bun's node:fs), then instantiated at import, so the
// first call works without `await init()`. ES module for both `import` and `require` (Bun
// requires ES modules synchronously): one module instance.

import { readFileSync } from "node:fs";
import wasmFile from "./key_carousel_bg.wasm" with { type: "file" };
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { fileStore } from "../file.js";
import { named } from "../names.js";

// Its path: absolute where the package is installed and in an executable (`/$bunfs/…`);
// relative to the bundle in what `bun build` wrote (`./key_carousel_bg-<hash>.wasm`), which is
// not where a process started from another directory reads relative paths.
const relative = wasmFile.startsWith("./") || wasmFile.startsWith("../");
setCore(glue, glue.initSync({ module: readFileSync(relative ? new URL(wasmFile, import.meta.url) : wasmFile) }));
setFileStore(fileStore); // `storagePath` means fileStore(storagePath)

export * from "../index.js";

/** Loads the WebAssembly module; in Bun it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
