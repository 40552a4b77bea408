import type { ConfigSpec, GearManifest } from '@sprocket/types';

/**
 * A gear's config form, generated from the manifest's config snippets (gear spec §1.4): one field
 * per key, its control picked from the snippet's type and enum, its value checked as it is typed
 * with a message in words. The server checks the config again with Ajv on launch (resolveConfig);
 * Ajv compiles schemas to code with `new Function`, which the UI's Content-Security-Policy
 * (script-src 'self', no 'unsafe-eval') rightly forbids, hence these checks of the keywords gear
 * manifests use, with the server's answer shown as it is for anything beyond them.
 */

export type FieldKind = 'boolean' | 'enum' | 'integer' | 'number' | 'string' | 'array';

export interface ConfigField {
  key: string;
  spec: ConfigSpec;
  kind: FieldKind;
  required: boolean;
  options?: unknown[];
}

export function configFields(m: GearManifest): ConfigField[] {
  return Object.entries(m.config ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, spec]) => {
      const options = Array.isArray(spec.enum) ? (spec.enum as unknown[]) : undefined;
      const kind: FieldKind = options ? 'enum' : spec.type;
      return { key, spec, kind, required: !('default' in spec) && spec.optional !== true, ...(options ? { options } : {}) };
    });
}

/** The text a field starts with: the given value, else the manifest's default, else empty. */
export function initialText(f: ConfigField, given: unknown): string {
  const v = given ?? f.spec.default;
  if (v === undefined || v === null) return '';
  if (f.kind === 'array') return (v as unknown[]).map(String).join(', ');
  return String(v);
}

export type Parsed = { ok: true; value: unknown; empty: boolean } | { ok: false; message: string };

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** The bounds of a number snippet, draft-04 (boolean exclusive*) or newer (numeric exclusive*). */
function rangeProblem(spec: ConfigSpec, n: number): string | undefined {
  const min = num(spec.minimum);
  const max = num(spec.maximum);
  const exMin = spec.exclusiveMinimum === true ? min : num(spec.exclusiveMinimum);
  const exMax = spec.exclusiveMaximum === true ? max : num(spec.exclusiveMaximum);
  const lo = exMin !== undefined ? `more than ${exMin}` : min !== undefined ? `at least ${min}` : undefined;
  const hi = exMax !== undefined ? `less than ${exMax}` : max !== undefined ? `at most ${max}` : undefined;
  const bad =
    (exMin !== undefined && n <= exMin) ||
    (min !== undefined && n < min) ||
    (exMax !== undefined && n >= exMax) ||
    (max !== undefined && n > max);
  if (bad) return `Must be ${[lo, hi].filter(Boolean).join(' and ')}.`;
  const step = num(spec.multipleOf);
  if (step && Math.abs(n / step - Math.round(n / step)) > 1e-9) return `Must be a multiple of ${step}.`;
  return undefined;
}

function stringProblem(spec: ConfigSpec, s: string): string | undefined {
  const minLength = num(spec.minLength);
  const maxLength = num(spec.maxLength);
  if (minLength !== undefined && s.length < minLength) return `Must be at least ${minLength} character${minLength === 1 ? '' : 's'} long.`;
  if (maxLength !== undefined && s.length > maxLength) return `Must be at most ${maxLength} character${maxLength === 1 ? '' : 's'} long.`;
  if (typeof spec.pattern === 'string') {
    let re: RegExp | undefined;
    try {
      re = new RegExp(spec.pattern, 'u');
    } catch {
      re = undefined;
    }
    if (re && !re.test(s)) return `Must match the pattern ${spec.pattern}.`;
  }
  return undefined;
}

function scalar(kind: 'integer' | 'number' | 'string' | 'boolean', spec: ConfigSpec, text: string): Parsed {
  if (kind === 'string') {
    const p = stringProblem(spec, text);
    return p ? { ok: false, message: p } : { ok: true, value: text, empty: text === '' };
  }
  if (kind === 'boolean') return { ok: true, value: text === 'true', empty: false };
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t))
    return { ok: false, message: kind === 'integer' ? 'Must be a whole number.' : 'Must be a number.' };
  const n = Number(t);
  if (kind === 'integer' && !Number.isInteger(n)) return { ok: false, message: `Must be a whole number (${t} has a fraction).` };
  const p = rangeProblem(spec, n);
  return p ? { ok: false, message: p } : { ok: true, value: n, empty: false };
}

/** The value a field's text stands for, or why it is not one the gear accepts. */
export function parseField(f: ConfigField, text: string): Parsed {
  if (text.trim() === '' && f.kind !== 'string' && f.kind !== 'boolean') {
    if (f.required) return { ok: false, message: 'Required: this gear has no default for it.' };
    return { ok: true, value: undefined, empty: true };
  }
  if (f.kind === 'enum') {
    const hit = f.options!.find((o) => String(o) === text);
    return hit === undefined
      ? { ok: false, message: `Must be one of ${f.options!.map(String).join(', ')}.` }
      : { ok: true, value: hit, empty: false };
  }
  if (f.kind === 'array') {
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const itemSpec = (f.spec.items ?? {}) as ConfigSpec;
    const itemKind = (['integer', 'number', 'boolean'].includes(itemSpec.type) ? itemSpec.type : 'string') as
      | 'integer'
      | 'number'
      | 'string';
    const out: unknown[] = [];
    for (const [i, s] of items.entries()) {
      const p = scalar(itemKind, itemSpec, s);
      if (!p.ok) return { ok: false, message: `Item ${i + 1} (${s}): ${p.message}` };
      out.push(p.value);
    }
    const minItems = num(f.spec.minItems);
    const maxItems = num(f.spec.maxItems);
    if (minItems !== undefined && out.length < minItems)
      return { ok: false, message: `Needs at least ${minItems} item${minItems === 1 ? '' : 's'}.` };
    if (maxItems !== undefined && out.length > maxItems)
      return { ok: false, message: `Takes at most ${maxItems} item${maxItems === 1 ? '' : 's'}.` };
    return { ok: true, value: out, empty: false };
  }
  return scalar(f.kind, f.spec, text);
}

/** The range or length a field accepts, in words, shown under it. */
export function constraintText(f: ConfigField): string | undefined {
  const s = f.spec;
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`${s.exclusiveMinimum === true ? '>' : '≥'} ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`${s.exclusiveMaximum === true ? '<' : '≤'} ${s.maximum}`);
  if (typeof s.exclusiveMaximum === 'number') parts.push(`< ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) parts.push(`${s.minLength ?? 0}–${s.maxLength ?? '∞'} characters`);
  if (f.kind === 'array') parts.push('comma-separated');
  return parts.length ? parts.join(', ') : undefined;
}
