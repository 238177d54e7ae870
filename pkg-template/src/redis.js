// redisStore: the state in one Redis string, merged on the server by a Lua script, so every
// write is one atomic read-merge-write however many machines share the key.
//
// The script (redis-script.js, imported at the store's first write) implements the merge
// rule of src/snapshot.rs exactly (the key, its tie-breakers, the winner's event time written
// back as `updatedAt`) and the validation of src/snapshot.js's parseState (what is dropped,
// what makes the whole value unusable); tests/node/redis.test.mjs checks it against
// mergeSnapshots on random states. It parses
// JSON itself: Redis's cjson cannot tell `[]` from `{}` and rounds numbers to 14 digits.
// One difference no writer produces: `-0` (JSON.stringify writes 0) equals 0 in Lua, while
// the core orders it just below 0.
//
// The client is the user's: ioredis, or node-redis (`redis` v4/v5), told apart by their API
// (node-redis has `evalSha`, ioredis `evalsha`). Nothing here imports either.

import { errorMessage } from "./errors.js";
import { FOUND } from "./persist.js";
import { REASONS } from "./reasons.js";

const EMPTY = '{"version":1,"profiles":{}}';

/** Reasons ranked as the core compares their names (byte order), from 1; absent is 0. */
const ranks = () => [...REASONS].sort().map((r, i) => `${r} = ${i + 1}`).join(", ");

/**
 * The merge script's source and SHA-1 (its name for EVALSHA), from redis-script.js: imported
 * at the first write, once (exported for the tests).
 */
let script = null;
export function mergeScript() {
  script ??= import("./redis-script.js").then(
    ({ LUA_MERGE, sha1Hex }) => {
      const source = LUA_MERGE.replace("@RANKS@", ranks());
      return { source, sha: sha1Hex(source) };
    },
    (e) => {
      script = null; // the next write tries again
      throw e;
    },
  );
  return script;
}

/** A reply as text (a client configured to return Buffers gives bytes). */
function text(v) {
  if (v === null || v === undefined || typeof v === "string") return v ?? null;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return String(v);
}

/** The commands the store needs, on whichever client it was given. */
function clientOps(client) {
  const has = (name) => client !== null && (typeof client === "object" || typeof client === "function") && typeof client[name] === "function";
  // node-redis (`redis` v4, v5): camelCase commands taking option objects.
  if (has("evalSha") && has("eval") && has("get") && has("set")) {
    return {
      kind: "redis",
      prefix: "",
      evalsha: (sha, keys, args) => client.evalSha(sha, { keys, arguments: args }),
      eval: (src, keys, args) => client.eval(src, { keys, arguments: args }),
      get: (k) => client.get(k),
      setNx: async (k, v) => (await client.set(k, v, { NX: true })) !== null,
    };
  }
  // ioredis (and clients with its API): lowercase commands with positional arguments.
  if (has("evalsha") && has("eval") && has("get") && has("set")) {
    const prefix = client.options?.keyPrefix;
    return {
      kind: "ioredis",
      // ioredis puts it before every key a command names (the script's too).
      prefix: typeof prefix === "string" ? prefix : "",
      evalsha: (sha, keys, args) => client.evalsha(sha, keys.length, ...keys, ...args),
      eval: (src, keys, args) => client.eval(src, keys.length, ...keys, ...args),
      get: (k) => client.get(k),
      setNx: async (k, v) => (await client.set(k, v, "NX")) !== null,
    };
  }
  throw new TypeError("redisStore(client): client must be an ioredis client or a node-redis (`redis` v4/v5) client");
}

/**
 * Where the script keeps a bad value: `<key>:corrupt:<time>` in the state's hash slot, as
 * Redis Cluster runs a script only on keys of one slot (CROSSSLOT otherwise, and no write
 * would work): after the key when it has a hash tag (`{...}`, with the client's keyPrefix),
 * else with the whole key as the tag, `{<key>}:corrupt:<time>`, which hashes as the key does.
 * A key holding "}" but no tag (nor a tag of its own) keeps the plain name.
 */
function sideKeyOf(key, prefix) {
  const full = prefix + key;
  const open = full.indexOf("{");
  const tagged = open >= 0 && full.indexOf("}", open + 1) > open + 1;
  if (tagged || full.includes("}") || prefix.includes("{")) return () => `${key}:corrupt:${Date.now()}`;
  return () => `{${full}}:corrupt:${Date.now()}`;
}

