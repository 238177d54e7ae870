// Node entry for Node ≥ 20.19 / 22.12 (the "module-sync" condition): an ES module that both
// `import` and `require` load (require(esm)), so a process holds one instance. It reads
// the package's own .wasm synchronously and instantiates it at import. Node's built-in
// modules come from process.getBuiltinModule, not from an `import`: Node builds an ES
// facade of a built-in at its first import, which for node:fs loads its streams (1.1 ms in
// Node 20). The file store that `storagePath` means is loaded at its first use.

import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { setFileStore } from "../persist.js";
import { readWasm } from "./wasm-file.js";
import { named } from "../names.js";

const fs = globalThis.process.getBuiltinModule("node:fs");
// `new URL(..., import.meta.url)`: bundlers that take this build (webpack's "module-sync" for
// Node) see the .wasm as an asset and emit it next to the bundle (see wasm-file.js).
setCore(glue, glue.initSync({ module: readWasm(fs, new URL("./key_carousel_bg.wasm", import.meta.url)) }));
setFileStore(lazyFileStore);

/** `fileStore(path)` from the package's `./file` build, imported when first used. */
function lazyFileStore(path) {
  if (typeof path !== "string" || path === "") throw new TypeError("fileStore(path): path must be a non-empty string");
  let store;
  const get = async () => (store ??= (await import("./file.mjs")).fileStore(path));
  return {
    name: `file ${path}`,
    path,
    load: async () => (await get()).load(),
    update: async (merge) => (await get()).update(merge),
    keepCorrupt: async (raw) => (await get()).keepCorrupt(raw),
  };
}

export * from "../index.js";

/** Loads the WebAssembly module; in Node it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
