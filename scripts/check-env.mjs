// Runs before the test suite: stop at once, with one line naming what to install, rather than fail obscurely.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(
    `corral needs Node.js 22 or newer, found ${process.version}: run 'npm install' (it pins Node 22 for npm scripts) or install Node 22`,
  );
  process.exit(1);
}
