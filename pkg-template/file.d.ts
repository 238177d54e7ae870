/**
 * `key-carousel/file`: the pool's state in a JSON file that any number of processes share
 * (Node, Deno, Bun).
 *
 * ```ts
 * import { Pool } from "key-carousel";
 * import { fileStore } from "key-carousel/file";
 * const pool = new Pool({ profiles, storage: fileStore("/var/lib/my-app/llm-keys.json") });
 * await pool.init();
 * ```
 * @packageDocumentation
 */
import type { StateStore } from "./index.js";

export type FileStoreOptions = {
  /**
   * A lock whose owner is on another machine sharing the disk (whose life cannot be
   * checked; also in Deno without `--allow-run`, which refuses the check) is taken over
   * once it is older than this, and so is a lock of a worker thread (`worker_threads`) of
   * a live process (no thread can tell whether another lives; a worker terminated while
   * writing leaves its lock). Default 10 000 ms. A lock whose
   * owner process on this machine is gone is taken over at once (on Linux also when its
   * pid now belongs to a process started later, or to a process that has ended and is not
   * reaped yet); one left empty (its writer was killed before writing its owner) after 1 s;
   * a live process's lock never, however old. A finite number (not `Infinity`).
   */
  staleMs?: number | undefined;
  /**
   * The longest a write waits for a live lock before it fails (and is retried later).
   * Default 15 000 ms. A finite number (not `Infinity`).
   */
  lockTimeoutMs?: number | undefined;
  /** fsync the data (and the directory) before and after the rename. Default true. */
  fsync?: boolean | undefined;
};

/**
 * A store in the file at `path`, in key-carousel 1's format (1.1.0 reads it).
 *
 * Each write takes the lock file `<path>.lock` (created exclusively; it holds the owner's
 * pid, hostname and a random token, and the time), merges with the file's content under the
 * lock, writes a temp file, fsyncs it and renames it over `path`. So:
 * - writers racing (processes on one machine, or on machines sharing the disk) never lose
 *   each other's updates: each merges with the latest file under the lock;
 * - readers never see a partial file (rename is atomic);
 * - a lock left by a process killed with SIGKILL is taken over at once when the owner was
 *   on this machine (after 1 s if it died before writing its owner), else after `staleMs`
 *   (also the lock of a worker thread, which a worker terminated while writing leaves);
 *   the lock of a live process on this machine is never taken over, however old: a writer
 *   waits (with backoff, at most `lockTimeoutMs`, then the write fails and the pool retries);
 * - a file that cannot be used is copied to `<path>.corrupt-<time>` and replaced.
 * @throws {TypeError} when `path` is not a non-empty string, an option is of the wrong type
 *   or out of range, or `options` names an option not listed in {@link FileStoreOptions}.
 */
export declare function fileStore(path: string, options?: FileStoreOptions): StateStore & { readonly path: string };
