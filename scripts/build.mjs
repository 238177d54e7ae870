// Builds the publishable npm package into pkg/: the Rust crate to wasm32 (release,
// size-optimised), wasm-bindgen's glue, wasm-opt, then the JS layer of pkg-template/
// bundled per entry and per runtime, the types and package.json (with its exports map).
// Run through `npm run build`, which runs scripts/setup.sh first.

import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

// The package's entry points: one line per subpath export.
//   subpath  its key in package.json "exports"
//   name     the base name of its files in pkg/: <name>.cjs and <name>.mjs (Node),
//            <name>.<runtime>.mjs (the other runtimes), <name>.d.ts and <name>.d.cts
//   src      its module in pkg-template/src/; "{runtime}" in it means one module per runtime
//            (entries/<runtime>.js loads the wasm its own way)
//   types    its declarations in pkg-template/ (copied to <name>.d.ts and <name>.d.cts)
//   runtimes where it exists (default: all of RUNTIMES)
//   nodeEsm  its module for Node's native ES module build (default: src for "node")
// A subpath's bundles for one runtime share the JS layer with "." (one module instance), except
// under Node's require, where each <name>.cjs is its own bundle: a module reached from two
// subpaths must then hold no state of its own (the file store gets the pool's merge passed in).
const ENTRIES = [
  { subpath: ".", name: "index", src: "entries/{runtime}.js", nodeEsm: "entries/node-esm.js", types: "index.d.ts" },
  { subpath: "./file", name: "file", src: "entries/file.js", types: "file.d.ts", runtimes: ["node", "deno", "bun"] },
];

// Where loading differs, in the order of the exports map: the first condition a resolver
// knows wins (Deno and Bun also set "node", Wrangler also sets "browser", so these come first).
// "default" (any other bundler or runtime) gets the browser build: fetch and `await init()`.
const RUNTIMES = ["workerd", "deno", "bun", "browser", "node"];
const DEFAULT_RUNTIME = "browser";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tpl = join(root, "pkg-template");
const out = join(root, "pkg");
const wasmDir = join(root, "target", "wasm-bindgen");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

run("cargo", ["build", "--lib", "--release", "--target", "wasm32-unknown-unknown", "--features", "wasm", "--quiet"]);
rmSync(wasmDir, { recursive: true, force: true });
run("wasm-bindgen", [
  "--target", "web",
  "--out-dir", wasmDir,
  "--out-name", "key_carousel",
  join(root, "target", "wasm32-unknown-unknown", "release", "key_carousel.wasm"),
]);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const WASM_FILE = "key_carousel_bg.wasm";
const wasmOut = join(out, WASM_FILE);
// -Oz: measured against -O3 in the performance issue; size wins on the hot path too.
run(bin("wasm-opt"), [
  "-Oz", "--strip-debug", "--strip-producers",
  "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext",
  "--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue",
  join(wasmDir, "key_carousel_bg.wasm"), "-o", wasmOut,
]);

// In RUNTIMES' order whatever the order in ENTRIES (it is the exports map's order).
const runtimesOf = (e) => RUNTIMES.filter((r) => (e.runtimes ?? RUNTIMES).includes(r));
const srcOf = (e, runtime) => join(tpl, "src", e.src.replaceAll("{runtime}", runtime));
for (const e of ENTRIES) {
  for (const r of e.runtimes ?? []) {
    if (!RUNTIMES.includes(r)) throw new Error(`build: ENTRIES ${e.subpath}: unknown runtime ${r}`);
  }
  for (const r of runtimesOf(e)) {
    if (!existsSync(srcOf(e, r))) throw new Error(`build: ENTRIES ${e.subpath}: no ${srcOf(e, r)}`);
  }
}

