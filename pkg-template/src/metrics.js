// Counters for `pool.metrics()`: per profile, successes, failures by reason and rests
// started, since the pool was created (in this process; not persisted). Arrays are
// allocated at the first count, so a pool that never runs costs nothing.

import { REASONS } from "./reasons.js";

const R = REASONS.length;

export class Metrics {
  #n;
  #successes = null;
  #failures = null;
  #cooldowns = null;
  exhausted = 0;

  constructor(n) {
    this.#n = n;
  }

  success(idx) {
    (this.#successes ??= new Float64Array(this.#n))[idx]++;
  }

  failure(idx, reasonCode) {
    (this.#failures ??= new Float64Array(this.#n * R))[idx * R + reasonCode]++;
  }

  cooldown(idx) {
    (this.#cooldowns ??= new Float64Array(this.#n))[idx]++;
  }

  /**
   * The snapshot users get.
   * @param {{ id: string, provider: string, model?: string }[]} profiles
   * @param {(idx: number) => number} inFlight
   */
  snapshot(profiles, inFlight) {
    const totals = { successes: 0, failures: 0, cooldowns: 0, inFlight: 0, exhausted: this.exhausted };
    const out = profiles.map((p, i) => {
      const failures = {};
      let failed = 0;
      for (let r = 0; r < R; r++) {
        const c = this.#failures === null ? 0 : this.#failures[i * R + r];
        failures[REASONS[r]] = c;
        failed += c;
      }
      const row = {
        id: p.id,
        provider: p.provider,
        model: p.model,
        successes: this.#successes === null ? 0 : this.#successes[i],
        failures,
        failuresTotal: failed,
        cooldowns: this.#cooldowns === null ? 0 : this.#cooldowns[i],
        inFlight: inFlight(i),
      };
      totals.successes += row.successes;
      totals.failures += failed;
      totals.cooldowns += row.cooldowns;
      totals.inFlight += row.inFlight;
      return row;
    });
    return { profiles: out, totals };
  }
}
