// Reading the package's own .wasm in Node, for the entries that load it synchronously.
//
// `url` is where the entry expects it: next to the entry in the package, or, in a bundle,
// where the bundler emitted it (`new URL("./key_carousel_bg.wasm", import.meta.url)`, which
// webpack rewrites). With an `output.publicPath`, or with `javascript.url: "relative"` (as
// Next.js's server builds set), webpack's rewrite is no longer a file this process can read:
// then the package's own file is read from `node_modules/key-carousel` in the working
// directory or one above it (where a Next.js app keeps its dependencies), when it is this
// version's. Otherwise the error says what to do.

const WASM_FILE = "key_carousel_bg.wasm";

/**
 * @param {{ readFileSync: Function }} fs node:fs
 * @param {URL | string} url
 * @returns {Uint8Array}
 */
export function readWasm(fs, url) {
  try {
    return fs.readFileSync(url);
  } catch (error) {
    const installed = installedWasm(fs);
    if (installed !== undefined) return installed;
    throw new Error(
      `key-carousel: cannot read its WebAssembly module (${WASM_FILE}) from ${String(url?.href ?? url)}: ${error?.message ?? error}. ` +
        `When an app is bundled, ${WASM_FILE} goes next to the bundle (copy it from node_modules/key-carousel/), ` +
        'or the package stays out of the bundle (webpack: `externals`; Next.js: `serverExternalPackages: ["key-carousel"]`).',
      { cause: error },
    );
  }
}

/** This version's .wasm from `node_modules/key-carousel` in the working directory or above. */
function installedWasm(fs) {
  const cwd = globalThis.process?.cwd;
  if (typeof cwd !== "function") return undefined;
  let dir;
  try {
    dir = cwd();
  } catch {
    return undefined; // the working directory was removed
  }
  for (;;) {
    const base = `${dir}/node_modules/key-carousel/`;
    try {
      if (JSON.parse(fs.readFileSync(`${base}package.json`, "utf8")).version === KC_VERSION) return fs.readFileSync(base + WASM_FILE);
    } catch {
      // not there, or not readable: look further up
    }
    const up = dir.replace(/[\\/][^\\/]*$/, "");
    if (up === dir || up === "") return undefined;
    dir = up;
  }
}
