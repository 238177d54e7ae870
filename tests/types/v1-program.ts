// A program written against key-carousel 1.1.0's types, unchanged. tests/node/v1-compat.test.mjs
// type-checks it against v1's own declarations (it is a real v1 program) and against ours.
import {
  AllProfilesExhaustedError,
  classifyError,
  FailoverError,
  LlmKeyPool,
  type CooldownConfig,
  type FailedAttempt,
  type FailureReason,
  type FallbackModelDefinition,
  type LlmKeyPoolConfig,
  type LlmKeyPoolResult,
  type Logger,
  type PoolStatus,
  type ProfileContext,
  type ProfileDefinition,
  type RunOptions,
} from "key-carousel";

const profiles: ProfileDefinition[] = [
  { id: "openai-main", provider: "openai", model: "gpt-4o", apiKey: "sk-1" },
  { provider: "openai", apiKey: "sk-2" },
  { provider: "anthropic", model: "claude-3-5-sonnet-latest", apiKey: "sk-ant-1" },
];
const fallbackModels: FallbackModelDefinition[] = [{ provider: "anthropic", model: "claude-3-5-haiku-latest" }];
const cooldowns: CooldownConfig = { maxRateLimitCooldownMs: 600_000, failureWindowMs: 3_600_000 };
const logger: Logger = { warn: (msg: string) => console.warn(msg), info: console.info };
const config: LlmKeyPoolConfig = { profiles, fallbackModels, cooldowns, logger, maxWaitMs: 30_000, storagePath: "/tmp/kc-state.json" };
// A config built up step by step, as v1's mutable arrays allowed.
const built: LlmKeyPoolConfig = { profiles: [] };
built.profiles.push({ provider: "openai", apiKey: "sk-built" });
(built.fallbackModels ??= []).push({ provider: "openai", model: "gpt-4o-mini" });
const list: ProfileDefinition[] = built.profiles;
new LlmKeyPool({ ...built, profiles: list });

const pool = new LlmKeyPool(config);

async function callModel(ctx: ProfileContext, prompt: string): Promise<string> {
  if (prompt === "") throw new FailoverError("empty answer", { reason: "format", isTimeout: false });
  return `${ctx.provider}/${ctx.model} (${ctx.profileId}) answered ${prompt.length} chars`;
}

async function main(): Promise<void> {
  await pool.init();
  const controller = new AbortController();
  const opts: RunOptions = { provider: "openai", model: "gpt-4o-mini", label: "agent", signal: controller.signal, maxWaitMs: 5_000 };
  try {
    const result: LlmKeyPoolResult<string> = await pool.run((ctx) => callModel(ctx, "hello"), opts);
    const failed: FailedAttempt[] = result.attempts;
    console.log(result.value.toUpperCase(), result.profileId, result.provider, result.model, failed.length);
    const n: number = (await pool.run<number>(async ({ apiKey }) => apiKey.length)).value;
    console.log(n);
  } catch (err) {
    if (err instanceof AllProfilesExhaustedError) {
      for (const a of err.attempts) console.error(a.profileId, a.provider, a.model, a.reason, a.error);
    } else if (err instanceof FailoverError) {
      const r: FailureReason = err.failureReason;
      console.error(r, err.isTimeout);
    }
    const reason: FailureReason = classifyError(err);
    await pool.markFailure("openai-main", reason);
  }
  await pool.markSuccess("openai-main");
  await pool.clearCooldown("profile-1");
  const cooling: boolean = pool.isInCooldown("profile-1");
  const status: PoolStatus = pool.getStatus();
  for (const p of status.profiles) {
    const until: number | undefined = p.cooldownUntil;
    console.log(p.id, p.provider, p.model ?? "-", p.state, until, p.errorCount, p.lastUsed, p.lastFailure);
  }
  console.log(cooling, status.totalAvailable, status.totalInCooldown, status.unavailableReason);
  // A status handed to a logging helper typed for any plain object (v1's types are aliases).
  const logFields = (fields: Record<string, unknown>): number => Object.keys(fields).length;
  logFields(status);
  for (const p of status.profiles) logFields(p);

  // A test double written against v1's status type.
  const fake: PoolStatus = {
    profiles: [{ id: "a", provider: "openai", state: "cooldown", cooldownUntil: 1, errorCount: 2 }],
    totalAvailable: 0,
    totalInCooldown: 1,
    unavailableReason: "rate_limit",
  };
  const exhausted = new AllProfilesExhaustedError([{ profileId: "a", provider: "openai", model: "gpt-4o", error: "429", reason: "rate_limit" }]);
  console.log(fake, exhausted.message);
}

class LoggingPool extends LlmKeyPool {
  override async markFailure(profileId: string, reason: FailureReason): Promise<void> {
    console.log("failure", profileId, reason);
    await super.markFailure(profileId, reason);
  }
}
new LoggingPool(config);

void main();
