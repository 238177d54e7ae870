// key-carousel 2's own API, type-checked next to the v1 program (the v1-compatible status
// types must not cost Pool users their v2 fields).
import { Pool, FailoverError, type DetailedPoolStatus, type PoolStatus, type ProfileStatus, type RunResult } from "key-carousel";

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
}
void main();
