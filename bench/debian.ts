import { execFileSync } from 'node:child_process';

/** Installs a reference system from Debian's packages with apt-get when its command is missing. */
export function ensureDebianPackage(command: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`installing ${pkg} with apt-get…\n`);
    execFileSync(
      'sh',
      ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg}`],
      { stdio: 'inherit' },
    );
  }
}
