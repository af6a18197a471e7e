import type { HypervisorName } from '../cluster/hypervisors.js';
import { type ClusterParams, ganetiBeParams } from '../cluster/model.js';
import type { BeParamsInput, Opcode } from '../cluster/opcodes.js';
import { filledHvParams, filledOsParams } from '../cluster/os-params.js';

type CreateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>;

/**
 * Ganeti's --identify-defaults (its _RevertToDefaults): the hypervisor, backend, NIC and OS parameters of a
 * new instance that equal what the cluster would give it are dropped, so that the instance follows the
 * cluster's defaults when they change instead of keeping copies of them.
 */
export function withoutClusterDefaults(
  op: CreateOp,
  cluster: Pick<ClusterParams, 'beParams' | 'nicParams' | 'hvParams' | 'osHvParams' | 'osParams'>,
  hypervisor: HypervisorName,
): CreateOp {
  const os = op.os_type ?? '';
  const hvDefaults = filledHvParams(cluster, { os, hypervisor, hvParams: {} });
  const osDefaults = filledOsParams(cluster, { os, osParams: {} });
  const be = cluster.beParams;
  const beDefaults: Required<Omit<BeParamsInput, 'memory'>> = ganetiBeParams(be);
  const beparams = Object.fromEntries(
    Object.entries(op.beparams ?? {}).filter(([key, value]) =>
      key === 'memory'
        ? value !== be.maxmemMiB || value !== be.minmemMiB
        : beDefaults[key as keyof typeof beDefaults] !== value,
    ),
  ) as BeParamsInput;
  const nicDefaults: Record<string, string> = { ...cluster.nicParams };
  return {
    ...op,
    ...(op.hvparams !== undefined && { hvparams: notDefault(op.hvparams, hvDefaults) }),
    ...(op.osparams !== undefined && { osparams: notDefault(op.osparams, osDefaults) }),
    ...(op.beparams !== undefined && { beparams }),
    ...(op.nics !== undefined && {
      nics: op.nics.map((nic) => notDefault(nic, nicDefaults) as typeof nic),
    }),
  };
}

function notDefault<V>(given: Readonly<Record<string, V>>, defaults: Readonly<Record<string, unknown>>) {
  return Object.fromEntries(Object.entries(given).filter(([key, value]) => defaults[key] !== value));
}
