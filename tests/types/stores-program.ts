// The stores with the real clients' and bindings' types: ioredis, node-redis 5 and 4, a
// Workers KV namespace (@cloudflare/workers-types). Type-checked by tests/node/store-types.test.mjs.
import { Pool, redisStore, cloudflareKvStore, type StateStore } from "key-carousel";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { createClient as createClient4 } from "redis4";
import type { KVNamespace } from "@cloudflare/workers-types/index.ts";

const profiles = [{ id: "k0", provider: "openai", apiKey: "sk-1" }];

async function main(kv: KVNamespace): Promise<void> {
  const io = new Redis("redis://127.0.0.1:6379");
  const a = redisStore(io, { key: "my-app:llm-keys" });
  const kind: "ioredis" | "redis" = a.client;

  const client = await createClient({ url: "redis://127.0.0.1:6379" }).on("error", console.error).connect();
  const b: StateStore = redisStore(client);

  const client4 = createClient4({ url: "redis://127.0.0.1:6379" });
  await client4.connect();
  const c = redisStore(client4);

  const d = cloudflareKvStore(kv, { key: "llm-keys", minWriteIntervalMs: 1000 });
  const key: string = d.key;

  for (const storage of [a, b, c, d]) {
    const pool = new Pool({ profiles, storage });
    await pool.flush();
  }
  console.log(kind, key);
}
void main;
