import { describe, expect, it } from 'vitest';
import { deleteAt, infoValueText, parseInfoValue, setAt } from '../src/api/info-value.js';

/** The Information tab's editing: typed text to values, and nested set/delete without mutation. */
describe('info values', () => {
  it('reads JSON where the text is JSON, a string otherwise, and writes back text that reads the same', () => {
    expect(parseInfoValue('3')).toBe(3);
    expect(parseInfoValue('true')).toBe(true);
    expect(parseInfoValue('{"a": [1]}')).toEqual({ a: [1] });
    expect(parseInfoValue('"3"')).toBe('3');
    expect(parseInfoValue('3 apples')).toBe('3 apples');
    for (const v of ['3', 'plain', 3, false, null, [1, 'x'], 'true'])
      expect(parseInfoValue(infoValueText(v)), JSON.stringify(v)).toEqual(v);
  });

  it('sets and deletes nested keys, copying the objects on the way', () => {
    const info = { qa: { snr: 1, ok: true }, site: 'A' };
    const set = setAt(info, ['qa', 'snr'], 2);
    expect(set).toEqual({ qa: { snr: 2, ok: true }, site: 'A' });
    expect(info.qa.snr).toBe(1);
    expect(setAt(info, ['new', 'deep'], 'x')).toMatchObject({ new: { deep: 'x' } });
    expect(deleteAt(info, ['qa', 'ok'])).toEqual({ qa: { snr: 1 }, site: 'A' });
    expect(deleteAt(info, ['site'])).toEqual({ qa: { snr: 1, ok: true } });
    expect(deleteAt(info, ['missing', 'x'])).toBe(info);
  });
});
