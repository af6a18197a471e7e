import type { CommandModule } from 'yargs';
import { allocCommands } from './commands/alloc.js';
import { backupCommand } from './commands/backup.js';
import { clusterCommand } from './commands/cluster.js';
import { configCommand } from './commands/config.js';
import { daemonCommand } from './commands/daemon.js';
import { debugCommand } from './commands/debug.js';
import { devCommand } from './commands/dev.js';
import { groupCommand } from './commands/group.js';
import { healthCommand } from './commands/health.js';
import { instanceCommand } from './commands/instance.js';
import { jobCommand } from './commands/job.js';
import { nodeCommand } from './commands/node.js';
import { identityCommand, tokenCommand } from './commands/node-identity.js';
import { osCommand } from './commands/os.js';
import { statusCommand } from './commands/status.js';

/** Every top-level command of `corral`; each family lives in its own module under commands/. */
export const commands: readonly CommandModule<object, never>[] = [
  daemonCommand,
  identityCommand,
  tokenCommand,
  statusCommand,
  healthCommand,
  debugCommand,
  devCommand,
  clusterCommand,
  configCommand,
  nodeCommand,
  groupCommand,
  instanceCommand,
  osCommand,
  backupCommand,
  jobCommand,
  ...allocCommands,
] as CommandModule<object, never>[];