const VERSION = JSON.parse(readFileSync(join(tpl, "package.json"), "utf8")).version;
const common = {
  bundle: true,
  // The package's version, for the CLI's --version and for finding its own .wasm (entries/wasm-file.js).
  define: { KC_VERSION: JSON.stringify(VERSION) },
  alias: { "key-carousel-wasm": join(wasmDir, "key_carousel.js") },
  legalComments: "none",
  logLevel: "warning",
  // Smaller bundles parse faster at cold start (parsing the bundle is a third of Node's):
  // minified. Names are not kept by esbuild (keepNames renames every function and class
  // at load: 0.1-0.7 ms of a 9-11 ms cold start, side by side); the public ones get theirs
  // back (names.js). KC_NOMIN=1 keeps names and lines, for reading a CPU profile.
  minifySyntax: true,
  minifyWhitespace: !process.env.KC_NOMIN,
  minifyIdentifiers: !process.env.KC_NOMIN,
};

// Node's builds in lines of ~100 characters: Node prints the source line of an uncaught
// error's throw site, which was 45 KB of the one-line bundle before the error's own message.
// esbuild also cuts string literals (with `\` line continuations), which bundlers that find
// assets by matching source text would misread (Vite read `new URL("./k\<newline>ey_carousel_bg.wasm")`
// as a path with a slash); `wholeStrings` joins them again after each Node build. The other
// runtimes' builds stay on one line: their consoles show the error, not the line.
const nodeLines = { lineLimit: 100 };
function wholeStrings(file) {
  // A backslash before a line break is a line continuation in a string (nowhere else is it
  // valid JavaScript), and the source has none: each one is esbuild's cut.
  writeFileSync(file, readFileSync(file, "utf8").replaceAll("\\\n", ""));
}

// An entry's import of the .wasm (workerd, deno) stays an import of the package's own file,
// next to the bundles in pkg/.
const wasmExternal = {
  name: "wasm-external",
  setup(build) {
    build.onResolve({ filter: /\.wasm$/ }, () => ({ path: `./${WASM_FILE}`, external: true }));
  },
};

