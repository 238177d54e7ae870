// The loaded WebAssembly module. Each runtime entry (src/entries/) loads the module
// its own way and hands the wasm-bindgen exports to setCore(); everything else reaches
// them through core(), which fails with a clear error when used before that.

let loaded = null;

/** @param {object} exports the wasm-bindgen module namespace, initialised */
export function setCore(exports) {
  loaded = exports;
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
