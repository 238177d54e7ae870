// The `key-carousel` command (pkg/cli.cjs, the package's bin): status and clear of a state file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { LlmKeyPool, Pool } from "key-carousel";
import { fileStore } from "key-carousel/file";
import { MIN, keys } from "./helpers.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = join(root, "pkg", "cli.cjs");

/** Runs the CLI; resolves with { code, stdout, stderr } (never rejects on a non-zero exit). */
async function run(args, env = {}) {
  const clean = { ...process.env, ...env };
  delete clean.FORCE_COLOR;
  delete clean.NO_COLOR;
  Object.assign(clean, env);
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], { env: clean, maxBuffer: 256 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), "kc-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A state file written by a real pool: k0 cooling, k1 resting for gpt-4o, k2 disabled. */
async function stateFile(dir) {
  const path = join(dir, "state.json");
  const pool = new Pool({ profiles: keys(4), storage: fileStore(path) });
  await pool.init();
  await pool.run(() => 1); // k0 used
  pool.markFailure("k0", "rate_limit");
  pool.markFailure("k1", "rate_limit", { model: "gpt-4o" });
  pool.markFailure("k2", "billing");
  await pool.close();
  return path;
}

test("the package has a key-carousel bin pointing at the built CLI", () => {
  const pkg = JSON.parse(readFileSync(join(root, "pkg", "package.json"), "utf8"));
  assert.deepEqual(pkg.bin, { "key-carousel": "./cli.cjs" });
  // The tarball users install carries it (package.json "files" is a list of globs).
  const packed = JSON.parse(execFileSync("npm", ["pack", join(root, "pkg"), "--dry-run", "--json"], { encoding: "utf8" }))[0];
  assert.ok(packed.files.some((f) => f.path === "cli.cjs"), packed.files.map((f) => f.path).join(", "));
  assert.ok(readFileSync(cli, "utf8").startsWith("#!/usr/bin/env node\n"));
});

