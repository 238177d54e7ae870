// Deno.exit() with a success-only change not yet written: the logger says it is lost, once.
// Run by tests/node/deno-file.test.mjs as `deno run tests/deno/exit-warn.mjs`.
import { Pool, memoryStore } from "../../pkg/index.deno.mjs";

const pool = new Pool({
  profiles: [{ id: "k0", provider: "openai", apiKey: "sk-deno-exit-0123456789abcdef" }],
  storage: memoryStore(),
  saveIntervalMs: 60_000,
  logger: { warn: (m) => console.log(`WARN ${m}`), error: (m) => console.log(`ERROR ${m}`) },
});
await pool.init();
await pool.run(() => "ok"); // a success-only change, written within a minute
Deno.exit(0);
