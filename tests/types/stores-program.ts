// The stores with the real clients' and bindings' types: ioredis, node-redis 5 and 4, a
// Workers KV namespace (@cloudflare/workers-types). Type-checked by tests/node/store-types.test.mjs.
import { Pool, redisStore, cloudflareKvStore, mergeSnapshots, type StateStore } from "key-carousel";
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
  // Your own store over a client whose set answers "OK" (ioredis), or over a Map.
  const own: StateStore = {
    load: () => io.get("llm-keys"),
    save: (snapshot) => io.set("llm-keys", JSON.stringify(snapshot)),
  };
  const db = new Map<string, string>();
  const inMemory: StateStore = { load: () => db.get("llm-keys") ?? null, save: (snapshot) => db.set("llm-keys", JSON.stringify(snapshot)) };
  const snapshot = mergeSnapshots(await own.load(), await inMemory.load());
  // A key's model-scoped rests are in its record.
  const rest: number | undefined = snapshot.profiles.k0?.models?.["gpt-4o"]?.cooldownUntil;
  console.log(kind, key, rest);
}
void main;
