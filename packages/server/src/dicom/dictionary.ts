import { DICTIONARY_DATA } from './dictionary-data.js';

export interface DictEntry {
  /** The first VR the standard allows; `US|SS`-style alternatives are resolved by the caller. */
  vr: string;
  /** All VRs the standard allows (usually one). */
  vrs: string[];
  keyword: string;
}

/** A repeating-group entry ("60xx0010"): matches when (tag & mask) === value. */
interface Repeater {
  mask: number;
  value: number;
  entry: DictEntry;
}

const exact = new Map<number, DictEntry>();
const repeaters: Repeater[] = [];

for (const line of DICTIONARY_DATA.split('\n')) {
  if (!line) continue;
  const [tag = '', vrField = '', keyword = ''] = line.split(' ');
  const vrs = vrField.split('|');
  const entry: DictEntry = { vr: vrs[0] ?? 'UN', vrs, keyword };
  if (tag.includes('x')) {
    let mask = 0;
    let value = 0;
    for (const ch of tag) {
      mask = mask * 16 + (ch === 'x' ? 0 : 15);
      value = value * 16 + (ch === 'x' ? 0 : Number.parseInt(ch, 16));
    }
    repeaters.push({ mask: mask >>> 0, value: value >>> 0, entry });
  } else {
    exact.set(Number.parseInt(tag, 16), entry);
  }
}

/** The dictionary entry of a standard tag (e.g. 0x00100010), or undefined for private/unknown tags. */
export function lookupTag(tag: number): DictEntry | undefined {
  const hit = exact.get(tag);
  if (hit) return hit;
  for (const r of repeaters) if ((tag & r.mask) >>> 0 === r.value) return r.entry;
  return undefined;
}

/** dicom-parser names tags "xggggeeee"; the dictionary is keyed by number. */
export function parseParserTag(tag: string): number {
  return Number.parseInt(tag.slice(1), 16);
}
