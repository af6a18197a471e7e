#!/usr/bin/env node
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { basename } from 'node:path';
import { htoolsSubcommands, isHtoolsName } from './htools/names.js';

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
// The client commands run from the bundle that the build makes (scripts/bundle-cli.mjs), which loads in far
// less time than the modules it holds. The daemon, the dev cluster and the htools run from the modules: they
// start helper processes and worker threads by their module paths.
const bundle = new URL('../../cli-bundle/run.js', import.meta.url);
const first = process.argv[2] ?? '';
const calledAs = basename(process.argv[1] ?? '');
const fromModules =
  ['daemon', 'dev'].includes(first) || isHtoolsName(calledAs) || htoolsSubcommands[first] !== undefined;
await import(fromModules || !existsSync(bundle) ? './run.js' : bundle.href);
