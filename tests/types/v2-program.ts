// key-carousel 2's own API, type-checked next to the v1 program (the v1-compatible status
// types must not cost Pool users their v2 fields).
import { Pool, FailoverError, AllProfilesExhaustedError, type DetailedPoolStatus, type PoolStatus, type ProfileStatus, type RunResult } from "key-carousel";
import type { PoolEvents, PoolMetrics, RestEvent, ModelCooldownStatus } from "key-carousel";

const pool = new Pool({
  profiles: [{ id: "k0", provider: "openai", apiKey: "sk-1" }],
  policy: { format: { rotate: true, schedule: "transient" } },
  clock: () => Date.now(),
});

async function main(): Promise<void> {
  const res: RunResult<number> = await pool.run(({ apiKey, signal }) => {
    if (signal?.aborted) throw new FailoverError("late", { reason: "timeout", retryAfterMs: 1000 });
    return apiKey.length;
  });
  const cooldowns: (number | undefined)[] = res.attempts.map((a) => a.cooldownMs);
  const s: DetailedPoolStatus = pool.getStatus();
  const p: ProfileStatus = s.profiles[0];
  const inFlight: number = p.inFlight + p.remainingMs;
  const disabled: number = s.totalDisabled;
  const v1view: PoolStatus = pool.getStatus();
  console.log(cooldowns, inFlight, disabled, v1view.totalAvailable, p.remainingMs);
  pool.markFailure("k0", "rate_limit", { retryAfterMs: 5 });
  // A task may return any thenable, or a promise on one path and a value on another: run awaits it.
  const thenable: PromiseLike<number> = { then: (ok) => Promise.resolve(ok?.(5)) as never };
  const fromThenable: RunResult<number> = await pool.run(() => thenable);
  const mixed: RunResult<number | string> = await pool.run<number | string>(() => (Math.random() > 0.5 ? Promise.resolve(1) : "a"));
  console.log(fromThenable.value, mixed.value);
}
void main();

// Issue 8: weights, strategy, schedules, sessions, model scope, events, metrics.
const weighted = new Pool({
  profiles: [
    { provider: "openai", apiKey: "sk-1", weight: 3 },
    { provider: "openai", apiKey: "sk-2" },
  ],
  strategy: "round-robin",
  schedules: { transient: [30_000, 60_000], long: { baseMs: 3_600_000, factor: 2, capMs: 86_400_000 } },
  sessions: { max: 100 },
  policy: { server_error: { scope: "model" }, rate_limit: { scope: "key" } },
});
new Pool({ profiles: [{ provider: "openai", apiKey: "sk-1" }], strategy: "priority", schedules: "gentle" });

async function issue8(): Promise<void> {
  await weighted.run(({ model }) => model, { session: "conversation-42", model: "gpt-4o" });
  const onRest = (e: RestEvent): void => console.log(e.profileId, e.until, e.scope, e.widened === true);
  weighted.on("cooldown", onRest).on("disabled", onRest);
  weighted.on("recover", (e) => console.log(e.profileId, e.scope, e.at));
  weighted.on("exhausted", (e: PoolEvents["exhausted"]) => console.log(e.retryAt ?? e.attempts));
  weighted.on("persist-error", (e) => console.log(e.store, e.operation, e.error));
  weighted.off("cooldown", onRest);
  const m: PoolMetrics = weighted.metrics();
  const rl: number = m.profiles[0].failures.rate_limit + m.totals.exhausted;
  const mc: ModelCooldownStatus[] = weighted.getStatus().profiles[0].modelCooldowns ?? [];
  weighted.markFailure("x", "rate_limit", { model: "gpt-4o" });
  weighted.markSuccess("x", { model: "gpt-4o" });
  console.log(rl, mc.map((c) => c.model + c.remainingMs));
}
void issue8();

// Read-only input (`as const`, frozen config) is accepted, as the runtime accepts it.
const frozenProfiles = [{ provider: "openai", apiKey: "sk-1" }] as const;
new Pool({ profiles: frozenProfiles, schedules: { transient: [1_000, 5_000] as const } });

// The README's "When is a key available again?" example, under --strict.
async function retryHeader(setHeader: (name: string, value: number) => void): Promise<void> {
  try {
    await pool.run(async () => 1, { model: "gpt-4o", maxWaitMs: 5_000 });
  } catch (err) {
    if (err instanceof AllProfilesExhaustedError && err.retryAfterMs !== undefined) {
      setHeader("retry-after", Math.ceil(err.retryAfterMs / 1000));
    }
  }
}
void retryHeader;
