import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/program.js';

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
    const listings = ['sprocket ls', 'sprocket status', 'sprocket gear ls', 'sprocket job ls', 'sprocket job status', 'sprocket batch ls', 'sprocket batch status', 'sprocket rule ls', 'sprocket download', 'sprocket import dicom', 'sprocket import folder', 'sprocket batch run'];
    const byName = new Map(all(buildProgram()).map((c) => [fullName(c), c]));
    for (const name of listings) {
      const c = byName.get(name);
      expect(c, name).toBeDefined();
      expect(c!.options.map((o) => o.long), name).toContain('--json');
    }
  });
});
