// Cloudflare Workers (workerd) entry: the .wasm is imported as a module, which Wrangler and
// workerd hand over compiled (a `WebAssembly.Module`); it is instantiated synchronously at
// import. No fetch, no eval, no compiling of bytes at run time (Workers forbid all three),
// and the first call works without `await init()`.

import wasm from "./key_carousel_bg.wasm";
import * as glue from "key-carousel-wasm";
import { setCore } from "../core.js";
import { named } from "../names.js";

setCore(glue, glue.initSync({ module: wasm }));

export * from "../index.js";

/** Loads the WebAssembly module; in Workers it is loaded at import, so this resolves at once. */
export function init() {
  return Promise.resolve();
}

named({ init });
