// The public API, the same in every runtime. A runtime entry (entries/) loads the
// WebAssembly module first, then re-exports this.

export { Pool } from "./pool.js";
export { LlmKeyPool } from "./v1.js";
export { FailoverError, AllProfilesExhaustedError, ConfigError } from "./errors.js";
export { classifyError } from "./classify.js";
export { REASONS as FAILURE_REASONS } from "./reasons.js";
export { memoryStore, webStorageStore } from "./stores.js";
export { redisStore } from "./redis.js";
export { cloudflareKvStore, denoKvStore } from "./kv.js";
export { mergeSnapshots } from "./snapshot.js";
