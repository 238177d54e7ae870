// denoKvStore with Deno's own Deno.Kv type: checked (not run) by tests/node/deno-kv.test.mjs
// with `deno check --unstable-kv`.
// @ts-types="../../pkg/index.d.ts"
import { Pool, denoKvStore } from "../../pkg/index.mjs";

export async function example(): Promise<void> {
  const kv: Deno.Kv = await Deno.openKv();
  const store = denoKvStore(kv, { key: ["my-app", "llm-keys"] });
  const first: string | number | bigint | boolean | Uint8Array = store.key[0];
  const pool = new Pool({ profiles: [{ id: "k0", provider: "openai", apiKey: "sk-1" }], storage: store });
  await pool.flush();
  console.log(first, denoKvStore(kv, { key: "state" }).name);
}
