import { parse } from 'ini';
import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { type CorralDiskTemplate, corralDiskTemplates } from './disk-templates.js';
import { type HypervisorName, hypervisors } from './hypervisors.js';
import { nicModes } from './model.js';

/**
 * The description of an instance export (gnt-backup), as Ganeti writes it into `config.ini` beside the disk
 * dumps: an `[export]` section (version, time, source node, OS, compression, and each disk's dump file), an
 * `[instance]` section (name, memory, vcpus, template, hypervisor, tags, NICs, disk sizes), and the
 * hypervisor, backend and OS parameters in sections of their own. Ganeti's own exports read the same way.
 */

/** Ganeti's constants.EXPORT_VERSION. */
export const EXPORT_VERSION = 0;
export const EXPORT_INFO_FILE = 'config.ini';
/** A config.ini is a few kilobytes; anything much larger is not one. */
export const EXPORT_INFO_BYTES_MAX = 64 * 1024;

export interface ExportedDisk {
  readonly sizeMiB: number;
  readonly name?: string;
  /** The dump's file name in the export dir. */
  readonly dump: string;
}

export interface ExportedNic {
  readonly mac: string;
  readonly ip?: string;
  readonly mode: (typeof nicModes)[number];
  readonly link: string;
  readonly name?: string;
}

export interface ExportInfo {
  readonly name: string;
  /** `name` or `name+variant`. */
  readonly os: string;
  readonly timestampS: number;
  /** The node the instance ran on when it was exported. */
  readonly source: string;
  readonly hypervisor: HypervisorName;
  readonly diskTemplate: CorralDiskTemplate;
  readonly tags: readonly string[];
  readonly disks: readonly ExportedDisk[];
  readonly nics: readonly ExportedNic[];
  /** In Ganeti's names: maxmem, minmem, vcpus, auto_balance, always_failover, spindle_use. */
  readonly beParams: Readonly<Record<string, string>>;
  readonly hvParams: Readonly<Record<string, string>>;
  readonly osParams: Readonly<Record<string, string>>;
}

/** The dump file of disk `index` in an export dir. */
export function dumpFileName(index: number): string {
  return `disk${index}.dump`;
}

/** Python's str() of an absent value, as Ganeti writes it. */
const NONE = 'None';

function section(name: string, entries: readonly (readonly [string, string])[]): string {
  return [`[${name}]`, ...entries.map(([key, value]) => `${key} = ${value}`), ''].join('\n');
}

export function formatExportInfo(info: ExportInfo): string {
  const exportSection: [string, string][] = [
    ['version', String(EXPORT_VERSION)],
    ['timestamp', String(info.timestampS)],
    ['source', info.source],
    ['os', info.os],
    ['compression', 'none'],
  ];
  const instanceSection: [string, string][] = [
    ['name', info.name],
    ['maxmem', info.beParams.maxmem ?? NONE],
    ['minmem', info.beParams.minmem ?? NONE],
    // Ganeti keeps `memory` for exports read by versions before maxmem/minmem.
    ['memory', info.beParams.maxmem ?? NONE],
    ['vcpus', info.beParams.vcpus ?? NONE],
    ['disk_template', info.diskTemplate],
    ['hypervisor', info.hypervisor],
    ['tags', info.tags.join(' ')],
  ];
  info.nics.forEach((nic, n) => {
    instanceSection.push(
      [`nic${n}_mac`, nic.mac],
      [`nic${n}_ip`, nic.ip ?? NONE],
      [`nic${n}_network`, NONE],
      [`nic${n}_name`, nic.name ?? NONE],
      [`nic${n}_mode`, nic.mode],
      [`nic${n}_link`, nic.link],
    );
  });
  instanceSection.push(['nic_count', String(info.nics.length)]);
  info.disks.forEach((disk, d) => {
    exportSection.push(
      [`disk${d}_ivname`, `disk/${d}`],
      [`disk${d}_path`, disk.dump],
      [`disk${d}_size`, String(disk.sizeMiB)],
    );
    instanceSection.push([`disk${d}_size`, String(disk.sizeMiB)], [`disk${d}_name`, disk.name ?? NONE]);
  });
  instanceSection.push(['disk_count', String(info.disks.length)]);
  const sorted = (params: Readonly<Record<string, string>>) =>
    Object.entries(params).sort(([a], [b]) => a.localeCompare(b));
  return [
    section('export', exportSection),
    section('instance', instanceSection),
    section('hypervisor', sorted(info.hvParams)),
    section('backend', sorted(info.beParams)),
    section('os', sorted(info.osParams)),
  ].join('\n');
}

