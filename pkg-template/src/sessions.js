// Sticky sessions: which profile each session was last served by, for `run(task, { session })`.
// A least-recently-used map of at most `max` sessions (a Map keeps insertion order: a
// session used again moves to the end; the first entry is the least recently used).

export const DEFAULT_MAX_SESSIONS = 10_000;

export class Sessions {
  #map = new Map();
  #max;

  constructor(max) {
    this.#max = max;
  }

  get size() {
    return this.#map.size;
  }

  /** The profile index of a session, refreshing it; undefined when unknown. */
  get(session) {
    const idx = this.#map.get(session);
    if (idx !== undefined) {
      this.#map.delete(session);
      this.#map.set(session, idx);
    }
    return idx;
  }

  /**
   * After a call of the session succeeded on `idx`: remembers it, unless that is already
   * what the map holds (`get` made it the most recently used when the call started).
   */
  keep(session, idx) {
    if (this.#map.get(session) !== idx) this.set(session, idx);
  }

  /** Remembers the profile that served a session, forgetting the least recently used beyond `max`. */
  set(session, idx) {
    this.#map.delete(session);
    this.#map.set(session, idx);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value);
  }
}
