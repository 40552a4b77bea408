import type { Kysely } from 'kysely';
import type { ContainersTable, Database } from '../db/schema.js';
import { now } from '../ids.js';
import type { Header, HeaderValue } from './header.js';

/**
 * What a DICOM header says about the session (study) and acquisition (series) it belongs to, and the
 * fill-if-missing update of those containers.
 *
 * Filled only where missing: `uid` and `timestamp` when null; `label` when it is a placeholder — blank,
 * one of PLACEHOLDER_LABELS (case-insensitive), the container's own id, or the uid the header gives it
 * (importers that know nothing better label by UID). A label a person typed is never replaced.
 *
 * Timestamps are ISO 8601 with the header's TimezoneOffsetFromUTC (0008,0201) when present, else UTC
 * ("Z"), as Flywheel does on a UTC server. Sources, first usable wins:
 *   session:     StudyDate+StudyTime, SeriesDate+SeriesTime, AcquisitionDate+AcquisitionTime,
 *                AcquisitionDateTime, then the first of StudyDate/SeriesDate/AcquisitionDate at 12:00
 *   acquisition: SeriesDate+SeriesTime, AcquisitionDate+AcquisitionTime, AcquisitionDateTime,
 *                ContentDate+ContentTime, StudyDate+StudyTime, then a date alone at 12:00
 * Labels: session ← StudyDescription, else StudyDate (YYYY-MM-DD); acquisition ← "SeriesNumber -
 * SeriesDescription" (ProtocolName when there is no description; either part alone when the other
 * is missing).
 */
export const PLACEHOLDER_LABELS = new Set([
  'untitled',
  'unknown',
  'unnamed',
  'unlabeled',
  'unlabelled',
  'none',
  'n/a',
  'na',
  '-',
  '?',
  'new session',
  'new acquisition',
  'session',
  'acquisition',
]);

export interface ContainerFill {
  uid?: string;
  timestamp?: string;
  label?: string;
}

export interface HierarchyFill {
  session: ContainerFill;
  acquisition: ContainerFill;
}

function str(v: HeaderValue | undefined): string | undefined {
  if (v === undefined || v === null || typeof v === 'object') return undefined;
  const s = String(v).trim();
  return s || undefined;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** DA (YYYYMMDD, or the old YYYY.MM.DD) → [y, m, d], or undefined when it is not a real date. */
function parseDate(da: string | undefined): [number, number, number] | undefined {
  const m = da ? /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(da.trim()) : null;
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d) return undefined;
  return [y, mo, d];
}

/** TM (HH[MM[SS[.F{1,6}]]], or the old HH:MM:SS) → "HH:MM:SS[.mmm]". */
function parseTime(tm: string | undefined): string | undefined {
  const m = tm ? /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(tm.trim()) : null;
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  if (h > 23 || mi > 59 || s > 60) return undefined;
  const frac = m[4] ? `.${m[4].padEnd(3, '0').slice(0, 3)}` : '';
  return `${pad(h)}:${pad(mi)}:${pad(Math.min(s, 59))}${frac}`;
}

/** "+hhmm"/"-hhmm" → "+hh:mm"; anything else → undefined. */
function parseOffset(tz: string | undefined): string | undefined {
  const m = tz ? /^([+-])(\d{2})(\d{2})$/.exec(tz.trim()) : null;
  if (!m || Number(m[2]) > 14 || Number(m[3]) > 59) return undefined;
  return `${m[1]}${m[2]}:${m[3]}`;
}

export function dicomTimestamp(da: string | undefined, tm: string | undefined, tz: string | undefined): string | undefined {
  const date = parseDate(da);
  const time = tm === undefined ? undefined : parseTime(tm);
  if (!date || (tm !== undefined && !time)) return undefined;
  const offset = parseOffset(tz) ?? 'Z';
  return `${date[0]}-${pad(date[1])}-${pad(date[2])}T${time ?? '12:00:00'}${offset}`;
}