const count = z.coerce.number().int().min(0).max(64);
const sizeMiB = z.coerce.number().int().positive();
const params = z.record(z.string(), z.coerce.string()).default({});
const optional = (value: string | undefined) => (value === undefined || value === NONE ? undefined : value);

const rawSchema = z.object({
  export: z.record(z.string(), z.coerce.string()),
  instance: z.record(z.string(), z.coerce.string()),
  hypervisor: params,
  backend: params,
  os: params,
});

/** Reads a config.ini; refuses one that is not an export's description, naming the key at fault. */
export function parseExportInfo(text: string, where: string): ExportInfo {
  const fail = (what: string): never => {
    throw new CorralError('bad_request', `${where}: ${what}`);
  };
  if (text.length > EXPORT_INFO_BYTES_MAX)
    fail(`larger than ${EXPORT_INFO_BYTES_MAX} bytes: not an export description`);
  const raw = rawSchema.safeParse(parse(text));
  if (!raw.success) return fail(`needs [export] and [instance] sections (${raw.error.issues[0]?.message})`);
  const { export: exp, instance: ins } = raw.data;
  const field = <T>(
    section: Record<string, string>,
    sectionName: string,
    key: string,
    schema: z.ZodType<T>,
  ): T => {
    const parsed = schema.safeParse(section[key]);
    if (!parsed.success)
      return fail(
        `[${sectionName}] ${key} = ${section[key] ?? '(missing)'}: ${parsed.error.issues[0]?.message}`,
      );
    return parsed.data;
  };
  const version = field(exp, 'export', 'version', z.coerce.number().int());
  if (version !== EXPORT_VERSION)
    fail(`[export] version = ${version}: only version ${EXPORT_VERSION} is known`);
  const text64 = z.string().min(1).max(256);
  const diskCount = field(ins, 'instance', 'disk_count', count);
  const nicCount = field(ins, 'instance', 'nic_count', count);
  const disks = Array.from({ length: diskCount }, (_, d): ExportedDisk => {
    const name = optional(ins[`disk${d}_name`]);
    return {
      sizeMiB: field(ins, 'instance', `disk${d}_size`, sizeMiB),
      dump: field(
        exp,
        'export',
        `disk${d}_path`,
        z.string().regex(/^[\w.+-]{1,128}$/, 'a file name in the export dir'),
      ),
      ...(name !== undefined && { name }),
    };
  });
  const nics = Array.from({ length: nicCount }, (_, n): ExportedNic => {
    const ip = optional(ins[`nic${n}_ip`]);
    const name = optional(ins[`nic${n}_name`]);
    return {
      mac: field(ins, 'instance', `nic${n}_mac`, text64),
      mode: field(ins, 'instance', `nic${n}_mode`, z.enum(nicModes)),
      link: optional(ins[`nic${n}_link`]) ?? '',
      ...(ip !== undefined && { ip }),
      ...(name !== undefined && { name }),
    };
  });
  const maxmem = optional(ins.maxmem) ?? optional(ins.memory);
  const minmem = optional(ins.minmem) ?? maxmem;
  const vcpus = optional(ins.vcpus);
  return {
    name: field(ins, 'instance', 'name', text64),
    os: field(exp, 'export', 'os', text64),
    timestampS: field(exp, 'export', 'timestamp', z.coerce.number().int().min(0)),
    source: field(exp, 'export', 'source', text64),
    hypervisor: field(ins, 'instance', 'hypervisor', z.enum(hypervisors)),
    diskTemplate: field(ins, 'instance', 'disk_template', z.enum(corralDiskTemplates)),
    tags: (ins.tags ?? '').split(' ').filter((tag) => tag !== ''),
    disks,
    nics,
    beParams: {
      ...raw.data.backend,
      ...(maxmem !== undefined && { maxmem }),
      ...(minmem !== undefined && { minmem }),
      ...(vcpus !== undefined && { vcpus }),
    },
    hvParams: raw.data.hypervisor,
    osParams: raw.data.os,
  };
}
