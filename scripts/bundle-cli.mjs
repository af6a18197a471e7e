// Bundles the CLI's client commands (everything but the daemon, the dev cluster and the htools) into a few
// files under dist/cli-bundle/, which main.js runs: a command is a fresh process, and resolving and reading
// the ~260 modules a command imports took a quarter of its start-up. Code split, so that a command still
// loads only its own family's chunk. Run after tsc, on its output.
import { readFile, rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/**
 * yargs finds its locale files, and the package.json it reads a version from, from its own module's URL: in
 * a bundle that would be the bundle's, so that it looked for its locales in the wrong place and walked up
 * from the working directory (listing each directory on the way). Its shim keeps the URL of its file.
 */
const yargsShimUrl = {
  name: 'yargs-shim-url',
  setup(esbuild) {
    esbuild.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replaceAll(
        'import.meta.url',
        JSON.stringify(pathToFileURL(path).href),
      ),
      loader: 'js',
    }));
  },
};

const outdir = 'dist/cli-bundle';
/** What both builds below share: ES modules for Node 22, side by side in one directory. */
const common = {
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  logLevel: 'warning',
};
await rm(outdir, { recursive: true, force: true });
await build({
  ...common,
  // The balancing workers run by their own file, which their starter finds beside the chunk that starts them.
  entryPoints: { run: 'dist/src/cli/run.js', 'balance-worker': 'dist/src/alloc/balance-worker.js' },
  splitting: true,
  // cbor-x loads its optional native accelerator with require(), which a bundle must leave to Node.
  external: ['cbor-extract'],
  banner: {
    js: "import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);",
  },
  plugins: [yargsShimUrl],
});
// The fence watchdog, a process beside each daemon, in one file of its own: as an entry of the split build
// above it loaded shared chunks of the daemon's, 6 MiB more resident than from the modules.
await build({ ...common, entryPoints: { 'fence-watchdog': 'dist/src/daemon/fence-watchdog.js' } });
