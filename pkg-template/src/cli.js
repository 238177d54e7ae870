// `key-carousel`: the command-line tool of the package (bin), for a state file written by
// `fileStore(path)` (or key-carousel 1's `storagePath`).
//
//   key-carousel status <state-file> [--json]   what each profile is doing (a table; colours on a TTY)
//   key-carousel clear <state-file> <profile>   ends a profile's rest (and its models' rests)
//
// `clear` writes through the file store's lock and merge, like a pool would: the cleared
// record gets an `updatedAt` later than any event it holds, so the clearing wins the merge
// with what running processes write later (a later failure still wins, as it should).
// Running pools read the file when they start and each time they write.
// Exit codes: 0 done, 1 the file is missing, unusable or has no such profile, 2 bad usage.

import { errorMessage } from "./errors.js";
import { fileStore } from "./file.js";
import { CorruptState, PAIR_SEPARATOR, RECORD_COLUMNS, parseState } from "./snapshot.js";
import { REASONS } from "./reasons.js";

const USAGE = `Usage:
  key-carousel status <state-file> [--json]
  key-carousel clear <state-file> <profile>
  key-carousel --version

After --, arguments are names, not options: key-carousel clear state.json -- -v

status  prints each profile of the state file: state, reason, cooldown remaining,
        errors, last used (--json: the same as JSON)
clear   ends the profile's cooldown (and its model-scoped ones) and resets its error
        count, through the file store's lock and merge`;

/** The package's version (set by the build: scripts/build.mjs). */
const VERSION = typeof KC_VERSION === "string" ? KC_VERSION : "unknown";

class Failure extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

/** The stored state of `path`, parsed; a Failure for a missing or unusable file. */
async function read(path) {
  let raw;
  try {
    raw = await fileStore(path).load();
  } catch (e) {
    throw new Failure(`cannot read ${path}: ${e.message}`);
  }
  if (raw === null) throw new Failure(`no state file at ${path}`);
  try {
    return { raw, parsed: parseState(raw) };
  } catch (e) {
    if (e instanceof CorruptState) throw new Failure(`${path} is not a usable key-carousel state file: ${e.message}`);
    throw e;
  }
}

const num = (v) => (v === v ? v : undefined); // NaN (absent) → undefined

/** Profiles and their model-scoped rests at `now`, in the file's order. */
export function describe(parsed, now) {
  const { ids, cols } = parsed;
  const byId = new Map();
  const profiles = [];
  const at = (b) => {
    const until = num(cols[b + 4]);
    const resting = until !== undefined && until > now;
    const reason = cols[b + 5] >= 0 ? REASONS[cols[b + 5]] : undefined;
    return {
      state: !resting ? "available" : cols[b + 7] === 1 ? "disabled" : "cooldown",
      reason: resting ? reason : undefined,
      cooldownUntil: resting ? until : undefined,
      remainingMs: resting ? until - now : 0,
      errorCount: cols[b],
    };
  };
  ids.forEach((id, i) => {
    const b = i * RECORD_COLUMNS;
    const cut = id.indexOf(PAIR_SEPARATOR);
    if (cut >= 0) {
      const s = at(b);
      if (s.state === "available") return;
      const owner = byId.get(id.slice(0, cut));
      const entry = { model: id.slice(cut + 1), ...s };
      if (owner !== undefined) (owner.modelCooldowns ??= []).push(entry);
      return;
    }
    const p = { id, ...at(b), lastUsed: num(cols[b + 1]), lastFailure: num(cols[b + 2]), lastSuccess: num(cols[b + 3]) };
    byId.set(id, p);
    profiles.push(p);
  });
  const resting = profiles.filter((p) => p.state !== "available");
  const available = profiles.length - resting.length;
  return {
    now,
    profiles,
    totalAvailable: available,
    totalInCooldown: resting.filter((p) => p.state === "cooldown").length,
    totalDisabled: resting.filter((p) => p.state === "disabled").length,
    nextAvailableAt: available === 0 && resting.length > 0 ? resting.reduce((min, p) => Math.min(min, p.cooldownUntil), Infinity) : undefined,
  };
}