test("status prints a table: profile, state, reason, cooldown remaining, errors, last used (no colours off a TTY)", async (t) => {
  const path = await stateFile(tempDir(t));
  const { code, stdout, stderr } = await run(["status", path]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  const lines = stdout.trimEnd().split("\n");
  assert.match(lines[0], /^profile\s+state\s+reason\s+cooldown remaining\s+errors\s+last used$/);
  const row = (id) => lines.find((l) => l.startsWith(id)).split(/\s{2,}/);
  const [, s0, r0, left0, e0, used0] = row("k0");
  assert.deepEqual([s0, r0, e0], ["cooldown", "rate_limit", "1"]);
  assert.match(left0, /^(5\ds|1m 00s)$/); // a minute's rest, read up to 10 s later on a loaded machine
  assert.match(used0, /^\d+s ago$/);
  assert.deepEqual(row("k1"), ["k1", "available", "-", "-", "0", "never"]);
  const model = lines.find((l) => l.startsWith("  gpt-4o")).trim().split(/\s{2,}/);
  assert.deepEqual(model.slice(0, 3), ["gpt-4o", "cooldown", "rate_limit"]);
  assert.equal(model[4], "1");
  assert.deepEqual(row("k2").slice(1, 3), ["disabled", "billing"]);
  assert.match(row("k2")[3], /^(5h 00m|4h 59m)$/);
  assert.deepEqual(row("k3"), ["k3", "available", "-", "-", "0", "never"]);
  assert.equal(lines.at(-1), "2 available, 1 in cooldown, 1 disabled");
  assert.ok(!stdout.includes("\u001b["), "no colours when stdout is not a TTY");

  const coloured = await run(["status", path], { FORCE_COLOR: "1" });
  assert.match(coloured.stdout, /\u001b\[33mcooldown/);
  assert.match(coloured.stdout, /\u001b\[31mdisabled/);
  assert.match(coloured.stdout, /\u001b\[32mavailable/);
  for (const off of ["0", "false"]) {
    assert.ok(!(await run(["status", path], { FORCE_COLOR: off })).stdout.includes("\u001b["), `FORCE_COLOR=${off}: no colours (was: "false" turned them on)`);
  }
});

test("status --json gives the same facts as JSON", async (t) => {
  const path = await stateFile(tempDir(t));
  const before = Date.now();
  const { code, stdout } = await run(["status", "--json", path]);
  assert.equal(code, 0);
  const s = JSON.parse(stdout);
  assert.equal(s.file, path);
  assert.ok(s.now >= before);
  assert.deepEqual(s.profiles.map((p) => [p.id, p.state, p.reason, p.errorCount]), [
    ["k0", "cooldown", "rate_limit", 1],
    ["k1", "available", undefined, 0],
    ["k2", "disabled", "billing", 1],
    ["k3", "available", undefined, 0],
  ]);
  const k0 = s.profiles[0];
  assert.equal(k0.remainingMs, k0.cooldownUntil - s.now);
  assert.ok(k0.remainingMs > 0 && k0.remainingMs <= MIN);
  assert.equal(typeof k0.lastUsed, "number");
  assert.deepEqual(s.profiles[1].modelCooldowns.map((m) => [m.model, m.state, m.reason, m.errorCount]), [["gpt-4o", "cooldown", "rate_limit", 1]]);
  assert.deepEqual([s.totalAvailable, s.totalInCooldown, s.totalDisabled, s.nextAvailableAt], [2, 1, 1, undefined]);
});

test("clear ends a profile's rests through the file store's lock and merge; pools see it", async (t) => {
  const dir = tempDir(t);
  const path = await stateFile(dir);
  const { code, stdout, stderr } = await run(["clear", path, "k1"]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^cleared k1 in .*state\.json: 1 cooldown\(s\) ended, error count reset\n$/);
  const k1 = JSON.parse(readFileSync(path, "utf8")).profiles.k1.models["gpt-4o"];
  assert.equal(k1.cooldownUntil, undefined);
  assert.equal(k1.errorCount, 0);
  assert.equal(k1.lastFailureReason, "rate_limit"); // history kept

  // A pool that still holds k0's cooldown in memory learns of the clearing at its next write.
  const running = new Pool({ profiles: keys(4), storage: fileStore(path) });
  await running.init();
  assert.equal(running.getStatus().profiles[0].state, "cooldown");
  assert.equal((await run(["clear", path, "k0"])).code, 0);
  running.markFailure("k3", "server_error"); // any write merges the file
  await running.flush();
  const s = running.getStatus().profiles;
  assert.deepEqual([s[0].state, s[0].errorCount], ["available", 0]);
  assert.equal(s[3].state, "cooldown", "the running pool's own failure is kept");
  await running.close();
  // A new pool starts with the cleared state; k2 is still disabled.
  const fresh = new Pool({ profiles: keys(4), storage: fileStore(path) });
  await fresh.init();
  assert.deepEqual(fresh.getStatus().profiles.map((p) => p.state), ["available", "available", "disabled", "cooldown"]);
  await fresh.close();
});

/**
 * `pool` has only the key `id`, resting for a minute, and that rest is written to `path`: a
 * run waits for it, the CLI clears it, and the run must go on within seconds (pools whose
 * runs wait read the file every 2 s: REFRESH_WHILE_WAITING_MS).
 */
async function clearWakesWaitingRun(pool, path, id) {
  const t0 = Date.now();
  const waiting = pool.run(({ profileId }) => profileId);
  const cleared = await run(["clear", path, id]);
  assert.equal(cleared.code, 0, cleared.stderr);
  let timer;
  const res = await Promise.race([waiting, new Promise((r) => (timer = setTimeout(r, 10_000, "still waiting")))]);
  clearTimeout(timer);
  assert.equal(res.value, id, String(res));
  assert.ok(Date.now() - t0 < 5000, `the run went on after ${Date.now() - t0} ms`);
  await pool.close();
}

test("a profile whose id starts with \"-\" (\"-v\", \"--json\") is named after --: cleared, or shown, not taken for an option (was: `clear state.json -v` printed the version, exit 0, and cleared nothing; found by a review)", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "state.json");
  const pool = new Pool({ profiles: [{ id: "-v", provider: "openai", apiKey: "sk-dash-0-xxxxxxxxxxxxxxxxxxxxxxxx" }, { id: "--json", provider: "openai", apiKey: "sk-dash-1-xxxxxxxxxxxxxxxxxxxxxxxx" }], storage: fileStore(path) });
  await pool.init();
  pool.markFailure("-v", "rate_limit");
  pool.markFailure("--json", "rate_limit");
  await pool.close();
  const cleared = await run(["clear", path, "--", "-v"]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /^cleared -v in .*: 1 cooldown\(s\) ended/);
  assert.equal((await run(["clear", path, "--", "--json"])).code, 0);
  const stored = JSON.parse(readFileSync(path, "utf8")).profiles;
  assert.deepEqual([stored["-v"].cooldownUntil, stored["--json"].cooldownUntil], [undefined, undefined]);
  // A file named "--json" after --; the option before it still counts.
  const odd = join(dir, "--json");
  writeFileSync(odd, readFileSync(path));
  const shown = await run(["status", "--json", "--", "--json"], {});
  assert.equal(shown.code, 1); // no file "--json" in the working directory
  const json = await promisify(execFile)(process.execPath, [cli, "status", "--json", "--", "--json"], { cwd: dir });
  assert.equal(JSON.parse(json.stdout).file, "--json");
  // Without --, -v is still the version.
  assert.match((await run(["clear", path, "-v"])).stdout, /^\d+\.\d+\.\d+/);
});

test("clear while a run waits for the only key's rest: the run goes on within seconds (was: until the rest ended, as the pool wrote nothing)", async (t) => {
  const path = join(tempDir(t), "state.json");
  const pool = new Pool({ profiles: keys(1), storage: fileStore(path) });
  await pool.init();
  pool.markFailure("k0", "rate_limit"); // a minute's rest
  await pool.flush();
  await clearWakesWaitingRun(pool, path, "k0");
});

test("clear while an LlmKeyPool run (storagePath) waits for the only key's rest: the run goes on within seconds (was: it slept out the rest)", async (t) => {
  const path = join(tempDir(t), "state.json");
  const pool = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "sk-cli-wake-aaaaaaaaaaaa" }], storagePath: path, logger: { warn() {}, info() {}, error() {} } });
  await pool.init();
  await pool.markFailure("profile-0", "rate_limit"); // a minute's rest, written
  await clearWakesWaitingRun(pool, path, "profile-0");
});

