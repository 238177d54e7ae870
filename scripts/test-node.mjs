// `npm test`'s JS part: the node:test suite in tests/node/, run against each build a Node
// user can get. The tests import the package by its name (node_modules/key-carousel links to
// pkg/), so Node picks the build through the exports map as it does for a user:
// - Node with require(esm) (≥ 20.19, ≥ 22.12): the ES module index.mjs, for import and require;
// - Node without it: index.cjs for require, index.legacy.mjs (re-exporting it) for import.
// On a Node that has require(esm), the second run turns it off (--no-experimental-require-module),
// which is how Node 18 or 20.18 resolve the package.
import { spawnSync } from "node:child_process";

const runs = [{ name: "ES module build (require(esm))", flags: [] }];
if (process.features.require_module) {
  runs.push({ name: "CommonJS build + legacy ES wrapper (no require(esm))", flags: ["--no-experimental-require-module"] });
} else {
  runs[0].name = "CommonJS build + legacy ES wrapper (this Node has no require(esm))";
}
const only = process.argv.slice(2);
let failed = false;
for (const run of runs) {
  console.log(`\n# key-carousel: node --test against the ${run.name}`);
  // Through NODE_OPTIONS, so the processes the tests start resolve the package the same way.
  const r = spawnSync(process.execPath, ["--test", ...(only.length > 0 ? only : ["tests/node/"])], {
    stdio: "inherit",
    env: { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS ?? "", ...run.flags].join(" ").trim() },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
