import { type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ApiError, badRequest } from '../errors.js';

/**
 * Reading the records inside data files for views with `fileSpec.processFiles`: CSV, TSV and JSON
 * (an array of records, or one object), optionally gzip-compressed. Everything streams: CSV record
 * by record, a JSON array element by element, so memory follows the largest record, not the file.
 */
export type DataFileFormat = 'csv' | 'tsv' | 'json';
export const DATA_FILE_FORMATS: readonly DataFileFormat[] = ['csv', 'tsv', 'json'];

export type FileRecord = Record<string, unknown>;

/** One CSV/TSV record may not exceed this (it bounds the rescans of a record split across chunks). */
const MAX_RECORD_CHARS = 4 * 1024 * 1024;

/** The format a file is read as: the one the view declares, else the name's extension (`.gz` looked through). */
export function dataFileFormat(name: string, declared?: string | null): { format: DataFileFormat; gzip: boolean } | undefined {
  const lower = name.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const base = gzip ? lower.slice(0, -3) : lower;
  if (declared) return DATA_FILE_FORMATS.includes(declared as DataFileFormat) ? { format: declared as DataFileFormat, gzip } : undefined;
  if (base.endsWith('.csv')) return { format: 'csv', gzip };
  if (base.endsWith('.tsv') || base.endsWith('.tab')) return { format: 'tsv', gzip };
  if (base.endsWith('.json')) return { format: 'json', gzip };
  return undefined;
}

/** Counts bytes (after decompression) and stops the stream past `max`, naming the file. */
function byteLimit(max: number, where: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max)
        done(
          new ApiError(
            'PAYLOAD_TOO_LARGE',
            `${where}: more than ${max} bytes to read; processFiles reads files up to ${max} bytes (SPROCKET_VIEW_MAX_FILE_BYTES)`,
          ),
        );
      else done(null, chunk);
    },
  });
}

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Splits the complete records off the front of `text` (RFC 4180: quoted fields may hold the
 * delimiter, `""` and line breaks). `rest` is where the first incomplete record starts; with
 * `final` the end of `text` ends the last record.
 */
export function splitRecords(text: string, delim: number, final: boolean): { records: string[][]; rest: number } {
  const records: string[][] = [];
  let i = 0;
  const isEnd = (c: number) => c === delim || c === LF || c === CR;
  while (i < text.length) {
    const start = i;
    const rec: string[] = [];
    for (;;) {
      let value = '';
      if (text.charCodeAt(i) === QUOTE) {
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0 || (q + 1 >= text.length && !final)) {
            if (!final) return { records, rest: start };
            throw new Error('a quoted field is not closed before the end of the file');
          }
          value += text.slice(j, q);
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += '"';
            j = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        // Text between a closing quote and the delimiter is kept, as lenient readers do.
        let k = i;
        while (k < text.length && !isEnd(text.charCodeAt(k))) k++;
        value += text.slice(i, k);
        i = k;
      } else {
        let k = i;
        while (k < text.length && !isEnd(text.charCodeAt(k))) k++;
        value = text.slice(i, k);
        i = k;
      }
      rec.push(value);
      if (i >= text.length) {
        if (!final) return { records, rest: start };
        records.push(rec);
        return { records, rest: i };
      }
      const c = text.charCodeAt(i);
      if (c === delim) {
        i++;
        if (i >= text.length) {
          if (!final) return { records, rest: start };
          rec.push('');
          records.push(rec);
          return { records, rest: i };
        }
        continue;
      }
      if (c === CR) {
        if (i + 1 >= text.length && !final) return { records, rest: start };
        i += text.charCodeAt(i + 1) === LF ? 2 : 1;
      } else i++;
      records.push(rec);
      break;
    }
  }
  return { records, rest: i };
}

async function* delimitedRecords(text: AsyncIterable<string>, delim: string, where: string): AsyncGenerator<FileRecord> {
  const code = delim.charCodeAt(0);
  let header: string[] | undefined;
  let buf = '';
  let n = 0;
  const emit = function* (records: string[][]): Generator<FileRecord> {
    for (const rec of records) {
      if (rec.length === 1 && rec[0] === '') continue; // blank line
      if (!header) {
        if (rec[0]?.charCodeAt(0) === 0xfeff) rec[0] = rec[0].slice(1);
        header = rec.map((h, i) => h.trim() || `column${i + 1}`);
        continue;
      }
      n++;
      const row: FileRecord = {};
      // An empty cell is a missing value; cells past the header have no name and are left out.
      for (const [i, name] of header.entries()) row[name] = rec[i] === undefined || rec[i] === '' ? null : rec[i];
      yield row;
    }
  };
  try {
    for await (const chunk of text) {
      buf += chunk;
      const { records, rest } = splitRecords(buf, code, false);
      buf = buf.slice(rest);
      if (buf.length > MAX_RECORD_CHARS) throw new Error(`record ${n + 2} is longer than ${MAX_RECORD_CHARS} characters`);
      yield* emit(records);
    }
    yield* emit(splitRecords(buf, code, true).records);
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw badRequest(`${where}: not readable as ${delim === ',' ? 'CSV' : 'TSV'} near record ${n + 1}: ${(e as Error).message}`);
  }
}

