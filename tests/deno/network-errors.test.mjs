// Deno's fetch errors carry no Node error code: a refused connection is "fetch failed" with a
// cause saying "Connection refused" (run by tests/node/deno-kv.test.mjs with `deno test`).
import { Pool, classifyError } from "../../pkg/index.mjs";

Deno.test("a refused connection is server_error in Deno too (was: unknown; Node says ECONNREFUSED)", async () => {
  // A port that was just free: nothing listens on it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  let thrown;
  try {
    await fetch(`http://127.0.0.1:${port}/`);
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error("the fetch did not fail");
  const reason = classifyError(thrown);
  if (reason !== "server_error") throw new Error(`classified ${reason}: ${thrown} (cause: ${thrown.cause})`);
  // And through a run: the attempt says so, and the key rests as for a 5xx.
  const pool = new Pool({ profiles: [{ id: "k0", provider: "openai", apiKey: "sk-deno-net-0123456789abcdef" }], maxWaitMs: 0 });
  const failed = await pool.run(() => fetch(`http://127.0.0.1:${port}/`)).catch((e) => e);
  if (failed?.attempts?.[0]?.reason !== "server_error") throw new Error(`run: ${JSON.stringify(failed?.attempts)}`);
});
