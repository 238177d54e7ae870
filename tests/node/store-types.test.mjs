// The stores' types against the real clients' and bindings' types (tsc), and Deno.Kv's
// (deno check): what users pass must compile; what is not a client must not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { typecheck } from "./helpers.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** The program's clients and bindings, and Node's types, from the workspace's node_modules. */
const CLIENTS = {
  links: ["ioredis", "redis", "redis4", "@cloudflare/workers-types"],
  compilerOptions: { allowImportingTsExtensions: true, types: ["node"], typeRoots: [join(root, "node_modules", "@types")] },
};

test("redisStore and cloudflareKvStore accept ioredis, node-redis 5 and 4, and a Workers KV namespace (tsc)", async () => {
  const ok = await typecheck("stores-program.ts", CLIENTS);
  assert.equal(ok.code, 0, ok.out);
  const wrong = await typecheck("stores-wrong.ts", CLIENTS);
  assert.notEqual(wrong.code, 0);
  for (const line of [4, 5, 6, 8]) assert.match(wrong.out, new RegExp(`stores-wrong\\.ts\\(${line},`), wrong.out);
});

test("CommonJS TypeScript with esModuleInterop: named and namespace imports compile, a default import does not (was: it compiled, then crashed on Node without require(esm))", async () => {
  const opts = { compilerOptions: { module: "node16", moduleResolution: "node16", esModuleInterop: true } };
  const named = await typecheck("interop-named.cts", opts);
  assert.equal(named.code, 0, named.out);
  const dflt = await typecheck("interop-default.cts", opts);
  assert.notEqual(dflt.code, 0, "a default import compiles");
  assert.match(dflt.out, /interop-default\.cts\(3,8\).*(no default export|TS1192|TS1259)/, dflt.out);
});

test("exactOptionalPropertyTypes: optional fields take undefined, as the runtime does (was: the README's quick start did not compile)", async () => {
  const r = await typecheck("exact-optional.ts", { compilerOptions: { exactOptionalPropertyTypes: true, types: ["node"], typeRoots: [join(root, "node_modules", "@types")] } });
  assert.equal(r.code, 0, r.out);
});

test("event payloads are read-only in the types, as they are frozen at run time (was: assigning to one compiled, then threw inside the listener)", async () => {
  const r = await typecheck("events-wrong.ts", { compilerOptions: { types: ["node"], typeRoots: [join(root, "node_modules", "@types")] } });
  assert.notEqual(r.code, 0);
  for (const line of [4, 5]) assert.match(r.out, new RegExp(`events-wrong\\.ts\\(${line},.*read-only`), r.out);
});
