// Must not type-check: event payloads are frozen at run time, so the types make them read-only.
import { Pool } from "key-carousel";
const pool = new Pool({ profiles: [{ provider: "openai", apiKey: "sk-dddddddddddddddd" }] });
pool.on("failure", (e) => { e.error = "rewritten"; });
pool.on("cooldown", (e) => { e.cooldownMs = 0; });
