// The file store in Deno, on a lock left by a process of this host that is gone, under the
// permissions a user may give: run by tests/node/deno-file.test.mjs as
//   deno run [permissions] tests/deno/file-lock.mjs <dir>
// Prints one JSON line: whether the flush worked, how long it took, what was logged.
import { Pool } from "../../pkg/index.deno.mjs";
import { fileStore } from "../../pkg/file.deno.mjs";
import { hostname } from "node:os";

const dir = Deno.args[0];
const path = `${dir}/llm-keys.json`;
let ns;
try {
  ns = Deno.readLinkSync("/proc/self/ns/pid");
} catch {
  ns = undefined;
}
// pid 2^22 + 1 is above Linux's pid_max limit: no process has it.
Deno.writeTextFileSync(`${path}.lock`, JSON.stringify({ pid: 4194305, hostname: hostname(), ns, token: "t", time: Date.now() }));
const log = [];
const logger = { error: (m) => log.push(m), warn: (m) => log.push(m), info: (m) => log.push(m) };
const pool = new Pool({ profiles: [{ id: "k0", provider: "openai", apiKey: "sk-deno-0123456789" }], storage: fileStore(path, { staleMs: 300, lockTimeoutMs: 5000 }), logger });
pool.markFailure("k0", "rate_limit");
const t0 = Date.now();
let flushed = true;
try {
  await pool.flush();
} catch {
  flushed = false;
}
const ms = Date.now() - t0;
await pool.close().catch(() => {});
let stored = null;
try {
  stored = JSON.parse(Deno.readTextFileSync(path));
} catch {
  stored = null;
}
console.log(JSON.stringify({ flushed, ms, cooling: stored?.profiles?.k0?.cooldownUntil > Date.now(), log }));
