// CommonJS: require() works, and it is the same module instance as import().
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const kc = require("key-carousel");

async function scenario(lib) {
  let now = 1_700_000_000_000;
  const pool = new lib.Pool({
    profiles: [
      { id: "k0", provider: "openai", apiKey: "cjs-key-0-abcdefgh" },
      { id: "k1", provider: "openai", apiKey: "cjs-key-1-abcdefgh" },
    ],
    clock: () => now,
  });
  const res = await pool.run(({ profileId }) => {
    if (profileId === "k0") throw Object.assign(new Error("Too Many Requests"), { status: 429 });
    return "ok";
  });
  assert.equal(res.value, "ok");
  assert.equal(res.profileId, "k1");
  assert.deepEqual(res.attempts.map((a) => [a.profileId, a.reason]), [["k0", "rate_limit"]]);
  assert.equal(pool.getStatus().profiles[0].cooldownUntil, now + 60_000);
  assert.equal(lib.classifyError(Object.assign(new Error("x"), { status: 402 })), "billing");
  assert.throws(() => new lib.Pool({ profiles: [] }), lib.ConfigError);
  return pool;
}

test("18. require() and import() both work and share one module instance", async () => {
  for (const name of ["Pool", "FailoverError", "AllProfilesExhaustedError", "ConfigError", "classifyError"]) {
    assert.equal(typeof kc[name], "function", `require(...).${name}`);
  }
  const esm = await import("key-carousel");
  assert.equal(kc.Pool, esm.Pool);
  assert.equal(kc.FailoverError, esm.FailoverError);
  assert.equal(kc.AllProfilesExhaustedError, esm.AllProfilesExhaustedError);
  assert.equal(kc.ConfigError, esm.ConfigError);
  assert.equal(kc.classifyError, esm.classifyError);

  const viaRequire = await scenario(kc);
  const viaImport = await scenario(esm);
  assert.ok(viaRequire instanceof esm.Pool);
  assert.ok(viaImport instanceof kc.Pool);

  // An error class thrown through one entry is caught by the other's class.
  let err;
  try {
    new kc.Pool({ profiles: [{ provider: "openai", apiKey: "" }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof esm.ConfigError);
  assert.equal(err.message, "profiles[0].apiKey: must be a non-empty string");
});