// Node, two builds per subpath:
// - <name>.mjs, an ES module in one file, for Node with require(esm) (≥ 20.19, ≥ 22.12: the
//   "module-sync" condition), where `import` and `require` both load it: one instance;
// - <name>.cjs, a CommonJS bundle for `require` on older Node, and <name>.legacy.mjs, an ES
//   module wrapper that re-exports it for `import` there, so both share one instance too.
// A subpath's native ES module is one file with no chunk to load (each module Node loads
// adds to a cold start); what it loads lazily (the file store) is another subpath's file.
const require = createRequire(import.meta.url);
const siblingsExternal = {
  name: "siblings-external",
  setup(build) {
    build.onResolve({ filter: /^\.\/[a-z]+\.mjs$/ }, (args) => ({ path: args.path, external: true }));
  },
};
// What the JS layer imports only when first used (`import("./x.js")`), kept in a file of its
// own next to the native ES module builds, so a process that never uses it never parses it:
// the Redis store's merge script (13 KB of Lua, ~0.6 ms of a cold start). The CommonJS and
// bundlers' builds keep it inline (esbuild makes each such import a promise of the module
// in the bundle); the other runtimes' build puts it in a chunk of its own.
const LAZY = ["redis-script"];
const lazyExternal = {
  name: "lazy-external",
  setup(build) {
    const filter = new RegExp(`^\\./(${LAZY.join("|")})\\.js$`);
    build.onResolve({ filter }, (args) => ({ path: `./${filter.exec(args.path)[1]}.mjs`, external: true }));
  },
};
for (const name of LAZY) {
  await esbuild.build({
    ...common,
    entryPoints: [join(tpl, "src", `${name}.js`)],
    outfile: join(out, `${name}.mjs`),
    format: "esm",
    platform: "node",
    target: "node20",
  });
}
for (const e of ENTRIES.filter((e) => runtimesOf(e).includes("node"))) {
  const cjs = `${e.name}.cjs`;
  await esbuild.build({
    ...common,
    ...nodeLines,
    entryPoints: [srcOf(e, "node")],
    outfile: join(out, cjs),
    format: "cjs",
    platform: "node",
    target: "node18",
    define: { ...common.define, "import.meta.url": "__kc_module_url" },
    banner: { js: 'const __kc_module_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [wasmExternal],
  });
  // The names come from the bundle itself, so the wrapper cannot miss one.
  const names = Object.keys(require(join(out, cjs))).filter((n) => n !== "default" && n !== "__esModule");
  // The wrapper imports a two-line CommonJS shim that requires the bundle, not the bundle:
  // Node scans each CommonJS module an ES module imports for its export names (with the
  // JavaScript cjs-module-lexer in Node 20: 13 ms for the 85 KB bundle, two thirds of this
  // build's cold start), and the shim's `module.exports = m` names none, so the bundle is
  // never scanned; the names come from the bundle itself (above), so the wrapper cannot miss
  // one. Static import and require, which bundlers follow (esbuild for Node, e.g. AWS
  // Lambda's, takes this branch on any Node version: tests/packaging's node-esbuild).
  writeFileSync(
    join(out, `${e.name}.legacy.cjs`),
    `// See ${e.name}.legacy.mjs: its import of ${cjs}, which Node does not scan for names here.\nconst m = require("./${cjs}");\nmodule.exports = m;\n`,
  );
  writeFileSync(
    join(out, `${e.name}.legacy.mjs`),
    `// ES module entry for Node without require(esm): the same instance as ${cjs}.\nimport m from "./${e.name}.legacy.cjs";\n\nexport const { ${names.join(", ")} } = m;\n`,
  );
  wholeStrings(join(out, cjs));
  await esbuild.build({
    ...common,
    ...nodeLines,
    entryPoints: [join(tpl, "src", e.nodeEsm ?? e.src.replaceAll("{runtime}", "node"))],
    outfile: join(out, `${e.name}.mjs`),
    format: "esm",
    platform: "node",
    target: "node20",
    plugins: [wasmExternal, siblingsExternal, lazyExternal],
  });
  wholeStrings(join(out, `${e.name}.mjs`));
}

// Node, bundled (the "module" condition): for "." the Node entry as an ES module, which finds
// the .wasm from either output format of the bundler; a subpath without wasm uses its ES
// module build.
await esbuild.build({
  ...common,
  ...nodeLines,
  entryPoints: [srcOf(ENTRIES.find((e) => e.name === "index"), "node")],
  outfile: join(out, "index.bundler.mjs"),
  format: "esm",
  platform: "node",
  target: "node18",
  plugins: [wasmExternal],
});
wholeStrings(join(out, "index.bundler.mjs"));

// The other runtimes: ES modules, all built at once so that whatever two entries share
// (the JS layer, wasm-bindgen's glue) is one chunk, loaded once per runtime.
const esmEntries = {};
for (const e of ENTRIES) {
  for (const r of runtimesOf(e).filter((r) => r !== "node")) esmEntries[`${e.name}.${r}`] = srcOf(e, r);
}
await esbuild.build({
  ...common,
  entryPoints: esmEntries,
  outdir: out,
  outExtension: { ".js": ".mjs" },
  format: "esm",
  splitting: true,
  chunkNames: "shared-[hash]",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  // Deno's entry imports the .wasm in the source phase (`import source`), Bun's as a file
  // (`with { type: "file" }`): esbuild passes each through only when told the target has it
  // (for an es2022 target it drops the attribute without a word).
  supported: { "import-source": true, "import-attributes": true },
  external: ["node:*"],
  plugins: [wasmExternal],
});

// The `key-carousel` command (package.json "bin"): status and clear of a state file.
await esbuild.build({
  ...common,
  ...nodeLines,
  entryPoints: [join(tpl, "src", "cli.js")],
  outfile: join(out, "cli.cjs"),
  format: "cjs",
  platform: "node",
  target: "node18",
  banner: { js: "#!/usr/bin/env node" },
});
wholeStrings(join(out, "cli.cjs"));

// Types: <name>.d.ts for import, <name>.d.cts for require (its relative imports point at
// the .d.cts files, so a CommonJS consumer's types stay CommonJS).
// The CommonJS bundles are marked `__esModule` (esbuild's interop flag): declared here, so
// TypeScript does not make up a default export for them (with esModuleInterop,
// `import kc from "key-carousel"` compiled, then failed at run time on Node without
// require(esm): `__importDefault` keeps a marked module as it is, and it has no `default`).
// Its type is `true | undefined`: where Node's `require` loads the ES module build (Node
// 20.19+, 22.12+, via the "module-sync" condition), the name is not there.
const CJS_MARK = `
/**
 * This CommonJS build is a transpiled ES module (it has no default export): use named
 * imports, \`import * as kc from "key-carousel"\`, or \`require\`. \`true\` in the CommonJS
 * bundle; \`undefined\` where Node's \`require\` loads the ES module build (Node 20.19+, 22.12+).
 */
export declare const __esModule: true | undefined;
`;
for (const e of ENTRIES) {
  const dts = readFileSync(join(tpl, e.types), "utf8");
  writeFileSync(join(out, `${e.name}.d.ts`), dts);
  writeFileSync(join(out, `${e.name}.d.cts`), dts.replace(/(from\s+["']\.\/[^"']+)\.js(["'])/g, "$1.cjs$2") + CJS_MARK);
}

// The exports map: `types` first in every branch.
const esmBranch = (e, file) => ({ types: `./${e.name}.d.ts`, default: `./${file}` });
const exportsMap = {};
for (const e of ENTRIES) {
  const branch = {};
  for (const r of runtimesOf(e)) {
    branch[r] =
      r === "node"
        ? {
            // webpack sets "module-sync" whatever Node its bundle will run on, and index.mjs
            // needs Node >= 20.16 (process.getBuiltinModule): give it the bundlers' build.
            ...(e.name === "index" ? { webpack: esmBranch(e, "index.bundler.mjs") } : {}),
            "module-sync": esmBranch(e, `${e.name}.mjs`),
            // Bundlers (esbuild, Rollup, webpack): one ES module for their ES module and
            // CommonJS output, whichever way the app imports it.
            module: esmBranch(e, e.name === "index" ? "index.bundler.mjs" : `${e.name}.mjs`),
            import: esmBranch(e, `${e.name}.legacy.mjs`),
            require: { types: `./${e.name}.d.cts`, default: `./${e.name}.cjs` },
          }
        : esmBranch(e, `${e.name}.${r}.mjs`);
  }
  if (runtimesOf(e).includes(DEFAULT_RUNTIME)) branch.default = esmBranch(e, `${e.name}.${DEFAULT_RUNTIME}.mjs`);
  // A server-only subpath: resolvers without a runtime condition (TypeScript's "bundler"
  // resolution, esbuild's neutral platform) get the Node build and its types.
  else if (runtimesOf(e).includes("node")) branch.default = esmBranch(e, `${e.name}.mjs`);
  exportsMap[e.subpath] = branch;
}
exportsMap["./package.json"] = "./package.json";
// The module itself, for a build that places it (Vite's `?url`, `require.resolve` in a build
// script, Yarn PnP where there is no node_modules path to copy it from).
exportsMap[`./${WASM_FILE}`] = `./${WASM_FILE}`;

copyFileSync(join(root, "README.md"), join(out, "README.md"));
copyFileSync(join(root, "LICENSE"), join(out, "LICENSE"));
const pkg = JSON.parse(readFileSync(join(tpl, "package.json"), "utf8"));
pkg.exports = exportsMap;
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// The workspace resolves the package by its name, through its exports map as a user's
// project does (tests, bench, examples): node_modules/key-carousel links to pkg/.
const link = join(root, "node_modules", "key-carousel");
try {
  lstatSync(link);
} catch {
  symlinkSync(join("..", "pkg"), link, "dir");
}

// No string is cut anywhere (see wholeStrings): bundlers must read the .wasm's URL whole.
for (const f of readdirSync(out).filter((f) => /\.(mjs|cjs)$/.test(f))) {
  if (readFileSync(join(out, f), "utf8").includes("\\\n")) throw new Error(`build: ${f} holds a string cut across lines`);
}

const raw = statSync(wasmOut).size;
const gz = gzipSync(readFileSync(wasmOut), { level: 9 }).length;
console.log(`built pkg/ — ${WASM_FILE} ${raw} bytes raw, ${gz} bytes gzip`);
