// The public API, the same in every runtime. A runtime entry (entries/) loads the
// WebAssembly module first, then re-exports this.

import { Pool } from "./pool.js";
import { LlmKeyPool } from "./v1.js";
import { FailoverError, AllProfilesExhaustedError, ConfigError } from "./errors.js";
import { classifyError } from "./classify.js";
import { REASONS as FAILURE_REASONS } from "./reasons.js";
import { memoryStore, webStorageStore } from "./stores.js";
import { redisStore } from "./redis.js";
import { cloudflareKvStore, denoKvStore } from "./kv.js";
import { mergeSnapshots } from "./snapshot.js";
import { named } from "./names.js";

named({ Pool, LlmKeyPool, FailoverError, AllProfilesExhaustedError, ConfigError, classifyError, memoryStore, webStorageStore, redisStore, cloudflareKvStore, denoKvStore, mergeSnapshots });

export { Pool, LlmKeyPool, FailoverError, AllProfilesExhaustedError, ConfigError, classifyError, FAILURE_REASONS, memoryStore, webStorageStore, redisStore, cloudflareKvStore, denoKvStore, mergeSnapshots };