/** DT: YYYYMMDDHHMMSS.FFFFFF&ZZXX, its own offset winning over the data set's. */
function fromDateTime(dt: string | undefined, tz: string | undefined): string | undefined {
  const m = dt ? /^(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?$/.exec(dt.trim()) : null;
  if (!m?.[2]) return undefined;
  return dicomTimestamp(m[1], m[2], m[3] ?? tz);
}

export function hierarchyFromHeader(h: Header): HierarchyFill {
  const tz = str(h.TimezoneOffsetFromUTC);
  const pair = (d: string, t: string) => {
    const da = str(h[d]);
    const tm = str(h[t]);
    return da && tm ? dicomTimestamp(da, tm, tz) : undefined;
  };
  const dateOnly = (...keys: string[]) => {
    for (const k of keys) {
      const ts = dicomTimestamp(str(h[k]), undefined, tz);
      if (ts) return ts;
    }
    return undefined;
  };
  const acqDt = fromDateTime(str(h.AcquisitionDateTime), tz);

  const sessionTs =
    pair('StudyDate', 'StudyTime') ??
    pair('SeriesDate', 'SeriesTime') ??
    pair('AcquisitionDate', 'AcquisitionTime') ??
    acqDt ??
    dateOnly('StudyDate', 'SeriesDate', 'AcquisitionDate');
  const acquisitionTs =
    pair('SeriesDate', 'SeriesTime') ??
    pair('AcquisitionDate', 'AcquisitionTime') ??
    acqDt ??
    pair('ContentDate', 'ContentTime') ??
    pair('StudyDate', 'StudyTime') ??
    dateOnly('SeriesDate', 'AcquisitionDate', 'StudyDate');

  const studyDate = parseDate(str(h.StudyDate));
  const sessionLabel = str(h.StudyDescription) ?? (studyDate ? `${studyDate[0]}-${pad(studyDate[1])}-${pad(studyDate[2])}` : undefined);
  const seriesNumber = str(h.SeriesNumber);
  const seriesName = str(h.SeriesDescription) ?? str(h.ProtocolName);
  const acquisitionLabel = [seriesNumber, seriesName].filter(Boolean).join(' - ') || undefined;

  const clip = (s: string | undefined) => (s && s.length > 256 ? s.slice(0, 256) : s);
  return {
    session: { uid: clip(str(h.StudyInstanceUID)), timestamp: sessionTs, label: clip(sessionLabel) },
    acquisition: { uid: clip(str(h.SeriesInstanceUID)), timestamp: acquisitionTs, label: clip(acquisitionLabel) },
  };
}

export function isPlaceholderLabel(row: Pick<ContainersTable, 'id' | 'label' | 'uid'>, headerUid?: string): boolean {
  const label = row.label.trim();
  if (label === '' || PLACEHOLDER_LABELS.has(label.toLowerCase())) return true;
  return label === row.id || (row.uid !== null && label === row.uid) || (headerUid !== undefined && label === headerUid);
}

/**
 * Applies a fill to one container. Each field is a conditional update on the value it replaces, so
 * concurrent extractions of files in the same container cannot overwrite each other or a user edit.
 */
export async function fillContainer(db: Kysely<Database>, id: string, fill: ContainerFill): Promise<void> {
  const row = await db.selectFrom('containers').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return;
  const stamp = now();
  if (fill.uid && row.uid === null) {
    await db.updateTable('containers').set({ uid: fill.uid, modified: stamp }).where('id', '=', id).where('uid', 'is', null).execute();
  }
  if (fill.timestamp && row.timestamp === null) {
    await db
      .updateTable('containers')
      .set({ timestamp: fill.timestamp, modified: stamp })
      .where('id', '=', id)
      .where('timestamp', 'is', null)
      .execute();
  }
  if (fill.label && fill.label !== row.label && isPlaceholderLabel(row, fill.uid)) {
    await db
      .updateTable('containers')
      .set({ label: fill.label, modified: stamp })
      .where('id', '=', id)
      .where('label', '=', row.label)
      .execute();
  }
}

/** Fills the acquisition a file was uploaded to and its session, or the session itself. */
export async function fillHierarchy(db: Kysely<Database>, container: ContainersTable, fill: HierarchyFill): Promise<void> {
  if (container.type === 'acquisition') {
    await fillContainer(db, container.id, fill.acquisition);
    if (container.session_id) await fillContainer(db, container.session_id, fill.session);
  } else if (container.type === 'session') {
    await fillContainer(db, container.id, fill.session);
  }
}
