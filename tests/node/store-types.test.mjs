// The stores' types against the real clients' and bindings' types (tsc), and Deno.Kv's
// (deno check): what users pass must compile; what is not a client must not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tsc = join(root, "node_modules", ".bin", "tsc");

/** Type-checks tests/types/<file> with key-carousel = pkg/ and the clients from node_modules; → { code, out }. */
async function typecheck(file) {
  const dir = mkdtempSync(join(tmpdir(), "kc-store-types-"));
  try {
    mkdirSync(join(dir, "node_modules", "@cloudflare"), { recursive: true });
    symlinkSync(join(root, "pkg"), join(dir, "node_modules", "key-carousel"), "dir");
    for (const m of ["ioredis", "redis", "redis4", "@cloudflare/workers-types"]) symlinkSync(join(root, "node_modules", m), join(dir, "node_modules", m), "dir");
    copyFileSync(join(root, "tests", "types", file), join(dir, file));
    copyFileSync(join(root, "tests", "types", "tsconfig.base.json"), join(dir, "tsconfig.base.json"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "./tsconfig.base.json", compilerOptions: { allowImportingTsExtensions: true, types: ["node"], typeRoots: [join(root, "node_modules", "@types")] }, files: [file] }),
    );
    try {
      const { stdout, stderr } = await promisify(execFile)(tsc, ["-p", join(dir, "tsconfig.json")], { timeout: 120_000 });
      return { code: 0, out: stdout + stderr };
    } catch (e) {
      return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("redisStore and cloudflareKvStore accept ioredis, node-redis 5 and 4, and a Workers KV namespace (tsc)", async () => {
  const ok = await typecheck("stores-program.ts");
  assert.equal(ok.code, 0, ok.out);
  const wrong = await typecheck("stores-wrong.ts");
  assert.notEqual(wrong.code, 0);
  for (const line of [4, 5, 6]) assert.match(wrong.out, new RegExp(`stores-wrong\\.ts\\(${line},`), wrong.out);
});
