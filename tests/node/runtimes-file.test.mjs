// One state file shared by processes of different runtimes (a service moving from Node to
// Bun or Deno runs both for a while): Node, Bun and Deno processes each fail their own keys
// at the same instant, every failure a write, and none is lost (SPEC §7); a Bun or Deno
// process killed while it holds the file's lock leaves a lock the others take over at once
// (its owner is seen gone, whichever runtime wrote the lock and whichever reads it).
// Bun and Deno come from the dev dependencies (`npm ci`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const writer = join(root, "tests", "node", "fixtures", "runtime-writer.mjs");
const bin = (name) => join(root, "node_modules", ".bin", name);
const COMMAND = { node: [process.execPath], bun: [bin("bun")], deno: [bin("deno"), "run", "-A", "--no-prompt"] };

/** Starts `runtime-writer.mjs` in `runtime`; `exited` resolves to { code, signal, out, err }. */
function start(runtime, ...args) {
  const [cmd, ...pre] = COMMAND[runtime];
  // Node's children keep NODE_OPTIONS (the build the suite tests); Bun and Deno get none.
  const env = { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  if (runtime !== "node") delete env.NODE_OPTIONS;
  const child = spawn(cmd, [...pre, writer, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (err += b));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const exited = new Promise((resolve, reject) => {
    child.on("error", reject); // a runtime missing: `npm ci` installs it
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ runtime, code, signal, out, err });
    });
  });
  return { child, exited, output: () => out };
}

/** The keys the state file at `path` has resting, sorted by number. */
function resting(path) {
  const state = JSON.parse(readFileSync(path, "utf8"));
  const now = Date.now();
  return Object.entries(state.profiles)
    .filter(([, r]) => r.cooldownUntil > now && r.errorCount >= 1)
    .map(([id]) => id)
    .sort((a, b) => a.slice(1) - b.slice(1));
}

const keysOf = (...writers) => writers.flatMap((j) => Array.from({ length: 10 }, (_, i) => `k${j * 10 + i}`));

/** Runs `runtimes[j]` as writer j, all starting at `startAt`; asserts each ended cleanly. */
async function burst(path, runtimes, startAt) {
  const ended = await Promise.all(runtimes.map((runtime, j) => start(runtime, "burst", path, String(j), String(startAt)).exited));
  for (const e of ended) {
    assert.equal(e.code, 0, `${e.runtime}: exit ${e.code} ${e.signal ?? ""}\n${e.err}`);
    assert.deepEqual(JSON.parse(e.out.trim().split("\n").pop()), { runtime: e.runtime, logs: [] });
  }
}

test("Node, Bun and Deno processes failing their own keys of one file at the same instant: no failure lost (2 rounds of 6)", async () => {
  const runtimes = ["node", "bun", "deno", "node", "bun", "deno"];
  for (let round = 0; round < 2; round++) {
    const dir = mkdtempSync(join(tmpdir(), "kc-runtimes-"));
    const path = join(dir, "state.json");
    // Each writer loads and reads the file first, then waits for the same instant.
    await burst(path, runtimes, Date.now() + 2000);
    assert.deepEqual(resting(path), keysOf(0, 1, 2, 3, 4, 5), `round ${round}`);
    assert.deepEqual(readdirSync(dir), ["state.json"], "no lock or temp file left");
  }
});

for (const victim of ["bun", "deno"]) {
  test(`a ${victim} process killed while it holds the lock: Node, Bun and Deno writers take it over at once, nothing lost`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-runtimes-"));
    const path = join(dir, "state.json");
    await burst(path, ["node"], 0); // k0..k9 resting in the file
    const holder = start(victim, "hold", path);
    await new Promise((resolve, reject) => {
      holder.child.stdout.on("data", () => holder.output().includes("locked") && resolve());
      holder.exited.then((e) => reject(new Error(`the holder ended before taking the lock: ${e.err}`)));
    });
    assert.equal(JSON.parse(readFileSync(`${path}.lock`, "utf8")).pid, holder.child.pid, "the lock names the holder");
    holder.child.kill("SIGKILL");
    await holder.exited;
    assert.ok(existsSync(`${path}.lock`), "the dead holder's lock is still there");
    const t0 = Date.now();
    await burst(path, ["node", "node", "bun", "deno"], 0);
    const took = Date.now() - t0;
    // The default staleMs is 10 s: a lock taken for a live owner's would hold them that long.
    assert.ok(took < 8000, `the writers took ${took} ms after the holder was killed`);
    assert.deepEqual(resting(path), keysOf(0, 1, 2, 3), "the writers' keys, and k0..k9 written before the holder's lock");
    assert.deepEqual(readdirSync(dir), ["state.json"], "no lock or temp file left");
  });
}
