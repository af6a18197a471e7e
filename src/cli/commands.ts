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
];

/**
 * The htools, run as `corral <command>` or by their Ganeti names (hbal, ...): they take Ganeti's htools
 * options through their own GetOpt-style parser (htools/main.ts), so yargs only lists them.
 */
export const htoolsCommands: readonly { readonly command: string; readonly describe: string }[] = [
  { command: 'balance', describe: 'hbal: rebalance a node group, printing (-C) or running (-X) the moves' },
  { command: 'capacity', describe: 'hspace: how many more instances fit, and which resource runs out first' },
  { command: 'roll', describe: 'hroller: groups of nodes that can be rebooted together' },
  { command: 'iallocator', describe: "hail: answer a Ganeti iallocator request ('-' reads stdin)" },
  { command: 'check', describe: 'hcheck: N+1, offline nodes and whether a group needs rebalancing' },
  { command: 'summary', describe: 'hinfo: the cluster as the allocator sees it, group by group' },
  { command: 'squeeze', describe: 'hsqueeze: which nodes to power down or up for the load' },
  { command: 'scan', describe: 'hscan: save clusters read over RAPI (or this one) as htools text files' },
  {
    command: 'repair',
    describe: 'harep: repair the instances auto-repair tags allow, tracking them in tags',
  },
];