test("clear waits for a live lock instead of taking it over", async (t) => {
  const dir = tempDir(t);
  const path = await stateFile(dir);
  // This test process holds the lock (alive, on this host).
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.pid, hostname: (await import("node:os")).hostname(), token: "test", time: Date.now() }));
  const child = spawn(process.execPath, [cli, "clear", path, "k2"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const exited = new Promise((r) => child.on("close", r)); // after its output is read
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(out, "", "clear must not write while the lock is held");
  assert.equal(JSON.parse(readFileSync(path, "utf8")).profiles.k2.cooldownUntil > Date.now(), true);
  rmSync(`${path}.lock`);
  assert.equal(await exited, 0);
  assert.match(out, /cleared k2/);
  assert.equal(JSON.parse(readFileSync(path, "utf8")).profiles.k2.cooldownUntil, undefined);
  assert.equal(existsSync(`${path}.lock`), false);
});

test("errors: missing file, corrupt file, unknown profile, bad usage", async (t) => {
  const dir = tempDir(t);
  const missing = await run(["status", join(dir, "nope.json")]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `key-carousel: no state file at ${join(dir, "nope.json")}\n`);
  assert.equal((await run(["clear", join(dir, "nope.json"), "k0"])).code, 1);

  const corrupt = join(dir, "corrupt.json");
  writeFileSync(corrupt, '{"version": 1, "profiles": {"k0": {"errorCount": 1}');
  const bad = await run(["status", corrupt]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^key-carousel: .*corrupt\.json is not a usable key-carousel state file: not valid JSON/);
  // A key file given by mistake: the error does not quote it (was: its first 10 characters).
  const keyFile = join(dir, "openai.key");
  writeFileSync(keyFile, "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n");
  const notJson = await run(["status", keyFile]);
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /openai\.key is not a usable key-carousel state file: not valid JSON/);
  assert.doesNotMatch(notJson.stderr, /sk-proj|AbCd/);
  writeFileSync(corrupt, '{"version": 2, "profiles": {}}');
  assert.match((await run(["clear", corrupt, "k0"])).stderr, /unsupported version 2/);
  assert.equal(readFileSync(corrupt, "utf8"), '{"version": 2, "profiles": {}}', "a bad file is left alone");

  const path = await stateFile(dir);
  const unknown = await run(["clear", path, "k9"]);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, `key-carousel: no profile "k9" in ${path} (profiles: k0, k1, k2, k3)\n`);

  for (const args of [[], ["status"], ["clear", path], ["frobnicate", path]]) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, /Usage:\n {2}key-carousel status <state-file> \[--json\]\n {2}key-carousel clear <state-file> <profile>/);
  }
  assert.match((await run(["--help"])).stdout, /^Usage:/);
  // --help after a command is help, not a file name (was: "no state file at --help", exit 1).
  for (const args of [["status", "--help"], ["clear", "-h"], ["status", path, "--help"]]) {
    const r = await run(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /^Usage:/);
  }
  // --version too, alone or after any command (was: a file or profile named "--version").
  const want = `${JSON.parse(readFileSync(join(root, "pkg", "package.json"), "utf8")).version}\n`;
  for (const args of [["--version"], ["-v"], ["status", "--version"], ["status", path, "--version"], ["clear", path, "--version"], ["clear", "-v"]]) {
    const r = await run(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.equal(r.stdout, want, args.join(" "));
  }
});

