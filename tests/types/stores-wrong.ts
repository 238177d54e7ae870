// Must not type-check: a store given something that is not a client, binding or Deno.Kv.
import { redisStore, cloudflareKvStore, denoKvStore } from "key-carousel";

redisStore({ get: async (k: string) => k });
cloudflareKvStore({ get: async (k: string) => k });
denoKvStore({ get: async () => null }, { key: [{}] });
