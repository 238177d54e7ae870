// `npm run demo` as a newcomer sees it: the demo runs against the built package, shows
// rotation, a cooldown with its length, the disabled key, the fallback, the final table,
// and never prints a key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const demo = fileURLToPath(new URL("../../examples/demo/demo.mjs", import.meta.url));
/** Runs the demo with its state in `statePath` (a fresh file unless given). */
const runDemo = (statePath = join(mkdtempSync(join(tmpdir(), "kc-demo-")), "state.json")) =>
  promisify(execFile)(process.execPath, [demo], { timeout: 30_000, env: { ...process.env, KC_DEMO_STATE: statePath } });

test("the demo runs and shows rotation, cooldowns, fallback and the status table", async () => {
  const { stdout } = await runDemo();
  assert.match(stdout, /key-A cooldown for 2\.0s \(reason=rate_limit, errorCount=1\)/);
  assert.match(stdout, /key-B DISABLED for 5h \(reason=billing/);
  assert.match(stdout, /fallback-anthropic-claude-3-5-haiku-latest/);
  assert.match(stdout, /\[redacted\]/);
  assert.match(stdout, /^key-B\s+openai\s+gpt-4o-mini\s+disabled/m);
  assert.doesNotMatch(stdout, /sk-demo/);
});

test("run twice, the second run starts with the first run's cooldowns and says so", async () => {
  const statePath = join(mkdtempSync(join(tmpdir(), "kc-demo-")), "state.json");
  const first = (await runDemo(statePath)).stdout;
  assert.match(first, /state file .*state\.json: none yet, a fresh start/);
  assert.match(first, /state saved to .*state\.json; the next run starts from it/);
  const second = (await runDemo(statePath)).stdout;
  assert.match(second, /state file .*state\.json: loaded, saved by the previous run; it starts with [12] resting profile\(s\):/);
  assert.match(second, /~ key-B DISABLED for [45](\.\d)?h more \(reason=billing, errorCount=1\), from the previous run: it will not be called/);
  // key-B is never called again: no request of the second run is served by it or fails on it.
  assert.doesNotMatch(second, /key-B: billing/);
  assert.doesNotMatch(second, /#\d+\s+key-B/);
  assert.match(second, /^key-B\s+openai\s+gpt-4o-mini\s+disabled/m);
});
