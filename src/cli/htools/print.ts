import { showDouble, showFFloat } from '../../alloc/haskell-show.js';
import {
  type ClusterState,
  isRunning,
  type NodeState,
  noNode,
  pDskOf,
  unallocatedMem,
} from '../../alloc/state.js';
import type { ToolOutput } from './tool.js';

/**
 * The htools' node and instance tables (-p/--print-nodes, --print-instances), field for field and
 * column for column as Ganeti's Node.showField and Cluster.printInsts print them.
 */

/** Ganeti's longestDomain: the longest ".suffix" every node and instance name shares, stripped for display. */
export function commonSuffix(state: ClusterState): string {
  const names = [
    ...state.nodes.map((n) => n.name as string),
    ...state.instances.map((i) => i.name as string),
  ];
  const [first, ...rest] = names;
  if (first === undefined) return '';
  for (let k = 0; k < first.length; k++) {
    const suffix = first.slice(k);
    if (suffix.startsWith('.') && rest.every((name) => name.endsWith(suffix))) return suffix;
  }
  return '';
}

export function aliasOf(name: string, suffix: string): string {
  return suffix !== '' && name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
}

const fixed = (value: number, width: number, digits: number): string =>
  showFFloat(value, digits).padStart(width);
const whole = (value: number, width: number): string => String(Math.trunc(value)).padStart(width);

type Field = readonly [header: string, numeric: boolean, show: (n: NodeState, alias: string) => string];

const nodeFields: Record<string, Field> = {
  idx: ['Index', true, (n) => whole(n.idx, 4)],
  name: ['Name', false, (_n, alias) => alias],
  fqdn: ['Name', false, (n) => n.name],
  status: ['F', false, (n) => (n.offline ? '-' : n.failN1 ? '*' : ' ')],
  tmem: ['t_mem', true, (n) => fixed(n.tMem, 5, 0)],
  nmem: ['n_mem', true, (n) => whole(n.nMem, 5)],
  xmem: ['x_mem', true, (n) => whole(n.xMem, 5)],
  fmem: ['f_mem', true, (n) => whole(n.fMem, 5)],
  umem: ['u_mem', true, (n) => whole(unallocatedMem(n), 5)],
  imem: ['i_mem', true, (n) => whole(n.iMem, 5)],
  rmem: ['r_mem', true, (n) => whole(n.rMem, 5)],
  amem: ['a_mem', true, (n) => whole(Math.max(0, unallocatedMem(n) - n.rMem), 5)],
  tdsk: ['t_dsk', true, (n) => fixed(n.tDsk / 1024, 5, 0)],
  fdsk: ['f_dsk', true, (n) => whole(Math.floor(n.fDsk / 1024), 5)],
  tcpu: ['pcpu', true, (n) => fixed(n.tCpu, 4, 0)],
  ucpu: ['vcpu', true, (n) => whole(n.uCpu, 4)],
  pcnt: ['pcnt', true, (n) => whole(n.pCount, 3)],
  scnt: ['scnt', true, (n) => whole(n.sCount, 3)],
  pfmem: ['p_fmem', true, (n) => fixed(unallocatedMem(n) / n.tMem, 6, 4)],
  pfdsk: ['p_fdsk', true, (n) => fixed(pDskOf(n, n.fSpindles, n.fDsk), 6, 4)],
  rcpu: ['r_cpu', true, (n) => fixed(n.uCpu / n.tCpu, 5, 2)],
  cload: ['lCpu', true, (n) => fixed(n.lCpu, 5, 3)],
  mload: ['lMem', true, (n) => fixed(n.lMem, 5, 3)],
  dload: ['lDsk', true, (n) => fixed(n.lDsk, 5, 3)],
  nload: ['lNet', true, (n) => fixed(n.lNet, 5, 3)],
  ptags: [
    'PrimaryTags',
    false,
    (n) =>
      [...n.pTags.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([tag, count]) => `${tag}=${count}`)
        .join(','),
  ],
  spindle_count: ['NodeSpindles', true, (n) => String(n.tSpindles)],
  hi_spindles: ['MaxSpindles', true, (n) => showDouble(n.hiSpindles)],
  inst_spindles: ['InstSpindles', true, (n) => showDouble(n.instSpindles)],
};