/** One JSON record: an object, else a 400 naming the file and (in an array) the element. */
function parseRecord(s: string, where: string, element: number | undefined): FileRecord {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    throw badRequest(`${where}: not valid JSON${element !== undefined ? ` at element ${element}` : ''}: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest(
      `${where}: ${element !== undefined ? `element ${element} is` : 'the file holds'} ${Array.isArray(v) ? 'an array' : typeof v}; processFiles reads an array of objects or one object`,
    );
  }
  return v as FileRecord;
}

/**
 * A JSON file as records: the elements of a top-level array (each an object), or a top-level
 * object as one record. Array elements are cut out by tracking strings and nesting, then parsed
 * one at a time.
 */
async function* jsonRecords(text: AsyncIterable<string>, where: string): AsyncGenerator<FileRecord> {
  let mode: 'start' | 'array' | 'whole' | 'done' = 'start';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let element = '';
  let index = 0;
  const parse = (s: string) => parseRecord(s, where, mode === 'array' ? index : undefined);
  for await (const chunk of text) {
    let from = 0;
    let i = 0;
    if (mode === 'start') {
      while (i < chunk.length && /\s|\ufeff/.test(chunk[i]!)) i++;
      if (i >= chunk.length) continue;
      if (chunk[i] === '[') {
        mode = 'array';
        i++;
        from = i;
      } else mode = 'whole';
    }
    if (mode === 'whole') {
      element += chunk.slice(from);
      if (element.length > MAX_RECORD_CHARS * 16) {
        // The whole-file cap bounds this too; the check just fails a runaway object sooner.
        throw new ApiError('PAYLOAD_TOO_LARGE', `${where}: a single JSON object larger than ${MAX_RECORD_CHARS * 16} characters`);
      }
      continue;
    }
    for (; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (mode === 'done') {
        if (!/\s/.test(chunk[i]!)) throw badRequest(`${where}: not valid JSON: text after the closing ']'`);
        continue;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) inString = true;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0 && c === 0x5d) {
          element += chunk.slice(from, i);
          if (element.trim()) {
            yield parse(element);
            index++;
          }
          element = '';
          mode = 'done';
          continue;
        }
        depth--;
      } else if (c === 0x2c && depth === 0) {
        element += chunk.slice(from, i);
        yield parse(element);
        index++;
        element = '';
        from = i + 1;
      }
    }
    if (mode === 'array') {
      element += chunk.slice(from);
      if (element.length > MAX_RECORD_CHARS * 16)
        throw new ApiError('PAYLOAD_TOO_LARGE', `${where}: element ${index} is larger than ${MAX_RECORD_CHARS * 16} characters`);
    }
  }
  if (mode === 'array') throw badRequest(`${where}: not valid JSON: the array is not closed`);
  if (mode === 'whole') yield parse(element);
}

/** The records of one file's content, bounded by `maxBytes` of (decompressed) content. */
export async function* readRecords(
  source: Readable,
  how: { format: DataFileFormat; gzip: boolean; delimiter?: string },
  maxBytes: number,
  where: string,
): AsyncGenerator<FileRecord> {
  let stream: Readable = source;
  if (how.gzip) {
    const gunzip = createGunzip();
    source.on('error', (e) => gunzip.destroy(e));
    stream = source.pipe(gunzip);
  }
  const limited = stream.pipe(byteLimit(maxBytes, where));
  stream.on('error', (e) => limited.destroy(e));
  limited.setEncoding('utf8');
  const text = (async function* () {
    try {
      for await (const chunk of limited) yield chunk as string;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw badRequest(`${where}: cannot be read${how.gzip ? ' as gzip' : ''}: ${(e as Error).message}`);
    }
  })();
  try {
    if (how.format === 'json') yield* jsonRecords(text, where);
    else yield* delimitedRecords(text, how.delimiter ?? (how.format === 'csv' ? ',' : '\t'), where);
  } finally {
    // A consumer that stops early (row limit, error) leaves the rest unread: release the file.
    source.destroy();
    limited.destroy();
  }
}
