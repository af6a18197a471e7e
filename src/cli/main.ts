#!/usr/bin/env node
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';

// Run by its shebang (npm link, a global install), this may meet an older system Node: say so in one line
// rather than fail on the first newer API.
const NEEDED_MAJOR = 22;
if (Number(process.versions.node.split('.')[0]) < NEEDED_MAJOR) {
  process.stderr.write(
    `corral: needs Node.js ${NEEDED_MAJOR} or newer and this is ${process.version}; run 'npx corral' in the checkout (it brings Node ${NEEDED_MAJOR}) or put Node ${NEEDED_MAJOR} first on the PATH\n`,
  );
  process.exit(1);
}
// V8's compiled code of the CLI's modules is kept between runs (under the OS temp dir): each command is a
// fresh process, and compiling its modules again took a third of its start-up.
nodeModule.enableCompileCache();
// Every command runs from the bundle that the build makes (scripts/bundle-cli.mjs), which loads in far less
// time than the modules it holds: a command's start-up, and a daemon's (1.4 s of CPU from the modules). The
// fence watchdog and the balancing workers are entries of their own in it, found beside the chunks.
const bundle = new URL('../../cli-bundle/run.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : './run.js');
