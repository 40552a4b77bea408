import type { GearManifest } from '@sprocket/types';
import { describe, expect, it } from 'vitest';
import { configFields, initialText, parseField } from '../src/api/config-form.js';

/** The Run dialog's config form: the manifest's snippets become fields, bad values get words. */
const manifest = {
  name: 'demo',
  config: {
    seconds: { type: 'integer', default: 5, minimum: 1, maximum: 60 },
    ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1, optional: true },
    mode: { type: 'string', enum: ['fast', 'slow'], default: 'fast' },
    label: { type: 'string', maxLength: 4, pattern: '^[a-z]+$', default: 'ab' },
    flags: { type: 'array', items: { type: 'integer' }, maxItems: 2, default: [1] },
    must: { type: 'integer' },
    on: { type: 'boolean', default: true },
  },
} as unknown as GearManifest;
const fields = Object.fromEntries(configFields(manifest).map((f) => [f.key, f]));
const parse = (k: string, text: string) => parseField(fields[k]!, text);

describe('config form', () => {
  it('makes one field per option, enums as choices, required where there is no default', () => {
    expect(Object.keys(fields)).toEqual(['flags', 'label', 'mode', 'must', 'on', 'ratio', 'seconds']);
    expect(fields.mode).toMatchObject({ kind: 'enum', options: ['fast', 'slow'], required: false });
    expect(fields.must!.required).toBe(true);
    expect(fields.ratio!.required).toBe(false);
    expect(initialText(fields.flags!, undefined)).toBe('1');
    expect(initialText(fields.seconds!, 12)).toBe('12');
  });

  it('turns good text into the values the gear takes', () => {
    expect(parse('seconds', ' 30 ')).toEqual({ ok: true, value: 30, empty: false });
    expect(parse('ratio', '0.5')).toEqual({ ok: true, value: 0.5, empty: false });
    expect(parse('ratio', '')).toEqual({ ok: true, value: undefined, empty: true });
    expect(parse('flags', '3, 4')).toEqual({ ok: true, value: [3, 4], empty: false });
    expect(parse('on', 'false')).toEqual({ ok: true, value: false, empty: false });
    expect(parse('mode', 'slow')).toEqual({ ok: true, value: 'slow', empty: false });
  });

  it('says in words what is wrong with a bad value', () => {
    expect(parse('seconds', 'ten')).toEqual({ ok: false, message: 'Must be a whole number.' });
    expect(parse('seconds', '2.5')).toEqual({ ok: false, message: 'Must be a whole number (2.5 has a fraction).' });
    expect(parse('seconds', '61')).toEqual({ ok: false, message: 'Must be at least 1 and at most 60.' });
    expect(parse('ratio', '0')).toEqual({ ok: false, message: 'Must be more than 0 and at most 1.' });
    expect(parse('mode', 'medium')).toEqual({ ok: false, message: 'Must be one of fast, slow.' });
    expect(parse('label', 'abcde')).toEqual({ ok: false, message: 'Must be at most 4 characters long.' });
    expect(parse('label', 'AB')).toEqual({ ok: false, message: 'Must match the pattern ^[a-z]+$.' });
    expect(parse('flags', '1, x')).toEqual({ ok: false, message: 'Item 2 (x): Must be a whole number.' });
    expect(parse('flags', '1,2,3')).toEqual({ ok: false, message: 'Takes at most 2 items.' });
    expect(parse('must', '')).toEqual({ ok: false, message: 'Required: this gear has no default for it.' });
  });
});
