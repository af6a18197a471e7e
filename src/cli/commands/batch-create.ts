import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { CorralError } from '../../common/errors.js';
import { daemonCall, follow, type JobArgs, jobOptions, readConfig, runOps } from '../cluster-client.js';
import { batchOpcode } from '../ganeti-batch.js';

interface BatchArgs extends JobArgs {
  file: string;
  iallocator?: string;
}

/**
 * Ganeti's gnt-instance batch-create: the file's instances in one multi-allocation, which submits a create
 * job for each; those jobs are followed, and the end says whether they all succeeded, in Ganeti's words.
 */
export const batchCreateCommand: CommandModule<object, BatchArgs> = {
  command: 'batch-create <file>',
  describe: "create the instances a JSON file defines (Ganeti's batch-create format), one job each",
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('file', { type: 'string', demandOption: true, describe: 'instances.json' })
      .option('iallocator', {
        alias: 'I',
        type: 'string',
        describe: "place the instances that name no nodes with this allocator ('.' is the built-in one)",
      }),
  handler: async (args) => {
    let text: string;
    try {
      text = await readFile(args.file, 'utf8');
    } catch (error) {
      throw new CorralError('not_found', `cannot read ${args.file}: ${(error as Error).message}`);
    }
    // Ganeti fills a missing disk_template with the cluster's first enabled one.
    const { config } = await readConfig(args);
    const op = batchOpcode(args.file, text, config.cluster.enabledDiskTemplates[0], args.iallocator);
    const results = await runOps(args, [op]);
    if (results === undefined) return;
    const jobs = (results[0] as { jobs?: [boolean, number][] }).jobs ?? [];
    const names = op.instances.map((instance) => instance.instance_name);
    const call = daemonCall(args);
    process.stdout.write(`Submitted jobs ${jobs.map(([, job]) => job).join(', ')}\n`);
    let failed = 0;
    for (const [i, [submitted, job]] of jobs.entries()) {
      const name = names[i] ?? '';
      if (!submitted) {
        process.stderr.write(`Failed to submit job for ${name}: ${job}\n`);
        failed++;
        continue;
      }
      process.stdout.write(`Waiting for job ${job} for ${name} ...\n`);
      try {
        await follow(call, job);
      } catch (error) {
        process.stderr.write(`Job ${job} for ${name} has failed: ${(error as Error).message}\n`);
        failed++;
      }
    }
    if (failed === 0) process.stdout.write('All instances created successfully.\n');
    else {
      process.stdout.write(`There were ${failed} errors during the creation.\n`);
      process.exitCode = 1;
    }
  },
};
