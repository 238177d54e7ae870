// webStorageStore in a real browser: Debian's Chromium (headless, driven by playwright-core)
// loads a page from 127.0.0.1 that runs the package's JS layer and wasm (tests/browser/,
// bundled here with esbuild) on localStorage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHROMIUM = "/usr/bin/chromium";
let server;
let browser;
let page;
let origin;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`);
  }
  const bundle = await esbuild.build({
    entryPoints: [join(root, "tests", "browser", "page.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    alias: { "key-carousel-wasm": join(root, "target", "wasm-bindgen", "key_carousel.js") },
    logLevel: "warning",
  });
  const files = {
    "/": ["text/html", readFileSync(join(root, "tests", "browser", "index.html"))],
    "/page.js": ["text/javascript", bundle.outputFiles[0].contents],
    "/key_carousel_bg.wasm": ["application/wasm", readFileSync(join(root, "pkg", "key_carousel_bg.wasm"))],
  };
  server = createServer((req, res) => {
    const f = files[new URL(req.url, "http://x").pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": f[0], "cache-control": "no-store" }).end(f[1]);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.errors = errors;
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r()));
});

/** Loads the page afresh (a reload: localStorage stays) and waits for the wasm. */
async function open() {
  await page.goto(`${origin}/`);
  assert.equal(await page.evaluate(() => globalThis.keyCarousel.loaded), true);
  assert.deepEqual(page.errors, []);
}

/** A pool's session in the page; `stateWarnings`: the warnings about the stored state (failed attempts are warned about too). */
async function session(opts) {
  const s = await page.evaluate((o) => globalThis.keyCarousel.session(o), opts);
  return { ...s, stateWarnings: s.warnings.filter((m) => /state stored in/.test(m)) };
}
const storedItems = () => page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])));

test("a cooldown survives a page reload through localStorage", async () => {
  await open();
  await page.evaluate(() => localStorage.clear());
  const first = await session({ failK0: true, runs: 1 });
  assert.deepEqual(first.picks, ["k1"], "k0 answered 429, the run rotated to k1");
  assert.deepEqual(first.stateWarnings, []);
  const state = JSON.parse((await storedItems())["key-carousel"]);
  assert.ok(state.profiles.k0.cooldownUntil > Date.now());

  await page.reload();
  await open();
  const second = await session({ runs: 4 });
  assert.equal(second.states.k0, "cooldown", "the reloaded page starts with k0 cooling down");
  assert.ok(!second.picks.includes("k0"), `picked ${second.picks}`);
  assert.deepEqual(second.warnings, []);
});

test("a corrupt localStorage value: fresh start, a copy under <key>.corrupt-<time>, one warning", async () => {
  await open();
  await page.evaluate(() => {
    localStorage.clear();
    localStorage.setItem("key-carousel", '{"version":1,"profiles":{"k0":{"errorCount":');
  });
  await page.reload();
  await open();
  const t0 = Date.now();
  const s = await session({ failK0: true, runs: 2 });
  assert.equal(s.stateWarnings.length, 1, s.warnings.join("\n"));
  assert.match(s.stateWarnings[0], /webStorage key "key-carousel" is unusable \(not valid JSON/);
  assert.deepEqual(s.states, { k0: "available", k1: "available", k2: "available" }, "started fresh");
  assert.deepEqual(s.picks, ["k1", "k2"]);
  const items = await storedItems();
  const sides = Object.keys(items).filter((k) => k.startsWith("key-carousel.corrupt-"));
  assert.equal(sides.length, 1, Object.keys(items).join(", "));
  assert.equal(items[sides[0]], '{"version":1,"profiles":{"k0":{"errorCount":');
  const time = Number(sides[0].slice("key-carousel.corrupt-".length));
  assert.ok(Math.abs(time - t0) < 5000, `the copy's time ${time}`);
  assert.ok(s.stateWarnings[0].endsWith(`a copy is kept at ${sides[0]}`), s.stateWarnings[0]);
  assert.ok(JSON.parse(items["key-carousel"]).profiles.k0.cooldownUntil > Date.now(), "valid state stored again");
});
