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

/**
 * The status columns of a core pool at `now` (see STATUS_COLUMNS in src/wasm.rs), as a
 * view of the module's memory: read it before the next call into the module. The core
 * keeps its status buffer at one address while its length stays the same, so `previous`
 * (the view this returned last time for the same pool) is reused until the length
 * changes or the memory grows (which detaches it: its length becomes 0).
 */
export function statusColumns(pool, now, previous) {
  const len = pool.status(now);
  if (len === 0) throw new RangeError(`time must be a finite number of ms in [0, 2^53], got ${now}`);
  if (previous !== null && previous !== undefined && previous.length === len) return previous;
  return new Float64Array(memory.buffer, pool.statusPtr(), len);
}
