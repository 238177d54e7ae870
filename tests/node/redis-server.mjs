// A real redis-server for the tests (not a test file): started on 127.0.0.1 on a free port,
// without persistence (--save "" --appendonly no), stopped by the test that started it.
// A missing redis-server fails the test that asks for one (.ci/run installs the Debian
// package redis-server); it is never skipped.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function redisServerBinary() {
  const r = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      "redis-server is not installed, and the Redis tests need a real server: install the Debian package " +
        "redis-server (`apt-get install -y redis-server`; .ci/run does it)",
    );
  }
  return "redis-server";
}

/** The range the kernel takes a connection's local port from: Linux's setting, else IANA's. */
export function ephemeralRange() {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux
  }
  return [49152, 65535];
}

/** Whether nothing holds `port` on 127.0.0.1 now. */
function canListen(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A free port outside the ephemeral range. A port from that range (what `listen(0)` gives)
 * can be taken while the server is down by a connection's local port, even by a client
 * reconnecting to that very port (TCP's self-connect), and a server restarted there then
 * fails to bind: it happened, rarely, in the "killed and restarted" test.
 */
async function freePort() {
  const [lo, hi] = ephemeralRange();
  const [from, to] = lo - 10_000 >= 65_535 - hi ? [10_000, lo] : [hi + 1, 65_536];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in [${from}, ${to}) on 127.0.0.1`);
}

/** Resolves once the server answers PING on `port`; rejects after `ms`. */
function waitForPing(port, ms) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = createConnection({ port, host: "127.0.0.1" });
      let buf = "";
      const retry = (why) => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server on port ${port} did not answer: ${why}`));
        else setTimeout(attempt, 20);
      };
      sock.on("connect", () => sock.write("PING\r\n"));
      sock.on("data", (d) => {
        buf += d;
        if (buf.includes("+PONG")) {
          sock.destroy();
          resolve();
        } else if (buf.includes("\r\n")) retry(buf.trim());
      });
      sock.on("error", (e) => retry(e.message));
    };
    attempt();
  });
}

/**
 * Starts a redis-server (`args`: more of its options). Returns `{ port, url, kill(), start(),
 * stop() }`: `kill()` ends it with SIGKILL (its data is gone: no persistence), `start()`
 * starts it again on the same port, `stop()` ends it for good.
 */
export async function startRedis({ args = [] } = {}) {
  const bin = redisServerBinary();
  const dir = mkdtempSync(join(tmpdir(), "kc-redis-"));
  let proc = null;
  let port = 0;
  let output = "";

  async function launch() {
    output = "";
    const p = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    p.stdout.on("data", (d) => (output += d));
    p.stderr.on("data", (d) => (output += d));
    const exited = new Promise((resolve) => p.once("exit", (code, signal) => resolve({ code, signal })));
    p.exited = exited;
    proc = p;
    const early = exited.then((e) => {
      throw new Error(`redis-server exited at start (${JSON.stringify(e)}): ${output.trim().slice(-500)}`);
    });
    await Promise.race([waitForPing(port, 10_000), early]);
    early.catch(() => {});
  }

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      proc?.kill("SIGKILL");
      if (attempt >= 3) throw e; // the port was taken meanwhile: try another
    }
  }

  async function end(signal) {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await p.exited;
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    /** SIGKILL: the server is gone at once, with its data. */
    kill: () => end("SIGKILL"),
    /** Starts it again on the same port (empty). */
    start: () => launch(),
    async stop() {
      await end("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A connected client of the given kind: "ioredis", "redis" (node-redis 5) or "redis4"
 * (node-redis 4). `failFast`: no
 * offline queue, so commands fail at once while the server is down (instead of waiting
 * for the reconnection), and reconnection every 50 ms. Returns `{ client, quit() }`.
 */
export async function connectClient(kind, port, { failFast = false } = {}) {
  if (kind === "ioredis") {
    const { default: Redis } = await import("ioredis");
    const client = new Redis({
      port,
      host: "127.0.0.1",
      retryStrategy: () => 50,
      ...(failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 0 } : {}),
    });
    client.on("error", () => {}); // reported by the commands that fail
    await new Promise((resolve, reject) => {
      client.once("ready", resolve);
      client.once("end", () => reject(new Error("ioredis: connection ended")));
    });
    return { client, quit: () => client.quit().catch(() => client.disconnect()) };
  }
  if (kind === "redis" || kind === "redis4") {
    // "redis4": node-redis 4 (the devDependency redis4 is npm:redis@4)
    const { createClient } = await import(kind);
    const client = createClient({
      url: `redis://127.0.0.1:${port}`,
      disableOfflineQueue: failFast,
      socket: { reconnectStrategy: () => 50 },
    });
    client.on("error", () => {}); // node-redis throws an unhandled 'error' event otherwise
    await client.connect();
    return {
      client,
      quit: () => (typeof client.close === "function" ? client.close() : client.quit()).catch(() => client.destroy?.()),
    };
  }
  throw new Error(`unknown client kind ${kind}`);
}
