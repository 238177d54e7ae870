// Sticky sessions: which profile each session was last served by, for `run(task, { session })`.
// A least-recently-used map of at most `max` sessions (a Map keeps insertion order: a
// session used again moves to the end; the first entry is the least recently used).
//
// Evictions go through one live iterator over the keys, kept between calls: a Map iterator
// follows the map through deletions, insertions and rehashing, and every entry before its
// place has been evicted, so its next key is the least recently used. `keys().next()` anew
// each time was O(entries deleted since the last rehash): V8 keeps deleted entries in place
// until then, and a fresh iterator walks over them (6.7 µs an eviction at 10,000 sessions,
// 30–80 µs at 200,000; now 0.3 and 0.7).

export const DEFAULT_MAX_SESSIONS = 10_000;

export class Sessions {
  #map = new Map();
  #max;
  /** The live iterator evictions take the oldest key from (null until the first). */
  #oldest = null;

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
   * After a call of the session succeeded on `idx`: remembers it if the session was
   * forgotten meanwhile. The attempt recorded `idx` when it started (see `set`); a session
   * that holds another profile now was moved by a later attempt of another call, which
   * knows better where it is served (a call sent before a 429 on its key that answers after
   * it must not pull the session back to the resting key).
   */
  keep(session, idx) {
    if (!this.#map.has(session)) this.set(session, idx);
  }

  /**
   * Remembers the profile an attempt of the session was given, forgetting the least
   * recently used beyond `max`.
   */
  set(session, idx) {
    this.#map.delete(session);
    this.#map.set(session, idx);
    if (this.#map.size > this.#max) this.#evict();
  }

  #evict() {
    // The iterator cannot end while the map holds max + 1 >= 2 entries after its place;
    // a new one is made at the first eviction (and, defensively, if it ever did end).
    let next = this.#oldest?.next();
    if (next === undefined || next.done) {
      this.#oldest = this.#map.keys();
      next = this.#oldest.next();
    }
    this.#map.delete(next.value);
  }

  /** The sessions, least recently used first (for tests). */
  keys() {
    return [...this.#map.keys()];
  }
}
