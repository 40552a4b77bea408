import { SPROCKET_VERSION } from '@sprocket/types/version';

/**
 * The `sprocket` entry. `--version` is answered here, before the command tree (every command
 * module, the SDK, commander) is loaded: it is what scripts and installers call to check the CLI
 * is there, so it should cost little more than Node's own start. The output is commander's.
 */
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${SPROCKET_VERSION}\n`);
} else {
  await (await import('./run.js')).run(process.argv);
}
