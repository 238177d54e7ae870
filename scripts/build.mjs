// Builds the publishable npm package into pkg/: the Rust crate to wasm32 (release,
// size-optimised), wasm-bindgen's glue, wasm-opt, then the JS layer of pkg-template/
// bundled per entry, the types and package.json. Run through `npm run build`, which
// runs scripts/setup.sh first.

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

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
const wasmOut = join(out, "key_carousel_bg.wasm");
// -Oz: measured against -O3 in the performance issue; size wins on the hot path too.
run(bin("wasm-opt"), [
  "-Oz", "--strip-debug", "--strip-producers",
  "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext",
  "--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue",
  join(wasmDir, "key_carousel_bg.wasm"), "-o", wasmOut,
]);

await esbuild.build({
  entryPoints: [join(tpl, "src", "entries", "node.js")],
  outfile: join(out, "index.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  alias: { "key-carousel-wasm": join(wasmDir, "key_carousel.js") },
  define: { "import.meta.url": "__kc_module_url" },
  banner: { js: 'const __kc_module_url = require("node:url").pathToFileURL(__filename).href;' },
  legalComments: "none",
  minifySyntax: true,
  minifyWhitespace: true,
  logLevel: "warning",
});

// `key-carousel/file`: the file store alone (node:fs, node:path, node:os), no wasm.
await esbuild.build({
  entryPoints: [join(tpl, "src", "entries", "file.js")],
  outfile: join(out, "file.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  legalComments: "none",
  logLevel: "warning",
});

// The `key-carousel` command (package.json "bin"): status and clear of a state file.
await esbuild.build({
  entryPoints: [join(tpl, "src", "cli.js")],
  outfile: join(out, "cli.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  banner: { js: "#!/usr/bin/env node" },
  legalComments: "none",
  logLevel: "warning",
});

// The .mjs files re-export the CommonJS builds: one module instance for import and require.
const names = [
  "Pool",
  "LlmKeyPool",
  "FailoverError",
  "AllProfilesExhaustedError",
  "ConfigError",
  "classifyError",
  "FAILURE_REASONS",
  "init",
  "memoryStore",
  "webStorageStore",
  "mergeSnapshots",
];
const wrapper = (cjs, exported) =>
  `// ES module entry for Node: the same instance as ${cjs}.\nimport m from "./${cjs}";\n\nexport const { ${exported.join(", ")} } = m;\n`;
writeFileSync(join(out, "index.mjs"), wrapper("index.cjs", names));
writeFileSync(join(out, "file.mjs"), wrapper("file.cjs", ["fileStore"]));

copyFileSync(join(tpl, "index.d.ts"), join(out, "index.d.ts"));
copyFileSync(join(tpl, "index.d.ts"), join(out, "index.d.cts"));
// file.d.ts imports the shared types from the entry of the same module kind.
const fileTypes = readFileSync(join(tpl, "file.d.ts"), "utf8");
writeFileSync(join(out, "file.d.ts"), fileTypes);
writeFileSync(join(out, "file.d.cts"), fileTypes.replace('from "./index.js"', 'from "./index.cjs"'));
copyFileSync(join(root, "README.md"), join(out, "README.md"));
copyFileSync(join(root, "LICENSE"), join(out, "LICENSE"));
const pkg = JSON.parse(readFileSync(join(tpl, "package.json"), "utf8"));
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

const raw = statSync(wasmOut).size;
const gz = gzipSync(readFileSync(wasmOut), { level: 9 }).length;
console.log(`built pkg/ — key_carousel_bg.wasm ${raw} bytes raw, ${gz} bytes gzip`);
