// fileStore: the pool's state in a JSON file shared by any number of processes (Node, Deno,
// Bun: only node:fs, node:path and node:os APIs all three provide).
//
// A write (`update`) runs under a lock file `<path>.lock` (`path` the file a symbolic link
// there points at: see writeTarget):
// 1. create the lock with `wx` (fails if it exists) and write its owner into it: pid,
//    hostname, pid namespace and boot id (Linux), a random token, the time;
// 2. read the file, merge it with the pool's state (the pool's merge callback), write the
//    result to a temp file in the same directory, fsync it, check the lock is still ours,
//    rename the temp file over the file (atomic: readers see the old or the new file, never
//    a partial one), fsync the directory. A file that holds, byte for byte, what the same
//    pool's last write through this store left is not parsed and merged again (it holds
//    nothing the pool lacks), and the pool's snapshot makes its own JSON (snapshot.js,
//    SnapshotBytes: JSON.stringify's, serialising again only the records that changed);
// 3. remove the lock (only if it still holds our token; a read or unlink that fails is tried
//    twice more, then the lock is this process's to take over at its next write).
// A writer that finds the lock taken waits with backoff (1 ms doubling to 50 ms, jittered),
// at most `lockTimeoutMs`, then fails (the pool logs it and retries later). It removes the
// lock only when it is stale:
// - its owner is on this host (same hostname, pid namespace and boot) and is gone: no
//   process has its pid (`process.kill(pid, 0)` → ESRCH), or, on Linux, the process with its pid started
//   at another time than the owner (the pid was reused: /proc/<pid>/stat), or has ended and
//   waits for its parent to reap it (a zombie, which signals still reach);
// - its owner is a worker thread (worker_threads) of a live process and it is older than
//   `staleMs`: no other thread or process can tell whether a thread lives, and a worker
//   terminated (`worker.terminate()`) or crashed in the middle of a write leaves its lock;
// - it is empty a second after it was made (its writer died before writing its owner),
//   whatever `staleMs` says;
// - this process made it and failed to remove it (see 3.);
// - its owner is on another host (its life cannot be checked; also one of the same name with
//   another boot id, which may be this host before it restarted) and it is older than `staleMs`;
//   the same on this host where neither signals nor /proc may be used (Deno without
//   --allow-run and without read access to /proc).
// A live owner's lock is never removed, however old (SPEC §7): a writer that meets a hung
// owner fails after `lockTimeoutMs` and the pool retries later.
// Removal happens under a second lock (`<path>.lock.break`) after checking again that it
// is the same stale lock, so two waiters never remove each other's fresh lock; a break lock
// left by a writer killed while removing is itself removed after a second.
//
// The file is v1's format (`{ "version": 1, "profiles": {...} }`, extra fields per
// profile), so key-carousel 1.1.0 can read it and share it during a rolling upgrade.

import { constants, promises as fsp, readFileSync, readlinkSync } from "node:fs";
import { Buffer } from "node:buffer";
import { basename, dirname, isAbsolute, join } from "node:path";
import { hostname as osHostname } from "node:os";
import { shownName } from "./errors.js";
import { BYTES, WRITER } from "./protocol.js";

/** The stat of the file at `p` (its mode, owner and group), or undefined when there is none (or no stat). */
async function statOf(p) {
  try {
    return await fsp.stat(p);
  } catch {
    return undefined;
  }
}

/** How long a lock may stay empty (created, its owner not yet written) before it is taken over. */
const EMPTY_LOCK_MS = 1000;
const MAX_DELAY_MS = 50;

function thisHost() {
  let host = "";
  try {
    host = osHostname();
  } catch {
    // Deno without --allow-sys: the pid check below is then skipped for other processes.
  }
  let ns = "";
  try {
    ns = readlinkSync("/proc/self/ns/pid"); // e.g. "pid:[4026531836]"; absent off Linux
  } catch {
    // not Linux, or no /proc
  }
  // Which boot of which machine (Linux): two machines may share a hostname (clones, a
  // default name) and the root pid namespace's name, never a boot id.
  let boot = "";
  try {
    boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // not Linux, or no /proc
  }
  return { host, ns, boot, start: startOf(globalThis.process?.pid ?? 0) };
}

