import { readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { listFiles } from './prepare.js';

/**
 * remove_incomplete_volumes: a 4D series stopped mid-acquisition has some slice positions one
 * volume short. Those trailing files make dcm2niix give up on the series or build a wrong volume,
 * so they are dropped first. Only the few header fields this needs are read, by walking the
 * data set up to group 0020 (sequences of undefined length are skipped item by item).
 */
interface SliceHeader {
  series: string;
  position?: string;
  instance: number;
  acquisition: number;
  temporal: number;
}

// VRs whose length field is 32-bit in explicit VR (PS3.5 §7.1.2).
const LONG_VR = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;

type Visit = (group: number, elem: number, value: Buffer) => boolean;

class Walker {
  constructor(
    private readonly buf: Buffer,
    private readonly le: boolean,
    private readonly explicit: boolean,
  ) {}

  private u16(p: number) {
    return this.le ? this.buf.readUInt16LE(p) : this.buf.readUInt16BE(p);
  }
  private u32(p: number) {
    return this.le ? this.buf.readUInt32LE(p) : this.buf.readUInt32BE(p);
  }

  /** Walks elements from `pos`; returns where it stopped (an item tag, the end, or -1 when visit said stop). */
  walk(pos: number, visit: Visit): number {
    const end = this.buf.length;
    while (pos + 8 <= end) {
      const group = this.u16(pos);
      const elem = this.u16(pos + 2);
      if (group === 0xfffe) return pos;
      let len: number;
      if (this.explicit) {
        const vr = this.buf.toString('latin1', pos + 4, pos + 6);
        if (LONG_VR.has(vr)) {
          len = this.u32(pos + 8);
          pos += 12;
        } else {
          len = this.u16(pos + 6);
          pos += 8;
        }
      } else {
        len = this.u32(pos + 4);
        pos += 8;
      }
      if (len === UNDEFINED) {
        pos = this.skipSequence(pos);
        continue;
      }
      if (visit(group, elem, this.buf.subarray(pos, pos + len))) return -1;
      pos += len;
    }
    return end;
  }

  private skipSequence(pos: number): number {
    const end = this.buf.length;
    while (pos + 8 <= end) {
      const group = this.u16(pos);
      const elem = this.u16(pos + 2);
      const len = this.u32(pos + 4);
      pos += 8;
      if (group !== 0xfffe) return end;
      if (elem === 0xe0dd) return pos;
      if (elem === 0xe000 && len !== UNDEFINED) pos += len;
      else if (elem === 0xe000) {
        pos = this.walk(pos, () => false);
        if (pos + 8 <= end && this.u16(pos) === 0xfffe && this.u16(pos + 2) === 0xe00d) pos += 8;
      }
    }
    return end;
  }
}

function readHeader(buf: Buffer): SliceHeader | null {
  let pos = 0;
  let ts = '';
  if (buf.length >= 132 && buf.toString('latin1', 128, 132) === 'DICM') {
    // The file meta group (0002) is always explicit VR little endian.
    pos = 132;
    while (pos + 8 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
      const long = LONG_VR.has(buf.toString('latin1', pos + 4, pos + 6));
      const len = long ? buf.readUInt32LE(pos + 8) : buf.readUInt16LE(pos + 6);
      const at = pos + (long ? 12 : 8);
      if (buf.readUInt16LE(pos + 2) === 0x0010) ts = buf.toString('latin1', at, at + len).replace(/[\0\s]+$/, '');
      pos = at + len;
    }
  }
  if (ts === '1.2.840.10008.1.2.1.99') return null; // deflated: the data set cannot be walked
  const explicit = ts ? ts !== '1.2.840.10008.1.2' : /^[A-Z]{2}$/.test(buf.toString('latin1', pos + 4, pos + 6));
  const le = ts !== '1.2.840.10008.1.2.2';
  const h: SliceHeader = { series: '', instance: 0, acquisition: 0, temporal: 0 };
  const text = (v: Buffer) =>
    v
      .toString('latin1')
      .replace(/[\0\s]+$/, '')
      .trim();
  let seen = false;
  new Walker(buf, le, explicit).walk(pos, (group, elem, value) => {
    if (group > 0x0020) return true;
    if (group !== 0x0020) return false;
    seen = true;
    if (elem === 0x000e) h.series = text(value);
    else if (elem === 0x0013) h.instance = Number(text(value)) || 0;
    else if (elem === 0x0012) h.acquisition = Number(text(value)) || 0;
    else if (elem === 0x0100) h.temporal = Number(text(value)) || 0;
    else if (elem === 0x0032) {
      const xyz = text(value).split('\\').map(Number);
      if (xyz.length === 3 && xyz.every(Number.isFinite)) h.position = xyz.map((c) => c.toFixed(3)).join(',');
    }
    return false;
  });
  return seen ? h : null;
}

export function removeIncompleteVolumes(dir: string, log: { info: (m: string) => void }): number {
  const bySeries = new Map<string, { file: string; h: SliceHeader }[]>();
  for (const file of listFiles(dir)) {
    let h: SliceHeader | null = null;
    try {
      h = readHeader(readFileSync(file));
    } catch {
      h = null;
    }
    if (!h) continue;
    const list = bySeries.get(h.series) ?? [];
    list.push({ file, h });
    bySeries.set(h.series, list);
  }
  let removed = 0;
  for (const [series, slices] of bySeries) {
    if (slices.some((s) => !s.h.position)) continue;
    const byPos = new Map<string, typeof slices>();
    for (const s of slices) byPos.set(s.h.position!, [...(byPos.get(s.h.position!) ?? []), s]);
    // One position per file (mosaics, multi-frame): every file is a whole volume.
    if (byPos.size < 2) continue;
    const counts = [...byPos.values()].map((l) => l.length);
    const complete = Math.min(...counts);
    if (complete === Math.max(...counts)) continue;
    const drop: string[] = [];
    for (const list of byPos.values()) {
      list.sort((a, b) => a.h.temporal - b.h.temporal || a.h.acquisition - b.h.acquisition || a.h.instance - b.h.instance);
      for (const s of list.slice(complete)) drop.push(s.file);
    }
    for (const f of drop) rmSync(f);
    removed += drop.length;
    log.info(
      `remove_incomplete_volumes: series ${series || '(no UID)'} has ${byPos.size} slice positions and ${complete} complete volume(s); removed ${drop.length} trailing file(s): ${drop.map((f) => basename(f)).join(', ')}`,
    );
  }
  if (removed === 0) log.info('remove_incomplete_volumes: no incomplete volume found');
  return removed;
}
