// Checks flagd flag files with flagd's official validator: the npm package
// @openfeature/flagd-core with its strict validation on (flagd's flag and targeting JSON
// schemas, compiled into the package), then loaded by its evaluator (which also refuses
// operators it does not know).
// Usage: node flagd_validate.cjs MODULE_DIR < ["flag file text", ...]
// Prints [null (accepted) or {"message": ..., "errors": [ajv errors] or null}, ...].
const { readFileSync } = require("node:fs");

const quiet = { error() {}, warn() {}, info() {}, debug() {} };

function check(FlagdCore, MemoryStorage, text) {
  try {
    const storage = new MemoryStorage(quiet);
    storage.setConfigurations(text, true);
    new FlagdCore(storage, quiet);
    return null;
  } catch (err) {
    const message = String(err && err.message ? err.message : err);
    const at = message.indexOf(": [");
    let errors = null;
    if (at >= 0) {
      try { errors = JSON.parse(message.slice(at + 2)); } catch (_) { errors = null; }
    }
    return { message: at >= 0 ? message.slice(0, at) : message, errors };
  }
}

try {
  const { FlagdCore, MemoryStorage } = require(process.argv[2]);
  const texts = JSON.parse(readFileSync(0, "utf8"));
  process.stdout.write(JSON.stringify(texts.map((t) => check(FlagdCore, MemoryStorage, t))));
} catch (err) {
  console.error(`flagd-core could not run: ${err && err.stack ? err.stack : err}`);
  process.exit(2);
}
