import type { CommandModule } from 'yargs';

/**
 * One top-level command of `corral`: how it reads in the help, and how to load it. Only the command being
 * run is loaded; each family lives in its own module under commands/, and most pull in far more than the CLI
 * needs to start (the daemon pulls in libp2p).
 */
export interface LazyCommand {
  /** As yargs shows it; its first word names it. */
  readonly command: string;
  readonly describe: string;
  load(): Promise<CommandModule<object, never>>;
}

type Loaded = CommandModule<object, never>;

export const commands: readonly LazyCommand[] = [
  {
    command: 'daemon',
    describe: 'run this node (the one long-running Corral process)',
    load: async () => (await import('./commands/daemon.js')).daemonCommand as Loaded,
  },
  {
    command: 'identity',
    describe:
      "print this node's ID (its libp2p peer ID) and its enrolment code, creating them on first use; run as root on the node itself",
    load: async () => (await import('./commands/node-identity.js')).identityCommand as Loaded,
  },
  {
    command: 'token create <node>',
    describe: 'issue a join token for the node with this ID (run on a member)',
    load: async () => (await import('./commands/node-identity.js')).tokenCommand as Loaded,
  },
  {
    command: 'status',
    describe: 'show the local daemon: its ID, addresses and the members it knows',
    load: async () => (await import('./commands/status.js')).statusCommand as Loaded,
  },
  {
    command: 'health [node]',
    describe: "every node's observed state and health as this node's gossip sees it (no master needed)",
    load: async () => (await import('./commands/health.js')).healthCommand as Loaded,
  },
  {
    command: 'debug <command>',
    describe: 'diagnostics of the paths real traffic takes (gnt-debug in spirit)',
    load: async () => (await import('./commands/debug.js')).debugCommand as Loaded,
  },
  {
    command: 'dev',
    describe: 'run a local dev cluster on loopback in a temporary dir (Ctrl-C stops it and cleans up)',
    load: async () => (await import('./commands/dev.js')).devCommand as Loaded,
  },
  {
    command: 'cluster <command>',
    describe: 'the cluster as a whole (gnt-cluster)',
    load: async () => (await import('./commands/cluster.js')).clusterCommand as Loaded,
  },
  {
    command: 'config <command>',
    describe: 'questions about the replicated configuration, answered by the nodes themselves',
    load: async () => (await import('./commands/config.js')).configCommand as Loaded,
  },
  {
    command: 'node <command>',
    describe: 'nodes of the cluster (gnt-node)',
    load: async () => (await import('./commands/node.js')).nodeCommand as Loaded,
  },
  {
    command: 'group <command>',
    describe: 'node groups (gnt-group)',
    load: async () => (await import('./commands/group.js')).groupCommand as Loaded,
  },
  {
    command: 'instance <command>',
    describe: 'instances: virtual machines (gnt-instance)',
    load: async () => (await import('./commands/instance.js')).instanceCommand as Loaded,
  },
  {
    command: 'os <command>',
    describe: 'guest OS definitions (gnt-os)',
    load: async () => (await import('./commands/os.js')).osCommand as Loaded,
  },
  {
    command: 'backup <command>',
    describe: 'instance exports and imports (gnt-backup)',
    load: async () => (await import('./commands/backup.js')).backupCommand as Loaded,
  },
  {
    command: 'job <command>',
    describe: 'the job queue (gnt-job)',
    load: async () => (await import('./commands/job.js')).jobCommand as Loaded,
  },
  {
    command: 'balance',
    describe: "rebalance a node group in hbal's manner: print the moves that lower the cluster score",
    load: async () => (await import('./commands/alloc.js')).balanceCommand as Loaded,
  },
  {
    command: 'capacity',
    describe: "how many more instances of a spec fit, and which resource runs out first (hspace's question)",
    load: async () => (await import('./commands/alloc.js')).capacityCommand as Loaded,
  },
  {
    command: 'roll',
    describe: "groups of nodes that can be rebooted together (hroller's question)",
    load: async () => (await import('./commands/alloc.js')).rollCommand as Loaded,
  },
  {
    command: 'iallocator <request>',
    describe: "answer a Ganeti iallocator request (a drop-in for hail); '-' reads stdin",
    load: async () => (await import('./commands/alloc.js')).iallocatorCommand as Loaded,
  },
  {
    command: 'alloc-check',
    describe: 'list what breaks N+1, the group policy or the exclusion tags, with the group score',
    load: async () => (await import('./commands/alloc.js')).checkCommand as Loaded,
  },
];
