import type { GearConfigSpec, GearManifest } from '@sprocket/sdk';
import { CliError } from '../errors.js';

/**
 * `--<name>=<value>` / `--<name> <value>` / `--<name>` flags whose names come from a gear's
 * manifest, which commander cannot know in advance. Tokens that are not flags are returned too.
 */
export function splitFlags(tokens: string[]): { flags: Map<string, string | true>; positionals: string[] } {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith('--') || t === '--') {
      positionals.push(t);
      continue;
    }
    const eq = t.indexOf('=');
    let name: string;
    let value: string | true;
    if (eq > 0) {
      name = t.slice(2, eq);
      value = t.slice(eq + 1);
    } else {
      name = t.slice(2);
      const next = tokens[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else value = true;
    }
    if (flags.has(name)) throw new CliError(`--${name} is given twice`);
    flags.set(name, value);
  }
  return { flags, positionals };
}

function typeOf(spec: GearConfigSpec): string | undefined {
  return Array.isArray(spec.type) ? spec.type.find((t) => t !== 'null') : spec.type;
}

/** A command-line string as the JSON value the manifest's type asks for. */
export function configValue(name: string, spec: GearConfigSpec, raw: string | true): unknown {
  const type = typeOf(spec);
  const bad = (what: string) => new CliError(`--${name}: expected ${what}, got '${raw === true ? '(no value)' : raw}'`);
  if (type === 'boolean') {
    if (raw === true) return true;
    const v = raw.toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(v)) return true;
    if (['false', 'no', '0', 'off'].includes(v)) return false;
    throw bad('true or false');
  }
  if (raw === true) throw bad('a value (--name=value)');
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw bad(type === 'integer' ? 'a whole number' : 'a number');
    if (type === 'integer' && !Number.isInteger(n)) throw bad('a whole number');
    return n;
  }
  if (type === 'array') {
    if (raw.trim().startsWith('[')) {
      try {
        const v = JSON.parse(raw);
        if (Array.isArray(v)) return v;
      } catch {
        // not JSON: fall through to the comma list
      }
      throw bad('a JSON array or a comma-separated list');
    }
    const itemType = typeof spec.items === 'object' && spec.items ? (spec.items as { type?: string }).type : undefined;
    return raw.split(',').map((s) => (itemType === 'number' || itemType === 'integer' ? Number(s.trim()) : s.trim()));
  }
  if (type === 'object') {
    try {
      return JSON.parse(raw);
    } catch {
      throw bad('a JSON object');
    }
  }
  return raw;
}

export interface GearArgs {
  /** Input name → what the user gave (a path). */
  inputs: Record<string, string>;
  config: Record<string, unknown>;
}

/** Sorts the gear flags into inputs and config; unknown names are refused, listing the known ones. */
export function gearArgs(manifest: GearManifest, flags: Map<string, string | true>): GearArgs {
  const inputs: Record<string, string> = {};
  const config: Record<string, unknown> = {};
  for (const [name, raw] of flags) {
    if (name in (manifest.inputs ?? {})) {
      const spec = manifest.inputs[name]!;
      if (spec.base === 'api-key') throw new CliError(`--${name} is an api-key input: the key is supplied when the gear runs`);
      if (raw === true) throw new CliError(`--${name}: expected a path (--${name}=<path>)`);
      inputs[name] = raw;
    } else if (name in (manifest.config ?? {})) {
      config[name] = configValue(name, manifest.config[name]!, raw);
    } else {
      const known = [
        ...Object.keys(manifest.inputs ?? {}).map((k) => `--${k} (input)`),
        ...Object.keys(manifest.config ?? {}).map((k) => `--${k}`),
      ];
      throw new CliError(
        `unknown option --${name} for gear ${manifest.name}${known.length ? `; it takes ${known.join(', ')}` : '; it takes no inputs or config'}`,
      );
    }
  }
  return { inputs, config };
}

/** Required file inputs that were not given. */
export function missingInputs(manifest: GearManifest, given: Record<string, string>): string[] {
  return Object.entries(manifest.inputs ?? {})
    .filter(([k, spec]) => spec.base === 'file' && !spec.optional && !(k in given))
    .map(([k]) => k);
}
