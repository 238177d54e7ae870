// LlmKeyPool's `storagePath`, as v1 users rely on it: the state file is written before
// markFailure/markSuccess/clearCooldown resolve, `init()` loads it, and key-carousel 1.1.0
// and LlmKeyPool read each other's files (a rolling upgrade shares one file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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

test("with storagePath and fake timers (setTimeout and Date mocked), run settles after a failed attempt without the timers being advanced, as v1's (was: pending until they were); a signal-like { aborted } object is accepted, as v1", async (t) => {
  const realTimeout = globalThis.setTimeout;
  const within = (p, ms) => Promise.race([p, new Promise((r) => realTimeout(r, ms, "still pending (real time)"))]);
  for (const [name, Ctor] of [["v1", V1Pool], ["v2", LlmKeyPool]]) {
    const path = tempFile(t);
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_700_000_000_000 });
    try {
      const pool = new Ctor({ profiles, storagePath: path, maxWaitMs: 0 });
      await pool.init();
      let calls = 0;
      const failsOnce = async () => {
        if (calls++ === 0) throw Object.assign(new Error("Too Many Requests"), { status: 429 });
        return "ok";
      };
      const over = pool.run(failsOnce, { signal: { aborted: false } }).then(
        (r) => `resolved ${r.profileId}`,
        (e) => `rejected ${e.name}: ${e.message}`,
      );
      assert.equal(await within(over, 3000), "resolved profile-1", name);
      assert.equal(read(path).profiles["profile-0"].lastFailureReason, "rate_limit", `${name}: the failure was written before run settled`);
      const exhausted = pool.run(async () => {
        throw Object.assign(new Error("Too Many Requests"), { status: 429 });
      });
      assert.equal(await within(exhausted.then(() => "resolved", (e) => e.name), 3000), "AllProfilesExhaustedError", name);
      await within(pool.close?.(), 3000);
    } finally {
      t.mock.timers.reset();
    }
  }
});

test("run tries the next key once the failure is in the state file, as v1's (was: written only before the run settled)", async (t) => {
  for (const [name, Ctor] of [["key-carousel 1.1.0", V1Pool], ["LlmKeyPool", LlmKeyPool]]) {
    const path = tempFile(t);
    const pool = new Ctor({ profiles, storagePath: path });
    await pool.init();
    let seen;
    const r = await pool.run(async ({ profileId }) => {
      if (profileId === "profile-0") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
      // What another process reading the file now sees.
      seen = existsSync(path) ? read(path).profiles["profile-0"]?.lastFailureReason : "no file";
      return "ok";
    });
    assert.equal(r.profileId, "profile-1", name);
    assert.equal(r.attempts.length, 1, name);
    assert.equal(seen, "rate_limit", `${name}: profile-0's failure, when profile-1's task starts`);
    await pool.close?.();
  }
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

test("rolling upgrade: a clearCooldown by key-carousel 1.1.0 sticks in a file it shares with LlmKeyPool", async (t) => {
  // v1 records no time for a clear: its cleared record ties with the rest it cleared, and wins.
  const path = tempFile(t);
  const v2 = new LlmKeyPool({ profiles, storagePath: path });
  await v2.init();
  await v2.markFailure("profile-0", "rate_limit");
  assert.ok(JSON.parse(readFileSync(path, "utf8")).profiles["profile-0"].cooldownUntil > Date.now());
  const v1 = new V1Pool({ profiles, storagePath: path });
  await v1.init();
  await v1.clearCooldown("profile-0");
  await v2.init(); // picks up what the other process wrote
  assert.equal(v2.isInCooldown("profile-0"), false, "v2 sees the clear");
  await v2.markSuccess("profile-1"); // v2 writes: the clear must not be undone
  const stored = JSON.parse(readFileSync(path, "utf8")).profiles["profile-0"];
  assert.equal(stored.cooldownUntil, undefined);
  assert.equal(stored.errorCount, 0);
  const restarted = new V1Pool({ profiles, storagePath: path });
  await restarted.init();
  assert.equal(restarted.isInCooldown("profile-0"), false);
  await v2.close();
});

test("LlmKeyPool: clearCooldown and markSuccess before the state is loaded end the stored rest, as v1's do", async (t) => {
  for (const mark of ["clearCooldown", "markSuccess"]) {
    const path = tempFile(t);
    const first = new V1Pool({ profiles, storagePath: path });
    await first.markFailure("profile-0", "billing");
    const pool = new LlmKeyPool({ profiles, storagePath: path }); // no init()
    await pool[mark]("profile-0");
    const stored = JSON.parse(readFileSync(path, "utf8")).profiles["profile-0"];
    assert.equal(stored.cooldownUntil, undefined, `${mark}: the stored rest is over`);
    assert.equal(pool.isInCooldown("profile-0"), false, mark);
    const restarted = new LlmKeyPool({ profiles, storagePath: path });
    await restarted.init();
    assert.equal(restarted.isInCooldown("profile-0"), false, mark);
    await pool.close();
    await restarted.close();
  }
});

test("a run's success ends the rest this LlmKeyPool knows, not one stored by another pool that it has not loaded: the file keeps it (was: the success erased it from the file; found by an audit)", async (t) => {
  const path = tempFile(t);
  const other = new LlmKeyPool({ profiles, storagePath: path });
  await other.markFailure("profile-0", "billing");
  await other.close();
  for (const init of [false, true]) {
    // A process that starts on that file: its first run goes to profile-0 (it has not read
    // the file yet, with init() racing the run or without it) and succeeds.
    const pool = new LlmKeyPool({ profiles, storagePath: path });
    const running = pool.run(async ({ profileId }) => profileId);
    if (init) await pool.init();
    assert.equal((await running).profileId, "profile-0");
    await pool.flush();
    const stored = read(path).profiles["profile-0"];
    assert.equal(stored.errorCount, 1, `init ${init}: the stored billing rest is kept: ${JSON.stringify(stored)}`);
    assert.ok(stored.cooldownUntil > Date.now() + 60 * 60_000, `init ${init}: still resting for hours`);
    assert.equal(pool.isInCooldown("profile-0"), true, `init ${init}: the pool has it resting now`);
    await pool.close();
  }
  // A markSuccess is an event: it ends the stored rest, as before.
  const marker = new LlmKeyPool({ profiles, storagePath: path });
  await marker.markSuccess("profile-0");
  assert.equal(read(path).profiles["profile-0"].cooldownUntil, undefined);
  await marker.close();
});
