// LlmKeyPool's `storagePath`, as v1 users rely on it: the state file is written before
// markFailure/markSuccess/clearCooldown resolve, `init()` loads it, and key-carousel 1.1.0
// and LlmKeyPool read each other's files (a rolling upgrade shares one file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlmKeyPool } from "key-carousel";
import { LlmKeyPool as V1Pool } from "key-carousel-v1";

const profiles = [
  { provider: "openai", apiKey: "sk-v1store-AAAAAAAAAAAAAAAA" },
  { provider: "openai", apiKey: "sk-v1store-BBBBBBBBBBBBBBBB" },
];

function tempFile(t) {
  const dir = mkdtempSync(join(tmpdir(), "kc-v1-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "state.json");
}

const read = (path) => JSON.parse(readFileSync(path, "utf8"));

test("markFailure, markSuccess and clearCooldown resolve after the state file is written", async (t) => {
  const path = tempFile(t);
  const pool = new LlmKeyPool({ profiles, storagePath: path });
  await pool.init();
  await pool.markFailure("profile-0", "rate_limit");
  let saved = read(path);
  assert.equal(saved.version, 1);
  assert.equal(saved.profiles["profile-0"].lastFailureReason, "rate_limit");
  assert.ok(saved.profiles["profile-0"].cooldownUntil > Date.now());
  await pool.markSuccess("profile-1");
  saved = read(path);
  assert.ok(saved.profiles["profile-1"].lastSuccess <= Date.now());
  await pool.clearCooldown("profile-0");
  saved = read(path);
  assert.equal(saved.profiles["profile-0"].cooldownUntil, undefined);
  assert.equal(saved.profiles["profile-0"].errorCount, 0);
  await pool.close();
});

test("a restarted LlmKeyPool loads the cooldowns with init()", async (t) => {
  const path = tempFile(t);
  const a = new LlmKeyPool({ profiles, storagePath: path });
  await a.init();
  await a.markFailure("profile-0", "billing");
  await a.close();
  const b = new LlmKeyPool({ profiles, storagePath: path });
  await b.init();
  assert.equal(b.isInCooldown("profile-0"), true);
  assert.equal(b.getStatus().profiles[0].state, "disabled");
  const r = await b.run(async ({ profileId }) => profileId);
  assert.equal(r.profileId, "profile-1");
  await b.flush();
  assert.ok(read(path).profiles["profile-1"].lastSuccess > 0, "run's success is written by flush");
  await b.close();
});

test("key-carousel 1.1.0 and LlmKeyPool read each other's state files", async (t) => {
  const ours = tempFile(t);
  const pool = new LlmKeyPool({ profiles, storagePath: ours });
  await pool.init();
  await pool.markFailure("profile-1", "rate_limit");
  await pool.close();
  const v1 = new V1Pool({ profiles, storagePath: ours });
  await v1.init();
  assert.equal(v1.isInCooldown("profile-1"), true, "v1 reads our file");
  assert.equal(v1.isInCooldown("profile-0"), false);

  const theirs = tempFile(t);
  const old = new V1Pool({ profiles, storagePath: theirs });
  await old.markFailure("profile-0", "auth_permanent");
  const upgraded = new LlmKeyPool({ profiles, storagePath: theirs });
  await upgraded.init();
  assert.equal(upgraded.isInCooldown("profile-0"), true, "we read v1's file");
  assert.equal(upgraded.getStatus().profiles[0].state, "disabled");
  await upgraded.close();
});
