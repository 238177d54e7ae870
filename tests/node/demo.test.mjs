// `npm run demo` as a newcomer sees it: the demo runs against the built package, shows
// rotation, a cooldown with its length, the disabled key, the fallback, the final table,
// and never prints a key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const demo = fileURLToPath(new URL("../../examples/demo/demo.mjs", import.meta.url));

test("the demo runs and shows rotation, cooldowns, fallback and the status table", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [demo], { timeout: 30_000 });
  assert.match(stdout, /key-A cooldown for 2\.0s \(reason=rate_limit, errorCount=1\)/);
  assert.match(stdout, /key-B DISABLED for 5h \(reason=billing/);
  assert.match(stdout, /fallback-anthropic-claude-3-5-haiku-latest/);
  assert.match(stdout, /\[redacted\]/);
  assert.match(stdout, /^key-B\s+openai\s+gpt-4o-mini\s+disabled/m);
  assert.doesNotMatch(stdout, /sk-demo/);
});
