import { createInterface } from 'node:readline/promises';
import { CliError } from './errors.js';

/**
 * The gate in front of destructive commands: `--yes` passes; on a terminal the question is asked
 * (on stderr, so stdout stays clean) and only `y`/`yes` goes ahead; without a terminal and without
 * `--yes` the command refuses, since a script cannot answer.
 */
export async function confirmOrRefuse(what: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new CliError(`${what}: refusing without confirmation; pass --yes (there is no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  let answer: string;
  try {
    answer = await rl.question(`${what}? [y/N] `);
  } finally {
    rl.close();
  }
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`${what}: not confirmed, nothing done`);
}
