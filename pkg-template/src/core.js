// The loaded WebAssembly module. Each runtime entry (src/entries/) loads the module
// its own way and hands the wasm-bindgen exports to setCore(); everything else reaches
// them through core(), which fails with a clear error when used before that.

let loaded = null;
let memory = null;

/**
 * @param {object} glue the wasm-bindgen module namespace, initialised
 * @param {object} instanceExports the wasm instance's exports (what `initSync` returns)
 */
export function setCore(glue, instanceExports) {
  loaded = glue;
  memory = instanceExports.memory;
}

/** The module's memory, for zero-copy views of buffers the core fills (status). */
export function coreMemory() {
  return memory;
}

export function core() {
  if (loaded === null) {
    throw new Error(
      "key-carousel: the WebAssembly module is not initialised yet; call `await init()` before using the pool",
    );
  }
  return loaded;
}

export function isCoreLoaded() {
  return loaded !== null;
}
