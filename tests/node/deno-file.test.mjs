// The file store in Deno (tests/deno/file-lock.mjs) on a lock left by a process of this host
// that is gone, under two sets of permissions: all (`-A`: `process.kill(pid, 0)` tells the
// owner is gone, the lock is taken at once), and the narrow ones a user gives a file store
// (read/write on its directory, --allow-sys, no --allow-run: Deno refuses signals and /proc,
// so whether the owner lives cannot be known and the lock is taken once older than staleMs,
// as for another host's; was: taken for alive, and every save failed for good).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const deno = join(root, "node_modules", ".bin", "deno");

function runIn(permissions) {
  const dir = mkdtempSync(join(tmpdir(), "kc-deno-file-"));
  const perms = permissions === "all" ? ["-A"] : [`--allow-read=${dir},${join(root, "pkg")}`, `--allow-write=${dir}`, "--allow-sys"];
  const r = spawnSync(deno, ["run", "--no-prompt", ...perms, "tests/deno/file-lock.mjs", dir], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  assert.ifError(r.error); // deno missing: `npm ci` installs it
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

test("Deno with -A: a lock whose owner on this host is gone is taken at once, the failure written", () => {
  const r = runIn("all");
  assert.equal(r.flushed, true, JSON.stringify(r));
  assert.equal(r.cooling, true);
});

test("Deno without --allow-run (signals refused): the dead owner's lock is taken once older than staleMs, the failure written (was: never)", () => {
  const r = runIn("narrow");
  assert.equal(r.flushed, true, JSON.stringify(r));
  assert.equal(r.cooling, true);
  assert.ok(r.ms >= 250, `taken after ${r.ms} ms: before staleMs (300), whether its owner lives cannot be known`);
});

test("Deno.exit() with a change not yet written: the logger says it is lost, once (was: nothing)", () => {
  const r = spawnSync(deno, ["run", "--no-prompt", "--allow-read", "tests/deno/exit-warn.mjs"], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  assert.ifError(r.error);
  assert.equal(r.status, 0, r.stderr);
  const lost = r.stdout.split("\n").filter((l) => l.includes("exiting with state not yet saved"));
  assert.equal(lost.length, 1, r.stdout);
  assert.match(lost[0], /^WARN key-carousel: the process is exiting with state not yet saved to memory/);
});
