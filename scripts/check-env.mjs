// Runs before the test suite: stop at once, with one line naming what to install, rather than fail obscurely.
import { execFileSync } from 'node:child_process';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(
    `corral needs Node.js 22 or newer, found ${process.version}: run 'npm install' (it pins Node 22 for npm scripts) or install Node 22`,
  );
  process.exit(1);
}

/** Commands the suite runs, and the Debian package that provides each. */
const required = [];

for (const { command, pkg } of required) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    console.error(
      `the test suite needs '${command}': install it with 'apt-get update && apt-get install -y ${pkg}'`,
    );
    process.exit(1);
  }
}