/**
 * The fields of /proc/<pid>/stat from the 3rd on (its state, "Z" for a zombie, first), or
 * null where that cannot be read (not Linux, no /proc, no permission, no such process).
 */
function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The 2nd field (the command, in parentheses) may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/**
 * When process `pid` started (clock ticks since boot, /proc/<pid>/stat's 22nd field), or
 * "" where that cannot be read: with the pid it names one process, where a pid alone may
 * be reused after its process ended.
 */
function startOf(pid) {
  return procStat(pid)?.[19] ?? "";
}

function token() {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Tokens of locks this module's writers made and then failed to remove (reading the lock
 * back or unlinking it failed, EMFILE or EIO, after retries). Such a lock names a live
 * process, this one, so no writer would ever take it over: this process's next write does,
 * at once. Only tokens known to be left behind: a lock of this process's that is not in
 * here may be another bundle's (or realm's) live write.
 */
const leftBehind = new Set();

/**
 * This thread's id (worker_threads; 0 in the main thread), imported at the first write, not
 * at load: a pool without a file store never loads the module.
 */
let ownThread;
async function threadIdNow() {
  if (ownThread === undefined) {
    try {
      ownThread = (await import("node:worker_threads")).threadId ?? 0;
    } catch {
      ownThread = 0; // a runtime without worker_threads: no thread is named
    }
  }
  return ownThread;
}

/** The worker thread a lock's owner names (0: the main thread, or none named). */
function threadOf(owner) {
  return Number.isInteger(owner?.thread) && owner.thread > 0 ? owner.thread : 0;
}

/** Whether process `pid` exists: true, false, or undefined when this runtime cannot tell. */
function isAlive(pid) {
  try {
    globalThis.process.kill(pid, 0);
    return true;
  } catch (e) {
    if (e?.code === "ESRCH") return false;
    if (e?.code === "EPERM") return true; // it exists, owned by another user
    // Deno without --allow-run throws NotCapable (no code): signals cannot be sent here.
    return undefined;
  }
}

/**
 * When signals cannot tell: on Linux, /proc can (when it may be read): no /proc/<pid> while
 * /proc/<own pid> is there means the process is gone. undefined when it cannot tell either.
 */
function isAliveByProc(pid) {
  if (startOf(pid) !== "") return true;
  return startOf(globalThis.process.pid) !== "" ? false : undefined;
}

function checkMs(value, name, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
    throw new TypeError(`fileStore: ${name} must be a finite number of ms >= 0`);
  }
  return value;
}

/**
 * The file a write at `path` replaces: `path` itself, or, when `path` is a symbolic link,
 * the file it points at (with any links on the way). The write goes next to that file and
 * is renamed over it, under its lock (`<target>.lock`): the link stays a link, and
 * processes that name the file by the link or by its own path write one file under one
 * lock. (Before, the rename replaced the link with a plain file, and the two paths each
 * had a lock and a file of their own.) A link to a file not made yet: what it points at,
 * at the end of a chain of links too (was: the first link's target, itself a link, which
 * the first write replaced with a file).
 */
async function writeTarget(path) {
  try {
    return await fsp.realpath(path);
  } catch (e) {
    if (e?.code !== "ENOENT") return path;
  }
  // As many links as the system follows in one path (Linux's limit, 40); a longer chain is
  // a loop, which realpath reports as ELOOP rather than ENOENT.
  let at = path;
  for (let i = 0; i < 40; i++) {
    let to;
    try {
      to = await fsp.readlink(at);
    } catch {
      return at; // not a link: the file a write makes
    }
    at = isAbsolute(to) ? to : join(dirname(at), to);
  }
  return path;
}

/** The store error for a state path that is a device, a FIFO or a directory. */
function notAFile(path) {
  return new Error(`${path} is not a regular file: the state needs a file of its own`);
}

/**
 * A store for `new Pool({ storage: fileStore(path) })`; see index.d.ts (`file.d.ts`).
 * @param {string} path
 * @param {{ staleMs?: number, lockTimeoutMs?: number, fsync?: boolean }} [options]
 */
