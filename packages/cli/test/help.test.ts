import { spawnSync } from 'node:child_process';
import { SPROCKET_VERSION } from '@sprocket/types';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/program.js';
import { BIN } from './helpers.js';

function all(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(all)];
}

function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

const fullName = (c: Command): string => (c.parent ? `${fullName(c.parent)} ${c.name()}` : c.name());

describe('help', () => {
  it('every command has help with examples', () => {
    const commands = all(buildProgram());
    expect(commands.length).toBeGreaterThan(35);
    for (const c of commands) {
      const help = helpOf(c);
      expect(help, fullName(c)).toContain('Examples:');
      expect(help, fullName(c)).toContain('$ sprocket');
    }
  });

  it('every listing takes --json', () => {
    const listings = [
      'sprocket ls',
      'sprocket status',
      'sprocket gear ls',
      'sprocket job ls',
      'sprocket job status',
      'sprocket batch ls',
      'sprocket batch status',
      'sprocket rule ls',
      'sprocket download',
      'sprocket import dicom',
      'sprocket import folder',
      'sprocket batch run',
    ];
    const byName = new Map(all(buildProgram()).map((c) => [fullName(c), c]));
    for (const name of listings) {
      const c = byName.get(name);
      expect(c, name).toBeDefined();
      expect(
        c!.options.map((o) => o.long),
        name,
      ).toContain('--json');
    }
  });

  it('answers --version before loading the command tree, as commander would', () => {
    let fromCommander = '';
    const program = buildProgram()
      .exitOverride()
      .configureOutput({ writeOut: (t) => (fromCommander += t) });
    expect(() => program.parse(['node', 'sprocket', '--version'])).toThrow(SPROCKET_VERSION);
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, [BIN, flag], { encoding: 'utf8', env: { ...process.env, SPROCKET_API_KEY: '' } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(fromCommander);
    }
    // Any other command line is the command tree's to parse.
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(help.stdout).toContain('Usage: sprocket');
  });
});
