// Must not type-check: a store given something that is not a client, binding or Deno.Kv.
import { redisStore, cloudflareKvStore, denoKvStore } from "key-carousel";

redisStore({ get: async (k: string) => k });
cloudflareKvStore({ get: async (k: string) => k });
denoKvStore({ get: async () => null }, { key: [{}] });
// The store's key is where it reads and writes: not to be changed afterwards.
denoKvStore(null as any).key.push("elsewhere");