export function fileStore(path, options = {}) {
  if (typeof path !== "string" || path === "") throw new TypeError("fileStore(path): path must be a non-empty string");
  if (options === null || typeof options !== "object") throw new TypeError("fileStore(path, options): options must be an object");
  for (const k of Object.keys(options)) {
    if (!["staleMs", "lockTimeoutMs", "fsync"].includes(k)) throw new TypeError(`fileStore: unknown option ${JSON.stringify(shownName(k))}`);
  }
  const staleMs = checkMs(options.staleMs, "staleMs", 10_000);
  const lockTimeoutMs = checkMs(options.lockTimeoutMs, "lockTimeoutMs", 15_000);
  const fsync = options.fsync ?? true;
  if (typeof fsync !== "boolean") throw new TypeError("fileStore: fsync must be a boolean");

  const me = thisHost();

  // The bytes of the last state read, when they were not valid UTF-8, with the text they decoded to:
  // `keepCorrupt` gets that text (U+FFFD for each bad byte) and copies the bytes instead.
  let undecodable = null;

  async function readOrNull(p) {
    const bytes = await bytesOrNull(p);
    return bytes === null ? null : decoded(bytes);
  }

  /** The file's content as text (remembering bytes that are not valid UTF-8, copied: keepCorrupt). */
  function decoded(bytes) {
    const text = bytes.toString("utf8");
    undecodable = text.includes("\uFFFD") && !Buffer.from(text, "utf8").equals(bytes) ? { text, bytes: Buffer.from(bytes) } : null;
    return text;
  }

  /**
   * What writes read the file into (grown as needed, kept): a large state read into a new
   * buffer at each write had the collector run several times as often.
   */
  let scratch = null;

  /**
   * The file's bytes, or null when there is no file. `reuse`: read into `scratch`, and what
   * is returned is a view of it, good until the next read.
   */
  async function bytesOrNull(p, reuse = false) {
    let handle;
    try {
      // Opened without blocking (a FIFO would wait for a writer) and checked: the state lives
      // in a regular file. A device, a FIFO or a directory (a `storagePath` of "/dev/null") is
      // a store error, logged and retried, not bad content to copy aside and replace (which,
      // as root, replaced /dev/null with a file).
      handle = await fsp.open(p, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
      const stat = await handle.stat();
      if (!stat.isFile()) throw notAFile(p);
      if (!reuse) return await handle.readFile();
      // Room for a byte more than its size: a file that grew meanwhile (a writer that takes no
      // lock, as key-carousel 1) fills it, and is read again whole into a buffer of its own.
      // Made again when too small, or far too large (one large file read once is not kept).
      const room = stat.size + 1;
      if (scratch === null || scratch.length < room || scratch.length > 4 * room + 65536) scratch = Buffer.allocUnsafeSlow(Math.ceil(room * 1.25));
      let n = 0;
      for (;;) {
        const { bytesRead } = await handle.read(scratch, n, scratch.length - n, n);
        if (bytesRead === 0) return scratch.subarray(0, n);
        n += bytesRead;
        if (n === scratch.length) return await fsp.readFile(p);
      }
    } catch (e) {
      if (e?.code === "ENOENT") return null;
      throw e;
    } finally {
      await handle?.close();
    }
  }

  /**
   * The lock and the atomic write of the file at `path` (the file itself: see
   * writeTarget). Its functions close over the paths derived from it.
   */
  function writer(path) {
    const dir = dirname(path);
    const lockPath = `${path}.lock`;
    const breakPath = `${path}.lock.break`;
    const tmpPath = (t) => join(dir, `.${basename(path)}.${t}.tmp`);

    /** The lock as it is now: null when there is none. */
    async function inspectLock() {
      let text, st;
      try {
        st = await fsp.stat(lockPath);
        text = await fsp.readFile(lockPath, "utf8");
      } catch (e) {
        if (e?.code === "ENOENT") return null;
        throw e;
      }
      let owner = null;
      try {
        const o = JSON.parse(text);
        if (o !== null && typeof o === "object") owner = o;
      } catch {
        // Empty or partial: its owner died between creating and writing it, or is writing.
      }
      const now = Date.now();
      // The owner's time, but never later than the file's: an owner whose clock ran ahead
      // (another host) would hold a lock it left for as long as its clock was ahead.
      const since = typeof owner?.time === "number" ? Math.min(owner.time, st.mtimeMs) : st.mtimeMs;
      let stale = null;
      if (typeof owner?.token === "string" && leftBehind.has(owner.token)) {
        stale = "this process made it and failed to remove it";
      } else if (owner === null) {
        // A writer writes its owner right after creating the lock: one still empty after a
        // second was left by a process that died in between (SIGKILL), whose pid is unknown.
        if (now - st.mtimeMs > EMPTY_LOCK_MS) stale = `it has had no owner written for ${Math.round(now - st.mtimeMs)} ms`;
      } else if (
        me.host !== "" &&
        owner.hostname === me.host &&
        (owner.ns ?? "") === me.ns &&
        // An owner that names no boot (an older writer, not Linux) is taken at its hostname's word.
        (typeof owner.boot !== "string" || me.boot === "" || owner.boot === me.boot) &&
        Number.isInteger(owner.pid) &&
        owner.pid > 0
      ) {
        // On this host: stale only when its owner is gone; a live owner's lock is never taken.
        const alive = isAlive(owner.pid) ?? isAliveByProc(owner.pid);
        if (alive === false) stale = `its owner, process ${owner.pid}, is gone`;
        else if (alive === undefined) {
          // Neither signals nor /proc may be used here (Deno's permissions): as for another host.
          if (now - since > staleMs) {
            stale = `it is ${Math.round(now - since)} ms old (staleMs ${staleMs}) and whether its owner, process ${owner.pid}, lives cannot be checked here`;
          }
        } else {
          const proc = procStat(owner.pid);
          const start = proc?.[19] ?? "";
          const thread = threadOf(owner);
          if (typeof owner.start === "string" && owner.start !== "" && start !== "" && start !== owner.start) {
            stale = `its owner, process ${owner.pid}, is gone (the pid is another process's now)`;
          } else if (proc?.[0] === "Z" || proc?.[0] === "X") {
            stale = `its owner, process ${owner.pid}, has ended (its parent has not reaped it yet)`;
          } else if (thread !== 0 && !(owner.pid === globalThis.process?.pid && thread === ownThread) && now - since > staleMs) {
            stale = `it is ${Math.round(now - since)} ms old (staleMs ${staleMs}) and whether its owner, worker thread ${thread} of process ${owner.pid}, lives cannot be checked (a worker that ends while writing leaves its lock)`;
          }
        }
      } else if (now - since > staleMs) {
        const where = owner.hostname === me.host ? "on another host of this name, or on this one before it restarted" : "on another host";
        stale = `it is ${Math.round(now - since)} ms old (staleMs ${staleMs}) and its owner is ${where}`;
      }
      return { text, mtimeMs: st.mtimeMs, owner, stale };
    }

    /** Removes the lock if it is stale; true when the lock is gone now. */
    async function recover(seen) {
      try {
        const fh = await fsp.open(breakPath, "wx");
        await fh.close();
      } catch (e) {
        if (e?.code !== "EEXIST") throw e;
        // Someone else is removing it (for microseconds), or died doing so: one older than
        // an empty lock may be (a second) was left by a writer killed in between.
        try {
          const st = await fsp.stat(breakPath);
          if (Date.now() - st.mtimeMs > EMPTY_LOCK_MS) await fsp.unlink(breakPath);
        } catch {
          // gone meanwhile
        }
        return false;
      }
      try {
        const now = await inspectLock();
        if (now === null) return true;
        if (now.stale === null || now.text !== seen.text || now.mtimeMs !== seen.mtimeMs) return false;
        await fsp.unlink(lockPath);
        if (typeof now.owner?.token === "string") {
          leftBehind.delete(now.owner.token);
          await fsp.unlink(tmpPath(now.owner.token)).catch(() => {});
        }
        return true;
      } finally {
        await fsp.unlink(breakPath).catch(() => {});
      }
    }

    async function acquire() {
      await threadIdNow();
      const t = token();
      const owner = () =>
        JSON.stringify({
          pid: globalThis.process?.pid ?? 0,
          hostname: me.host,
          ns: me.ns || undefined,
          boot: me.boot || undefined,
          start: me.start || undefined,
          // A worker thread's (0 is the main thread: the process's life is the thread's).
          thread: ownThread || undefined,
          token: t,
          time: Date.now(),
        });
      const deadline = Date.now() + lockTimeoutMs;
      let delay = 1;
      let madeDir = false;
      for (;;) {
        let fh;
        try {
          fh = await fsp.open(lockPath, "wx");
        } catch (e) {
          if (e?.code === "ENOENT" && !madeDir) {
            madeDir = true;
            await fsp.mkdir(dir, { recursive: true });
            continue;
          }
          if (e?.code !== "EEXIST") throw e;
        }
        if (fh !== undefined) {
          try {
            await fh.writeFile(owner());
          } catch (e) {
            await fh.close().catch(() => {});
            await fsp.unlink(lockPath).catch(() => {});
            throw e;
          }
          try {
            await fh.close();
          } catch (e) {
            await release(t);
            throw e;
          }
          return t;
        }
        const seen = await inspectLock();
        if (seen === null) continue;
        if (seen.stale !== null && (await recover(seen))) continue;
        if (Date.now() >= deadline) {
          const o = seen.owner;
          const thread = threadOf(o) !== 0 ? `worker thread ${o.thread} of ` : "";
          const who = o ? `${thread}process ${o.pid} on ${JSON.stringify(o.hostname)}` : "an unknown owner";
          throw new Error(`fileStore: ${lockPath} is held by ${who} for more than ${lockTimeoutMs} ms; a live lock is not taken over`);
        }
        await sleep(Math.min(delay * (1 + Math.random()), deadline - Date.now()));
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }

    /** Whether the lock holds token `t`; a read that fails (the lock gone too) throws. */
    async function holdsToken(t) {
      const text = await fsp.readFile(lockPath, "utf8");
      try {
        return JSON.parse(text)?.token === t;
      } catch {
        return false; // not ours: ours is written whole before it is used
      }
    }

    async function ownsLock(t) {
      return holdsToken(t).catch(() => false);
    }

    /**
     * Removes the lock if it still holds token `t`. A read or unlink that fails (not for the
     * lock being gone) is tried twice more; then the token goes to `leftBehind`, so the lock
     * does not stop every later write (was: left for good, a live process's lock).
     */
    async function release(t) {
      for (let tries = 1; ; tries++) {
        try {
          if (await holdsToken(t)) await fsp.unlink(lockPath);
          return;
        } catch (e) {
          if (e?.code === "ENOENT") return;
          if (tries === 3) {
            leftBehind.add(t);
            return;
          }
          await sleep(10 * tries);
        }
      }
    }

    /** Writes the file atomically: `text()` (called once the temp file is open) under lock token `t`. */
    async function writeAtomic(text, t) {
      const tmp = tmpPath(t);
      try {
        // The new file gets the old one's permissions, exactly (the umask narrowed a shared
        // group's 660 to 640), so a state file a user made private stays private, and, where
        // this process may give them (root: `sudo key-carousel clear`), its owner and group,
        // so the app that owns it can still read it (was: root's, mode 600, and the app's pool
        // lost its state). A new file: 666 less the umask.
        const old = await statOf(path);
        const fh = await fsp.open(tmp, "w", old === undefined ? 0o666 : old.mode & 0o777);
        try {
          if (old !== undefined) {
            // Best effort (a runtime's file handle may lack either): what cannot be kept is not.
            const quietly = (f) => Promise.resolve().then(f).catch(() => {});
            await quietly(() => fh.chmod(old.mode & 0o777));
            if (old.uid !== globalThis.process?.geteuid?.() || old.gid !== globalThis.process?.getegid?.()) {
              // Not ours to give (not root): the group alone, where this process is a member of it.
              await quietly(() => fh.chown(old.uid, old.gid).catch(() => fh.chown(-1, old.gid)));
            }
          }
          await fh.writeFile(text());
          if (fsync) await fh.sync();
        } finally {
          await fh.close();
        }
        if (!(await ownsLock(t))) throw new Error(`fileStore: lost ${lockPath} while writing (taken over as stale); not writing`);
        await fsp.rename(tmp, path);
      } catch (e) {
        await fsp.unlink(tmp).catch(() => {});
        throw e;
      }
      if (fsync) {
        // Make the rename itself durable; not every platform can open a directory.
        try {
          const d = await fsp.open(dir, "r");
          try {
            await d.sync();
          } finally {
            await d.close();
          }
        } catch {
          // best effort
        }
      }
    }

    return { path, acquire, release, writeAtomic };
  }

  /**
   * The bytes this store last wrote, where, and for which pool (its WRITER token): while the
   * file still holds exactly those, that pool's next write merges nothing in (`update`).
   */
  let lastWrite = null;

  let current = null;
  /** The writer of the file a write replaces now (a link may be pointed elsewhere meanwhile). */
  async function writerNow() {
    const target = await writeTarget(path);
    if (current === null || current.path !== target) current = writer(target);
    return current;
  }

  return {
    name: `file ${path}`,
    path,
    /** The file's content, or null when there is no file. */
    load() {
      return readOrNull(path);
    },
    /** Read-merge-write under the lock; see the top of this file. */
    async update(merge, context) {
      const w = await writerNow();
      // Before its lock is made next to it: a path that is not a file is refused (readOrNull).
      await fsp.stat(w.path).then(
        (st) => {
          if (!st.isFile()) throw notAFile(w.path);
        },
        (e) => {
          if (e?.code !== "ENOENT") throw e;
        },
      );
      const writer = context?.[WRITER];
      const t = await w.acquire();
      try {
        const stored = await bytesOrNull(w.path, true);
        // The file as this pool's last write through this store left it (nobody wrote since,
        // or somebody wrote the very same bytes): it holds nothing the pool lacks, so nothing
        // is decoded, parsed and merged in. Compared byte for byte, not by the file's times or
        // inode, which a filesystem may keep coarsely or reuse.
        const own = stored !== null && lastWrite !== null && writer !== undefined && lastWrite.writer === writer && lastWrite.path === w.path && stored.equals(lastWrite.bytes);
        const snapshot = merge(own || stored === null ? null : decoded(stored));
        lastWrite = null;
        let bytes;
        // Serialised once the temp file is open: the merge and the serialisation take some
        // milliseconds each for a large state, and the event loop gets turns between them,
        // so its longest stall is one, not both. A pool's snapshot serialises itself (BYTES:
        // the same JSON, made again only for the records that changed since its last write),
        // unless it was read or changed since the pool made it.
        const serialised = () => (typeof snapshot?.[BYTES] === "function" ? snapshot[BYTES]() : undefined) ?? Buffer.from(JSON.stringify(snapshot), "utf8");
        await w.writeAtomic(() => (bytes = serialised()), t);
        if (writer !== undefined) lastWrite = { writer, path: w.path, bytes };
      } finally {
        await w.release(t);
      }
    },
    /**
     * Called by a pool's `close()`: lets go of what the store keeps between writes (the last
     * write's bytes, the read buffer). A pool still writing through this store only merges
     * its own last write in once more.
     */
    close() {
      lastWrite = null;
      scratch = null;
    },
    /** Copies bad content to `<path>.corrupt-<time>` and returns that path. */
    async keepCorrupt(raw) {
      const text = typeof raw === "string" ? raw : JSON.stringify(raw);
      const content = undecodable !== null && undecodable.text === text ? undecodable.bytes : text;
      // The copy is the bad content as it was (a wrong file may hold anything, keys too):
      // readable by whom could read the file, or by its owner alone if that is unknown.
      const mode = ((await statOf(path))?.mode ?? 0o600) & 0o777;
      for (let i = 0; ; i++) {
        const p = `${path}.corrupt-${Date.now()}${i ? `-${i}` : ""}`;
        try {
          await fsp.writeFile(p, content, { flag: "wx", mode });
          return p;
        } catch (e) {
          if (e?.code !== "EEXIST" || i > 100) throw e;
        }
      }
    },
  };
}
