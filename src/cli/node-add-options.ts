import type { Argv } from 'yargs';
import type { NodeAddOp } from '../cluster/opcodes.js';
import { yesNo } from './cluster-client.js';
import { ndParamsOption, parseNdParams } from './ndparams-option.js';

/** What a new node may be told about itself, whether the master adds it or it joins through a member. */
export interface NodeAddArgs {
  'secondary-ip'?: string;
  'master-candidate'?: string;
  'master-capable'?: string;
  'vm-capable'?: string;
  'node-group'?: string;
  'node-parameters'?: string;
}

/** Ganeti's gnt-node add options for a new node's roles and group. */
export function nodeAddOptions<T>(yargs: Argv<T>) {
  return ndParamsOption(yargs, undefined)
    .option('secondary-ip', { alias: 's', type: 'string' })
    .option('master-candidate', {
      alias: 'C',
      type: 'string',
      describe: 'yes|no (default: yes while the pool is short)',
    })
    .option('master-capable', { type: 'string', describe: 'yes|no' })
    .option('vm-capable', { type: 'string', describe: 'yes|no' })
    .option('node-group', { alias: ['g', 'group'], type: 'string' });
}

/** The node add fields those options set; an option not given is left to the master's default. */
export function nodeAddFields(
  args: NodeAddArgs,
): Pick<
  NodeAddOp,
  'secondary_ip' | 'group' | 'master_candidate' | 'master_capable' | 'vm_capable' | 'ndparams'
> {
  const masterCandidate = yesNo(args['master-candidate'], 'master-candidate');
  const masterCapable = yesNo(args['master-capable'], 'master-capable');
  const vmCapable = yesNo(args['vm-capable'], 'vm-capable');
  return {
    ...(args['secondary-ip'] !== undefined && { secondary_ip: args['secondary-ip'] }),
    ...(args['node-group'] !== undefined && { group: args['node-group'] }),
    ...(masterCandidate !== undefined && { master_candidate: masterCandidate }),
    ...(masterCapable !== undefined && { master_capable: masterCapable }),
    ...(vmCapable !== undefined && { vm_capable: vmCapable }),
    ...(args['node-parameters'] !== undefined && { ndparams: parseNdParams(args['node-parameters'], false) }),
  };
}
