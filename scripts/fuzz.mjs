// `npm run fuzz`: the fuzzers of `npm test`, run longer. Builds first (through npm run build).
//   KC_FUZZ_RUNS   JS sequences of tests/node/fuzz.test.mjs      (npm test: 10,000; here 100,000)
//   KC_FUZZ_CASES  proptest cases per property of tests/fuzz.rs  (npm test: 2,000; here 50,000)
//   KC_MODEL_CASES proptest cases per property of tests/model.rs (npm test: 2,000; here 20,000)
//   KC_FUZZ_SEED   replay the JS fuzzer with this seed (fast-check prints it on failure)
// KC_LONG=1 also runs the slow hostile-input cases (a stored state of 10^6 ids).

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  KC_FUZZ_RUNS: process.env.KC_FUZZ_RUNS ?? "100000",
  KC_FUZZ_CASES: process.env.KC_FUZZ_CASES ?? "50000",
  KC_MODEL_CASES: process.env.KC_MODEL_CASES ?? "20000",
  KC_LONG: "1",
};
const run = (cmd, args) => {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

console.log(
  `fuzz: ${env.KC_FUZZ_RUNS} JS sequences, ${env.KC_FUZZ_CASES} Rust cases per property, ` +
    `${env.KC_MODEL_CASES} per model property`,
);
run("node", ["--test", "--test-timeout=0", "tests/node/fuzz.test.mjs", "tests/node/hostile-input.test.mjs"]);
run("cargo", ["test", "--release", "--test", "fuzz", "--test", "model"]);
