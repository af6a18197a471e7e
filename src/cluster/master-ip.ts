import { isIP } from 'node:net';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's floating master IP: an address that the master node, whichever it is, holds on its master network
 * device, so that clients reach the master at one address across failovers. Corral's clients can reach any
 * node (each forwards to the master), so the address is optional: a cluster has one when it was given one.
 */
export interface MasterIpSpec {
  readonly address: string;
  /** Prefix length, as Ganeti's --master-netmask. */
  readonly netmask: number;
  readonly netdev: string;
  /** Run the administrator's master-ip-setup script rather than Corral's own `ip` commands. */
  readonly external: boolean;
}

/** Where --use-external-mip-script looks, under the daemon's data dir (Ganeti: /etc/ganeti/scripts/). */
export const MASTER_IP_SCRIPT = 'scripts/master-ip-setup';

/** Ganeti's defaults: a host route (32 or 128 bits). */
export function defaultNetmask(address: string): number {
  return isIP(address) === 6 ? 128 : 32;
}

/** Ganeti's CLUSTER_IP_VERSION. */
export function ipVersion(address: string): 4 | 6 {
  return isIP(address) === 6 ? 6 : 4;
}

/** Linux's limit on an interface name (IFNAMSIZ less the terminator), and its allowed characters. */
const NETDEV = /^[A-Za-z0-9_.-]{1,15}$/;

/** Refuses an address, prefix or device that `ip` would not take, naming the option. */
export function checkMasterIp(spec: MasterIpSpec): void {
  if (isIP(spec.address) === 0)
    throw new CorralError('bad_request', `--master-ip: ${spec.address} is not an IPv4 or IPv6 address`);
  const max = ipVersion(spec.address) === 6 ? 128 : 32;
  if (!Number.isInteger(spec.netmask) || spec.netmask < 1 || spec.netmask > max)
    throw new CorralError(
      'bad_request',
      `--master-netmask: ${spec.netmask} is not a prefix length for ${spec.address} (1 to ${max})`,
    );
  if (!NETDEV.test(spec.netdev))
    throw new CorralError('bad_request', `--master-netdev: ${spec.netdev} is not a network device name`);
}

/** What cluster modify asks of the master IP, in Ganeti's opcode fields (master_ip is Corral's). */
export interface MasterIpChanges {
  readonly master_ip?: string;
  readonly master_netdev?: string;
  readonly master_netmask?: number;
  readonly use_external_mip_script?: boolean;
}

/**
 * The master IP after the changes: undefined when none is asked, null to have none. A device, prefix or
 * script choice needs an address, given now or before.
 */
export function masterIpAfter(
  current: MasterIpSpec | undefined,
  changes: MasterIpChanges,
): MasterIpSpec | null | undefined {
  const {
    master_ip: address,
    master_netdev: netdev,
    master_netmask: netmask,
    use_external_mip_script,
  } = changes;
  if (
    address === undefined &&
    netdev === undefined &&
    netmask === undefined &&
    use_external_mip_script === undefined
  )
    return undefined;
  if (address === '') {
    if (netdev !== undefined || netmask !== undefined || use_external_mip_script !== undefined)
      throw new CorralError(
        'bad_request',
        "--master-ip '' removes the master IP; give no other master IP option with it",
      );
    return null;
  }
  const base = address ?? current?.address;
  if (base === undefined)
    throw new CorralError(
      'bad_request',
      'the cluster has no master IP: give --master-ip ADDRESS with --master-netdev, --master-netmask or --use-external-mip-script',
    );
  const spec: MasterIpSpec = {
    address: base,
    // A new address of the other family takes that family's default prefix unless one is given.
    netmask:
      netmask ??
      (current !== undefined && ipVersion(current.address) === ipVersion(base)
        ? current.netmask
        : defaultNetmask(base)),
    netdev: netdev ?? current?.netdev ?? 'eth0',
    external: use_external_mip_script ?? current?.external ?? false,
  };
  checkMasterIp(spec);
  return spec;
}
