// The README's configuration, with optional fields that may be undefined (environment
// variables), under exactOptionalPropertyTypes: the runtime takes a present-but-undefined
// field as absent, so the types do too.
import { Pool, LlmKeyPool, memoryStore } from "key-carousel";
import { fileStore } from "key-carousel/file";

declare const env: Record<string, string | undefined>;

export const pool = new Pool({
  profiles: [{ provider: "openai", apiKey: "sk-aaaaaaaaaaaaaaaa", id: env.ID, model: env.MODEL, weight: undefined }],
  fallbackModels: [{ provider: "anthropic", model: "claude-sonnet-4-5", apiKey: env.ANTHROPIC_KEY }],
  maxWaitMs: env.WAIT ? Number(env.WAIT) : undefined,
  storage: env.STATE ? fileStore(env.STATE, { staleMs: undefined }) : undefined,
  logger: { warn: undefined, error: (m: string) => console.error(m) },
});
export const v1 = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "sk-bbbbbbbbbbbbbbbb" }], storagePath: env.STATE });
export const r = pool.run(({ apiKey }) => apiKey, { model: env.MODEL, signal: undefined });
export const m = memoryStore();