const defaultFields = [
  'status',
  'name',
  'tmem',
  'nmem',
  'imem',
  'xmem',
  'fmem',
  'umem',
  'rmem',
  'tdsk',
  'fdsk',
  'tcpu',
  'ucpu',
  'pcnt',
  'scnt',
  'pfmem',
  'pfdsk',
  'rcpu',
  'cload',
  'mload',
  'dload',
  'nload',
];

/** Ganeti's printTable: columns padded to their widest cell (numbers to the right), a space before each row. */
export function printTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: readonly boolean[],
  prefix = '',
): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  return all
    .map(
      (row) =>
        `${prefix} ${row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join(' ')}\n`,
    )
    .join('');
}

export function printNodes(
  state: ClusterState,
  nodes: readonly number[],
  requested: readonly string[],
): string {
  const names =
    requested.length === 0
      ? defaultFields
      : requested[0] === '+'
        ? [...defaultFields, ...requested.slice(1)]
        : requested;
  const fields = names.map((name) => {
    const field = nodeFields[name];
    return field ?? (['<unknown field>', false, () => '<unknown field>'] as Field);
  });
  const suffix = commonSuffix(state);
  const rows = [...nodes]
    .sort((a, b) => a - b)
    .map((idx) => state.nodes[idx])
    .filter((n): n is NodeState => n !== undefined)
    .map((n) => fields.map(([, , show]) => show(n, aliasOf(n.name, suffix))));
  return printTable(
    fields.map(([header]) => header),
    rows,
    fields.map(([, numeric]) => numeric),
  );
}

export function printInstances(state: ClusterState, instances: readonly number[]): string {
  const nodeName = (idx: number): string => (idx === noNode ? '' : (state.nodes[idx]?.name ?? ''));
  const rows = [...instances]
    .sort((a, b) => a - b)
    .map((idx) => state.instances[idx])
    .filter((i) => i !== undefined)
    .map((i) => [
      isRunning(i) ? 'R' : ' ',
      i.name,
      nodeName(i.pNode),
      nodeName(i.sNode),
      i.autoBalance ? 'Y' : 'N',
      whole(i.vcpus, 3),
      whole(i.memoryMiB, 5),
      whole(Math.floor(i.diskMiB / 1024), 5),
      fixed(i.util.cpu, 5, 3),
      fixed(i.util.mem, 5, 3),
      fixed(i.util.disk, 5, 3),
      fixed(i.util.net, 5, 3),
    ]);
  const header = [
    'F',
    'Name',
    'Pri_node',
    'Sec_node',
    'Auto_bal',
    'vcpu',
    'mem',
    'dsk',
    'lCpu',
    'lMem',
    'lDsk',
    'lNet',
  ];
  return printTable(header, rows, [
    false,
    false,
    false,
    false,
    false,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
}

/** Ganeti's maybePrintNodes: on stderr, after a blank line and "<what> status:". */
export function maybePrintNodes(
  fields: readonly string[] | undefined,
  what: string,
  state: ClusterState,
  nodes: readonly number[],
  io: ToolOutput,
): void {
  if (fields === undefined) return;
  io.err(`\n${what} status:\n${printNodes(state, nodes, fields)}\n`);
}

/** Ganeti's maybePrintInsts: on stderr, after a blank line and "<what> instance map:". */
export function maybePrintInsts(
  show: boolean,
  what: string,
  state: ClusterState,
  instances: readonly number[],
  io: ToolOutput,
): void {
  if (!show) return;
  io.err(`\n${what} instance map:\n${printInstances(state, instances)}`);
}
