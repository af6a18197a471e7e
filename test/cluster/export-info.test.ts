import { describe, expect, it } from 'vitest';
import { type ExportInfo, formatExportInfo, parseExportInfo } from '../../src/cluster/export-info.js';

const info: ExportInfo = {
  name: 'web1',
  os: 'noop+default',
  timestampS: 1_764_000_000,
  source: 'node1',
  hypervisor: 'kvm',
  diskTemplate: 'file',
  tags: ['web', 'prod'],
  disks: [
    { sizeMiB: 1024, dump: 'disk0.dump', name: 'root' },
    { sizeMiB: 512, dump: 'disk1.dump' },
  ],
  nics: [{ mac: 'aa:00:00:12:34:56', ip: '192.0.2.10', mode: 'bridged', link: 'br0' }],
  beParams: { maxmem: '256', minmem: '128', vcpus: '2', auto_balance: 'True' },
  hvParams: { kernel_args: 'console=ttyS0 ro', boot_order: 'disk' },
  osParams: { dhcp: 'yes' },
};

/** An export written by Ganeti 2.16 (lib/backend.py FinalizeExport), trimmed of parameters we do not model. */
const ganetiWritten = `[export]
version = 0
timestamp = 1700000000
source = node1.example.com
os = debootstrap+default
compression = none
disk0_ivname = disk/0
disk0_path = 0fb5b2a3-1c4e-4f32-a8b4-5f0a5c2b1d1e.disk0_data.snap
disk0_size = 10240

[instance]
name = db1.example.com
maxmem = 2048
minmem = 1024
memory = 2048
vcpus = 2
disk_template = plain
hypervisor = kvm
tags = 
nic0_mac = aa:00:00:35:79:1b
nic0_ip = None
nic0_network = None
nic0_name = None
nic0_mode = bridged
nic0_link = br0
nic0_vlan = 
nic_count = 1
disk0_size = 10240
disk0_name = None
disk_count = 1

[hypervisor]
kernel_args = ro
boot_order = disk

[backend]
auto_balance = True
spindle_use = 1

[os]
`;

describe('export descriptions (config.ini)', () => {
  it('reads back what it writes', () => {
    expect(parseExportInfo(formatExportInfo(info), 'web1')).toEqual(info);
  });

  it("writes Ganeti's keys, so that Ganeti can import Corral's exports", () => {
    const text = formatExportInfo(info);
    for (const line of [
      'version = 0',
      'disk0_path = disk0.dump',
      'disk1_size = 512',
      'memory = 256',
      'nic0_link = br0',
      'nic_count = 1',
      'disk_count = 2',
      'kernel_args = console=ttyS0 ro',
    ])
      expect(text).toContain(`\n${line}\n`);
  });

  it("reads an export Ganeti wrote, with Ganeti's None for absent values", () => {
    const read = parseExportInfo(ganetiWritten, 'db1');
    expect(read).toMatchObject({
      name: 'db1.example.com',
      os: 'debootstrap+default',
      diskTemplate: 'plain',
      tags: [],
      disks: [{ sizeMiB: 10240, dump: '0fb5b2a3-1c4e-4f32-a8b4-5f0a5c2b1d1e.disk0_data.snap' }],
      nics: [{ mac: 'aa:00:00:35:79:1b', mode: 'bridged', link: 'br0' }],
      beParams: { maxmem: '2048', minmem: '1024', vcpus: '2', auto_balance: 'True', spindle_use: '1' },
      hvParams: { kernel_args: 'ro', boot_order: 'disk' },
    });
    expect(read.nics[0]).not.toHaveProperty('ip');
    expect(read.disks[0]).not.toHaveProperty('name');
  });

  it('refuses what is not an export description, naming the key at fault', () => {
    const refusals: [string, RegExp][] = [
      ['not ini at all', /needs \[export\] and \[instance\] sections/],
      [ganetiWritten.replace('version = 0', 'version = 3'), /\[export\] version = 3: only version 0/],
      [ganetiWritten.replace('disk_count = 1', 'disk_count = many'), /\[instance\] disk_count = many/],
      [
        ganetiWritten.replace('disk0_size = 10240\ndisk0_name', 'disk0_size = -5\ndisk0_name'),
        /disk0_size = -5/,
      ],
      [
        ganetiWritten.replace(/disk0_path = .*/, 'disk0_path = ../../etc/passwd'),
        /disk0_path = \.\.\/\.\.\/etc\/passwd/,
      ],
      [
        ganetiWritten.replace('hypervisor = kvm', 'hypervisor = xen-pvm'),
        /\[instance\] hypervisor = xen-pvm/,
      ],
      [ganetiWritten.replace('nic_count = 1', 'nic_count = 2'), /\[instance\] nic1_mac = \(missing\)/],
      ['x'.repeat(70_000), /larger than 65536 bytes/],
    ];
    for (const [text, message] of refusals) expect(() => parseExportInfo(text, 'db1')).toThrow(message);
  });
});
