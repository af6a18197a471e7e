import type { CommandModule } from 'yargs';
import { allocCommands } from './commands/alloc.js';
import { daemonCommand } from './commands/daemon.js';
import { debugCommand } from './commands/debug.js';
import { devCommand } from './commands/dev.js';
import { identityCommand, tokenCommand } from './commands/node-identity.js';
import { statusCommand } from './commands/status.js';

/** Every top-level command of `corral`; each family lives in its own module under commands/. */
export const commands: readonly CommandModule<object, never>[] = [
  daemonCommand,
  identityCommand,
  tokenCommand,
  statusCommand,
  debugCommand,
  devCommand,
  ...allocCommands,
] as CommandModule<object, never>[];
