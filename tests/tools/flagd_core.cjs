// Evaluates flagd flag files with the official JavaScript evaluator, the npm package
// @openfeature/flagd-core, with its strict validation on (the flagd JSON schemas, compiled
// into the package), so that thousands of keys cost one process.
// Usage: node flagd_core.cjs MODULE_DIR < request.json
//   request: {"configs": [flag file text, ...],
//             "evaluate": [{"config": index, "flag": key}, ...],
//             "keys": [targeting key or evaluation context object, ...]}
//   prints:  {"variants": [[variant or null per key] per evaluate entry]}
// Exits 1 naming the config when strict validation refuses one, 2 when it could not run.
const { readFileSync } = require("node:fs");

function main() {
  const moduleDir = process.argv[2];
  const { FlagdCore, MemoryStorage } = require(moduleDir);
  const request = JSON.parse(readFileSync(0, "utf8"));
  const cores = request.configs.map((text, index) => {
    const storage = new MemoryStorage(console);
    try {
      storage.setConfigurations(text, true); // strict: a schema violation is an error
    } catch (err) {
      console.error(`config ${index}: ${err.message}`);
      process.exit(1);
    }
    return new FlagdCore(storage);
  });
  const keys = request.keys ?? [];
  const variants = (request.evaluate ?? []).map(({ config, flag }) =>
    keys.map((key) => {
      // A key is a targeting key, or a whole evaluation context (an object).
      const ctx = key === null ? {} : typeof key === "object" ? key : { targetingKey: key };
      return cores[config].resolveObjectEvaluation(flag, {}, ctx).variant ?? null;
    }));
  process.stdout.write(JSON.stringify({ variants }));
}

try {
  main();
} catch (err) {
  console.error(`flagd-core could not run: ${err.stack ?? err}`);
  process.exit(2);
}
