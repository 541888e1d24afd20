// Compiles carwatch to dist/ (tsc -p tsconfig.build.json) and copies beside it the files read at run time,
// so that dist/ runs on its own: `node dist/main.js` needs only dist/, package.json and the production
// dependencies. Plain JavaScript: `npm start` runs it (prestart, with --if-stale) where no dev dependency
// may be installed.
//
//   node scripts/build/build.mjs             build (incrementally when dist/ holds a finished build)
//   node scripts/build/build.mjs --if-stale  build only when dist/ is missing or older than its inputs
//
// Staleness is a walk over the inputs' modification times (some 20 ms): tsc's own incremental check
// builds the whole program before finding nothing to do, 10 s here, too slow to run before every start.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "../..");
const dist = join(root, "dist");
const CONFIG = "tsconfig.build.json";
/** Read at run time relative to the modules (agent/prompt.ts, web/console-routes.ts): copied to the same place under dist/. */
const ASSETS = ["prompts", "web/assets"];
/** Written last: dist/ without it is a build that did not finish. */
const STAMP = join(dist, ".built");

const ifStale = process.argv.includes("--if-stale");

if (!existsSync(join(root, CONFIG))) {
  // A runtime image carries dist/ without the sources: nothing to build from.
  if (ifStale && existsSync(join(dist, "main.js"))) process.exit(0);
  fail(`${CONFIG} is missing: run the build from a carwatch checkout`);
}

const config = JSON.parse(readFileSync(join(root, CONFIG), "utf8"));
/** Every file the build reads: the compiled sources (tests left out, as the config does), the assets, the configs and this script. */
function* inputs() {
  for (const entry of [...config.include, ...ASSETS]) yield* files(join(root, entry));
  yield* [join(root, "tsconfig.json"), join(root, CONFIG), import.meta.filename];
}

function* files(path) {
  if (!statSync(path).isDirectory()) {
    yield path;
    return;
  }
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) if (e.isFile() && !e.name.endsWith(".test.ts")) yield join(e.parentPath, e.name);
}

function stale() {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  for (const f of inputs()) if (statSync(f).mtimeMs > built) return true;
  return false;
}

if (ifStale && !stale()) process.exit(0);

// tsc trusts its build info over what is on disk: a build that did not finish starts over from nothing.
if (!existsSync(STAMP)) rmSync(dist, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  fail("building dist/ needs TypeScript, a dev dependency: run `npm install` (without --omit=dev) first");
}
console.error(`carwatch: compiling to ${relative(process.cwd(), dist) || "."}/ …`);
const started = performance.now();
const result = spawnSync(process.execPath, [tsc, "-p", join(root, CONFIG)], { stdio: "inherit" });
if (result.status !== 0) fail(`tsc failed (${result.status ?? result.signal}); dist/ is not up to date`);

for (const a of ASSETS) rmSync(join(dist, a), { recursive: true, force: true });
// A module renamed or deleted since the last build would linger, importable, in dist/.
for (const f of files(dist)) if (f.endsWith(".js") && !existsSync(join(root, relative(dist, f)).replace(/\.js$/, ".ts"))) rmSync(f);
for (const a of ASSETS) cpSync(join(root, a), join(dist, a), { recursive: true });
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
console.error(`carwatch: built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);

function fail(message) {
  console.error(`carwatch: ${message}`);
  process.exit(1);
}
