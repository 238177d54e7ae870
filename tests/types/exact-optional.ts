// The README's configuration, with optional fields that may be undefined (environment
// variables), under exactOptionalPropertyTypes: the runtime takes a present-but-undefined
// field as absent, so the types do too.
import {
  Pool,
  LlmKeyPool,
  memoryStore,
  FailoverError,
  AllProfilesExhaustedError,
  redisStore,
  webStorageStore,
  cloudflareKvStore,
  denoKvStore,
  type IoRedisLike,
  type WebStorageLike,
  type KvNamespaceLike,
  type DenoKvLike,
} from "key-carousel";
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

// Every other optional field too: policy, schedules, sessions, marks, errors and stores (was:
// 12 of them refused undefined).
declare const ms: number | undefined;
declare const ioredis: IoRedisLike;
declare const storage: WebStorageLike;
declare const kv: KvNamespaceLike;
declare const denoKv: DenoKvLike;
const profiles = [{ provider: "openai", apiKey: "sk-cccccccccccccccc" }];
export const tuned = new Pool({
  profiles,
  policy: { format: env.STRICT ? { rotate: false } : undefined },
  schedules: { transient: env.T ? [1000] : undefined, long: undefined },
  sessions: { max: ms },
});
export const geometric = new Pool({ profiles, schedules: { transient: { baseMs: 1000, capMs: 60_000, factor: ms } } });
tuned.markFailure("x", "rate_limit", { retryAfterMs: ms, model: env.MODEL });
tuned.markSuccess("x", { model: env.MODEL });
export const errors = [
  new FailoverError("x", { reason: undefined, isTimeout: undefined, retryAfterMs: ms }),
  new AllProfilesExhaustedError([], { retryAt: ms, retryAfterMs: ms }),
];
export const stores = [
  redisStore(ioredis, { key: env.KEY }),
  webStorageStore(storage, { key: env.KEY }),
  cloudflareKvStore(kv, { key: env.KEY, minWriteIntervalMs: ms }),
  denoKvStore(denoKv, { key: env.KEY }),
];
