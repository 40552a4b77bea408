import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { validateManifest } from '../gears/manifest-file.js';
import { CATEGORIES, gearNameOf, scaffoldManifest, scaffoldRun } from '../gears/scaffold.js';
import { currentKey, sessionFor } from '../session.js';
import { displayName } from '../user-name.js';

interface Options {
  label?: string;
  name?: string;
  author?: string;
  category?: string;
  description?: string;
  force?: boolean;
}

/** Your name from the server when logged in, else the login name: the author default. */
async function defaultAuthor(): Promise<string> {
  try {
    const key = currentKey();
    if (key) return displayName(await sessionFor(key).client.getCurrentUser());
  } catch {
    // offline or logged out: fall through
  }
  return process.env.USER || 'Unknown';
}

export function register(parent: Command): void {
  parent
    .command('create')
    .description('start a new gear in the current folder: manifest.json and a run script')
    .option('--label <label>', 'human-readable name (asked for when run in a terminal)')
    .option('--name <name>', 'gear name (default: the label lower-cased, spaces as hyphens)')
    .option('--author <author>', 'author (default: your name)')
    .option('--category <category>', `one of ${CATEGORIES.join(', ')} (default utility)`)
    .option('--description <text>', 'what the gear does')
    .option('-f, --force', 'overwrite an existing manifest.json and run')
    .addHelpText(
      'after',
      `
In a terminal it asks for what the flags do not give; elsewhere the flags are all it uses. The new
gear works as it is: try it with 'sprocket gear local --input_file=<some file>'.

Examples:
  $ mkdir my-gear && cd my-gear && sprocket gear create
  $ sprocket gear create --label "My Gear" --author "Ada Lovelace" --category qa`,
    )
    .action(async (opts: Options) => {
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const rl = interactive ? createInterface({ input: process.stdin, output: process.stdout }) : undefined;
      const ask = async (question: string, fallback?: string): Promise<string> => {
        if (!rl) return fallback ?? '';
        const answer = (await rl.question(`${question}${fallback ? ` [${fallback}]` : ''}: `)).trim();
        return answer || fallback || '';
      };
      try {
        const manifestFile = path.resolve('manifest.json');
        const runFile = path.resolve('run');
        const exists = fs.existsSync(manifestFile) || fs.existsSync(runFile);
        if (exists && !opts.force) {
          if (!rl) throw new CliError(`${fs.existsSync(manifestFile) ? manifestFile : runFile} already exists (use --force to overwrite)`);
          const yes = (await ask('manifest.json or run already exists here. Overwrite? (yes/no)', 'no')).toLowerCase();
          if (!['y', 'yes'].includes(yes)) throw new CliError('nothing written: the existing gear files were kept');
        }
        let label = opts.label ?? '';
        while (!label) {
          if (!rl) throw new CliError('--label is required when not running in a terminal');
          label = await ask('Gear label (e.g. "My Analysis")');
        }
        const name = opts.name ?? gearNameOf(label);
        const author = opts.author ?? (await ask('Author', await defaultAuthor()));
        let category = opts.category ?? (await ask(`Category (${CATEGORIES.join(', ')})`, 'utility'));
        while (!(CATEGORIES as readonly string[]).includes(category)) {
          if (!rl) throw new CliError(`--category must be one of ${CATEGORIES.join(', ')}, got '${category}'`);
          category = await ask(`Category must be one of ${CATEGORIES.join(', ')}`, 'utility');
        }
        const manifest = scaffoldManifest({ name, label, author, category, description: opts.description });
        validateManifest(manifest, '(from your answers)');
        await fs.promises.writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
        await fs.promises.writeFile(runFile, scaffoldRun(label), { mode: 0o755 });
        await fs.promises.chmod(runFile, 0o755);
        process.stdout.write(
          `Created gear ${name} in ${process.cwd()}: manifest.json and run\nTry it: sprocket gear local --input_file=<a file>\n`,
        );
      } finally {
        rl?.close();
      }
    });
}
