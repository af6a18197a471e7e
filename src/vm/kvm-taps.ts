import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import type { NicSpec } from './hypervisor.js';

/**
 * The host side of bridged NICs: one tap device per NIC, made with iproute2 before QEMU starts and put
 * into the NIC's bridge (its link), removed after QEMU has exited. The name is derived from the run dir,
 * the instance and the NIC's PCI slot (its own for the guest's life), so that a restarted daemon removes the taps of an instance it did not
 * start, and two nodes on one host (a migration in the tests) do not share a name. Routed and openvswitch
 * NICs need more than a tap (the instance's IP, an OVS port) and are refused with a clear line.
 */

const run = promisify(execFile);
const ipCommandTimeoutMs = 10_000;

/** Interface names hold 15 characters: `ctap`, 8 hex digits, the slot (at most 2). */
export function tapName(runDir: string, instance: string, pciSlot: number): string {
  const digest = createHash('sha256').update(`${runDir}\0${instance}`).digest('hex').slice(0, 8);
  return `ctap${digest}${pciSlot}`;
}

export type PlacedNic = NicSpec & { readonly pciSlot: number };

/** Refuses NICs this hypervisor cannot connect, before anything is made. */
export async function checkNics(instance: string, nics: readonly NicSpec[]): Promise<void> {
  for (const nic of nics) {
    if (nic.mode === 'none') continue;
    if (nic.mode !== 'bridged') {
      throw new CorralError(
        'unavailable',
        `NIC ${nic.mac} of ${instance} is in mode ${nic.mode}, which the kvm hypervisor does not connect yet; use mode bridged or none`,
      );
    }
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(nic.link) || (await linkKind(nic.link)) !== 'bridge') {
      throw new CorralError(
        'unavailable',
        `NIC ${nic.mac} of ${instance} is bridged to ${nic.link || '(no link)'}, which is not a bridge on this node`,
      );
    }
  }
}

const linksSchema = z.array(z.object({ linkinfo: z.object({ info_kind: z.string() }).optional() }));

/**
 * What kind of interface a link is (`bridge`, `tun`, … or '' for a plain one), or undefined when there is
 * no such link. Asked of iproute2 rather than read in /sys, which shows the namespace it was mounted in.
 */
async function linkKind(name: string): Promise<string | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await run('ip', ['-details', '-json', 'link', 'show', 'dev', name], {
      timeout: ipCommandTimeoutMs,
    }));
  } catch {
    return undefined;
  }
  return linksSchema.parse(JSON.parse(stdout))[0]?.linkinfo?.info_kind ?? '';
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: ipCommandTimeoutMs });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new CorralError(
      'unavailable',
      `ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Makes the tap of a bridged NIC, up and in its bridge; a tap left by a QEMU that died is replaced. */
export async function createTap(runDir: string, instance: string, nic: PlacedNic): Promise<void> {
  if (nic.mode !== 'bridged') return;
  await removeTap(runDir, instance, nic);
  const tap = tapName(runDir, instance, nic.pciSlot);
  try {
    await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await ip(['link', 'set', 'dev', tap, 'master', nic.link]);
    await ip(['link', 'set', 'dev', tap, 'up']);
  } catch (error) {
    await removeTap(runDir, instance, nic);
    throw error;
  }
}

export async function removeTap(runDir: string, instance: string, nic: PlacedNic): Promise<void> {
  const tap = tapName(runDir, instance, nic.pciSlot);
  if (nic.mode === 'bridged' && (await linkKind(tap)) !== undefined) await ip(['link', 'del', 'dev', tap]);
}

export async function createTaps(
  runDir: string,
  instance: string,
  nics: readonly PlacedNic[],
): Promise<void> {
  try {
    for (const nic of nics) await createTap(runDir, instance, nic);
  } catch (error) {
    await removeTaps(runDir, instance, nics);
    throw error;
  }
}

export async function removeTaps(
  runDir: string,
  instance: string,
  nics: readonly PlacedNic[],
): Promise<void> {
  for (const nic of nics) await removeTap(runDir, instance, nic);
}
