import type { Row } from './evaluate.js';

/** Output formats of a data view; each streams rows as they are produced. */
export const VIEW_FORMATS = ['json', 'json-flat', 'json-row-column', 'csv', 'tsv'] as const;
export type ViewFormat = (typeof VIEW_FORMATS)[number];

export const CONTENT_TYPE: Record<ViewFormat, string> = {
  json: 'application/json',
  'json-flat': 'application/json',
  'json-row-column': 'application/json',
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
};

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function tsvCell(v: unknown): string {
  return cell(v).replace(/[\t\r\n]/g, ' ');
}

/**
 * Serialises rows. Tabular formats need every column up front (flattened objects add columns as
 * they appear), so they take the column list from a first pass over the same view.
 */
export async function* formatRows(format: ViewFormat, rows: AsyncIterable<Row>, columns?: string[]): AsyncGenerator<string> {
  if (format === 'json' || format === 'json-flat') {
    yield format === 'json' ? '{"data":[' : '[';
    let first = true;
    for await (const r of rows) {
      yield (first ? '' : ',') + JSON.stringify(r);
      first = false;
    }
    yield format === 'json' ? ']}' : ']';
    return;
  }
  const cols = columns ?? [];
  if (format === 'json-row-column') {
    yield `{"columns":${JSON.stringify(cols.map((name) => ({ name })))},"rows":[`;
    let first = true;
    for await (const r of rows) {
      yield (first ? '' : ',') + JSON.stringify(cols.map((c) => r[c] ?? null));
      first = false;
    }
    yield ']}';
    return;
  }
  const sep = format === 'csv' ? ',' : '\t';
  const enc = format === 'csv' ? csvCell : tsvCell;
  yield `${cols.map(enc).join(sep)}\n`;
  for await (const r of rows) yield `${cols.map((c) => enc(r[c])).join(sep)}\n`;
}

/**
 * Collects the column names of a row stream in first-seen order; with no rows at all, the names
 * the view plans (so an empty CSV still has its header).
 */
export async function columnsOf(rows: AsyncIterable<Row>, planned: string[] = []): Promise<string[]> {
  const seen = new Set<string>();
  for await (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return seen.size ? [...seen] : planned;
}
