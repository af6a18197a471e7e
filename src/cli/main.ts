#!/usr/bin/env node
import { enableCompileCache } from 'node:module';

// V8's compiled code of the CLI's modules is kept between runs (under the OS temp dir): each command is a
// fresh process, and compiling its modules again took a third of its start-up.
enableCompileCache();
await import('./run.js');