/** "4m 05s", "2h 10m", "12s". */
export function duration(ms) {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

const COLOURS = { available: 32, cooldown: 33, disabled: 31 };

/**
 * A name from the file as the terminal shows it: control characters (C0, DEL, C1) escaped
 * as JSON does, so a hostile file cannot move the cursor or erase rows. Pools refuse such
 * names; only a writer other than a pool can store one.
 */
function printable(name) {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function table(status, colour) {
  const paint = (text, code) => (colour && code ? `\u001b[${code}m${text}\u001b[0m` : text);
  const head = ["profile", "state", "reason", "cooldown remaining", "errors", "last used"];
  const rows = [];
  for (const p of status.profiles) {
    const ago = p.lastUsed === undefined ? "never" : `${duration(Math.max(0, status.now - p.lastUsed))} ago`;
    rows.push([printable(p.id), p.state, p.reason ?? "-", p.state === "available" ? "-" : duration(p.remainingMs), String(p.errorCount), ago]);
    for (const m of p.modelCooldowns ?? []) {
      rows.push([`  ${printable(m.model)}`, m.state, m.reason ?? "-", duration(m.remainingMs), String(m.errorCount), ""]);
    }
  }
  // A loop, not Math.max(...rows): a spread of 125,000 rows overflows the stack.
  const widths = head.map((h) => h.length);
  for (const r of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i], r[i].length);
  const line = (cells, state) =>
    cells
      .map((c, i) => {
        const padded = c.padEnd(widths[i]);
        return i === 1 ? paint(padded, COLOURS[state]) : padded;
      })
      .join("  ")
      .trimEnd();
  const out = [paint(line(head), 1)];
  for (const r of rows) out.push(line(r, r[1]));
  const next = status.nextAvailableAt === undefined ? "" : `; next available in ${duration(status.nextAvailableAt - status.now)}`;
  out.push(
    "",
    `${status.totalAvailable} available, ${status.totalInCooldown} in cooldown, ${status.totalDisabled} disabled${next}`,
  );
  return out.join("\n");
}

async function status(args, io, optionsEnd) {
  const json = args.slice(0, optionsEnd).includes("--json");
  const rest = args.filter((a, i) => i >= optionsEnd || a !== "--json");
  if (rest.length !== 1) throw new Failure(USAGE, 2);
  const [path] = rest;
  const { parsed } = await read(path);
  if (parsed.dropped > 0) io.err(`key-carousel: ${parsed.dropped} unusable value(s) in ${path} ignored`);
  const s = describe(parsed, Date.now());
  if (json) io.out(JSON.stringify({ file: path, ...s }, null, 2));
  else io.out(table(s, io.colour));
}

async function clear(args, io) {
  if (args.length !== 2) throw new Failure(USAGE, 2);
  const [path, id] = args;
  const { parsed } = await read(path);
  const known = parsed.ids.filter((x) => !x.includes(PAIR_SEPARATOR));
  if (!known.includes(id)) {
    throw new Failure(`no profile ${JSON.stringify(id)} in ${path} (profiles: ${known.join(", ") || "none"})`);
  }
  let cleared = 0;
  await fileStore(path).update((stored) => {
    // Under the lock: the file as it is now, which may have changed since it was read.
    if (stored === null) throw new Failure(`${path} was removed`);
    try {
      parseState(stored);
    } catch (e) {
      if (e instanceof CorruptState) throw new Failure(`${path} is not a usable key-carousel state file: ${e.message}`);
      throw e;
    }
    const data = JSON.parse(stored);
    const rec = data.profiles[id];
    if (rec === null || typeof rec !== "object") throw new Failure(`no profile ${JSON.stringify(id)} in ${path}`);
    const records = [rec, ...Object.values(rec.models !== null && typeof rec.models === "object" ? rec.models : {})];
    const now = Date.now();
    for (const r of records) {
      if (r === null || typeof r !== "object") continue;
      if (typeof r.cooldownUntil === "number" && r.cooldownUntil > now) cleared++;
      // Later than every event of the record, so this clearing wins the merge.
      const events = [r.updatedAt, r.lastFailure, r.lastSuccess].filter((t) => typeof t === "number");
      r.updatedAt = Math.max(now, ...events.map((t) => t + 1));
      r.errorCount = 0;
      delete r.cooldownUntil;
      delete r.cooldownStartedAt; // as clearCooldown: the incident is over
    }
    return data;
  });
  io.out(
    cleared > 0
      ? `cleared ${id} in ${path}: ${cleared} cooldown(s) ended, error count reset`
      : `cleared ${id} in ${path}: it was not resting; error count reset`,
  );
}

/**
 * Runs the tool; resolves with the exit code.
 * @param {string[]} argv the arguments after the program name
 * @param {{ out(s: string): void, err(s: string): void, colour: boolean }} io
 */
export async function main(argv, io) {
  const [command, ...rest] = argv;
  // After `--`, every argument is a name (a profile id may start with "-"): no option.
  const end = rest.indexOf("--");
  const options = end < 0 ? rest : rest.slice(0, end);
  const args = end < 0 ? rest : [...options, ...rest.slice(end + 1)];
  try {
    if (options.includes("--help") || options.includes("-h")) io.out(USAGE);
    else if (command === "--version" || command === "-v" || options.includes("--version") || options.includes("-v")) io.out(VERSION);
    else if (command === "status") await status(args, io, end < 0 ? args.length : options.length);
    else if (command === "clear") await clear(args, io);
    else if (command === "--help" || command === "-h" || command === "help") io.out(USAGE);
    else throw new Failure(command === undefined ? USAGE : `unknown command ${JSON.stringify(command)}\n${USAGE}`, 2);
    return 0;
  } catch (e) {
    if (e instanceof Failure) {
      io.err(e.code === 2 ? e.message : `key-carousel: ${e.message}`);
      return e.code;
    }
    io.err(`key-carousel: ${errorMessage(e)}`);
    return 1;
  }
}

const proc = globalThis.process;
/** Colours: FORCE_COLOR decides when set ("0" or "false": off), else a terminal without NO_COLOR. */
function colour(env, isTTY) {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  return isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb";
}
// A reader that stops early (`key-carousel status f.json | head -1`): the rest goes nowhere,
// quietly (was: an unhandled EPIPE, a stack trace, exit 1).
proc.stdout.on("error", (e) => {
  if (e?.code !== "EPIPE") throw e;
});
main(proc.argv.slice(2), {
  out: (s) => proc.stdout.write(`${s}\n`),
  err: (s) => proc.stderr.write(`${s}\n`),
  colour: colour(proc.env, proc.stdout.isTTY),
}).then((code) => {
  proc.exitCode = code;
});