/**
 * Keeps the state in the Redis string at `key` (default "key-carousel"), shared by every
 * process and machine using that key. Each write is one script run on the server (EVALSHA,
 * EVAL when the server does not have it yet): it reads the stored state, merges the pool's
 * state into it with the core's rule and stores the result, atomically; the pool then merges
 * the result in, so it learns what the others wrote. A bad stored value (not JSON, another
 * version, wrong types, or a key of another Redis type) is copied to
 * `{<key>}:corrupt:<time>` (`<key>:corrupt:<time>` for a key with a hash tag) by the same script (a key of another type is renamed there) and
 * the pool starts fresh.
 */
export function redisStore(client, options = {}) {
  const ops = clientOps(client);
  if (options === null || typeof options !== "object") throw new TypeError("redisStore options must be an object { key? }");
  const key = options.key ?? "key-carousel";
  if (typeof key !== "string" || key === "") throw new TypeError("redisStore: key must be a non-empty string");
  const sideKey = sideKeyOf(key, ops.prefix);
  /** Bad values the script has copied, by text -> where, until the pool asks (keepCorrupt). */
  const kept = new Map();
  /** Bad values the script found while keeping another: reported by the next update. */
  let found = [];

  /** `now`: the pool's clock, by which the script forgets stale records the pool did not send. */
  async function merge(stateText, now) {
    const keys = [key, sideKey()];
    const args = now === undefined ? [stateText] : [stateText, String(now)];
    const { source, sha } = await mergeScript();
    let reply;
    try {
      reply = await ops.evalsha(sha, keys, args);
    } catch (e) {
      if (!/^NOSCRIPT/.test(errorMessage(e))) throw e;
      reply = await ops.eval(source, keys, args); // also caches it on the server
    }
    if (!Array.isArray(reply) || reply.length < 1) throw new Error(`redisStore: unexpected reply from the merge script: ${String(reply)}`);
    const merged = text(reply[0]);
    if (reply.length < 3) return { merged, bad: null };
    const bad = { raw: text(reply[1]), side: text(reply[2]) };
    kept.set(bad.raw, bad.side);
    return { merged, bad };
  }

  return {
    name: `redis key ${JSON.stringify(key)}`,
    /** Which client API was recognised: "ioredis" or "redis" (node-redis). */
    client: ops.kind,
    key,
    async load() {
      try {
        return text(await ops.get(key));
      } catch (e) {
        if (!/^WRONGTYPE/.test(errorMessage(e))) throw e;
        // A key of another Redis type is a bad value, not an unreachable store: the script
        // moves it aside (storing an empty state), and the pool is told of it as of any bad
        // value (one warning; keepCorrupt names the copy).
        const { bad } = await merge(EMPTY);
        return bad === null ? text(await ops.get(key)) : bad.raw;
      }
    },
    async update(mergeInto, context) {
      const now = typeof context?.now === "number" && Number.isFinite(context.now) ? context.now : undefined;
      const { merged, bad } = await merge(JSON.stringify(mergeInto(null)), now);
      const report = bad ? [...found, bad] : found;
      found = [];
      // The pool warns (once per value) and asks keepCorrupt, which names the copy; FOUND:
      // the script copied it before storing the merge, so the pool has nothing to stop.
      for (const b of report) {
        mergeInto(b.raw, FOUND);
        kept.delete(b.raw); // asked for at once, or not at all: a value the pool warned about before
      }
      return merged;
    },
    async keepCorrupt(raw) {
      const value = typeof raw === "string" ? raw : JSON.stringify(raw);
      const side = kept.get(value);
      if (side !== undefined) {
        kept.delete(value);
        return side;
      }
      // Found by load(): the script copies it, if it is still stored, and stores the
      // usable rest (or an empty state).
      const { bad } = await merge(EMPTY);
      if (bad !== null) {
        if (bad.raw === value) {
          kept.delete(value);
          return bad.side;
        }
        found.push(bad); // another bad value, stored meanwhile: reported by the next update
      }
      // Replaced meanwhile: keep the copy of what was loaded here.
      for (let i = 0; ; i++) {
        const k = `${sideKey()}${i ? `-${i}` : ""}`;
        if (await ops.setNx(k, value)) return k;
        if (i > 100) throw new Error(`redisStore: no free key for the copy of a bad value (${k})`);
      }
    },
  };
}