test("status of a state file with 150,000 profiles: the table and --json (was: Maximum call stack size exceeded)", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "big.json");
  const now = Date.now();
  const profiles = {};
  // Every profile resting, so nextAvailableAt is the soonest of 150,000 rests: 1 h 30 s
  // away, so it still shows as "1h 00m" however long writing and reading the file take (it
  // showed "59m 59s" on a loaded machine when the soonest was 1 h away).
  const soonest = now + 3_630_000;
  for (let i = 0; i < 150_000; i++) profiles[`k${i}`] = { errorCount: 1, lastFailure: now, cooldownUntil: soonest + i, updatedAt: now };
  writeFileSync(path, JSON.stringify({ version: 1, profiles }));
  const table = await run(["status", path]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split("\n");
  assert.equal(lines.length, 1 + 150_000 + 2, "header, a row per profile, a blank line, the totals");
  assert.match(lines[150_000], /^k149999 +cooldown /);
  assert.match(lines.at(-1), /^0 available, 150000 in cooldown, 0 disabled; next available in 1h 00m$/);
  const json = await run(["status", path, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const s = JSON.parse(json.stdout);
  assert.equal(s.profiles.length, 150_000);
  assert.equal(s.nextAvailableAt, soonest);
});

test("status escapes control characters in the file's names (was: printed as they were: a hostile id could move the cursor and erase rows)", async (t) => {
  const path = join(tempDir(t), "state.json");
  const evil = "k\u001b[1A\u001b[2Kx\u009b";
  const rest = { errorCount: 1, lastFailure: Date.now(), cooldownUntil: Date.now() + MIN, updatedAt: Date.now(), lastFailureReason: "rate_limit" };
  writeFileSync(path, JSON.stringify({ version: 1, profiles: { [evil]: { errorCount: 0, models: { "m\u0007": rest } }, k1: { errorCount: 0 } } }));
  const { code, stdout, stderr } = await run(["status", path]);
  assert.equal(code, 0, stderr);
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(stdout), JSON.stringify(stdout));
  assert.ok(stdout.includes("k\\u001b[1A\\u001b[2Kx\\u009b"), stdout);
  assert.ok(stdout.includes("  m\\u0007"), stdout);
});

test("status piped into a reader that stops early (`| head -1`) ends quietly, exit 0 (was: an unhandled EPIPE, a stack trace, exit 1; found by a review)", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "many.json");
  const now = Date.now();
  const profiles = {};
  for (let i = 0; i < 3000; i++) profiles[`key-${i}`] = { errorCount: 1, lastFailure: now, cooldownUntil: now + 600_000, lastFailureReason: "rate_limit", updatedAt: now };
  writeFileSync(path, JSON.stringify({ version: 1, profiles }));
  for (const extra of [[], ["--json"]]) {
    const child = spawn(process.execPath, [cli, "status", path, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.once("data", () => child.stdout.destroy()); // the reader goes away after its first chunk
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(stderr, "", extra.join(" "));
    assert.equal(code, 0, extra.join(" "));
  }
});

test("status of a JSON file whose version is a text that could be a key does not print it (found by a review)", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "odd.json");
  for (const version of ["sk-proj-LEAKLEAKLEAK1234567890", "sk-proj-LEAK"]) {
    writeFileSync(path, JSON.stringify({ version, profiles: {} }));
    const { code, stderr } = await run(["status", path]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`unsupported version \\(a text of ${version.length} characters\\)`));
    assert.doesNotMatch(stderr, /LEAK/);
  }
  writeFileSync(path, JSON.stringify({ version: "2.0", profiles: {} }));
  assert.match((await run(["status", path])).stderr, /unsupported version "2\.0"/);
});

test("clear run as root keeps the state file's owner and group (was: the file became root's, and the app's pool, not root, could no longer read it; found by a review)", { skip: process.getuid?.() !== 0 && "needs root" }, async (t) => {
  const { chownSync, chmodSync, statSync } = await import("node:fs");
  const dir = tempDir(t);
  const path = await stateFile(dir);
  chownSync(path, 65534, 65534);
  chmodSync(path, 0o600);
  const { code, stderr } = await run(["clear", path, "k0"]);
  assert.equal(code, 0, stderr);
  const st = statSync(path);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o600]);
  assert.equal(JSON.parse(readFileSync(path, "utf8")).profiles.k0.cooldownUntil, undefined);
});
