import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode, formatError, isErrorCode } from '../src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const codes = Object.keys(ERRORS) as ErrorCode[];

/** The rows of docs/errors.md's tables: `| \`CODE\` | status | \`template\` |`. */
function documented(): { code: string; status: number; message: string }[] {
  const text = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
  const rows: { code: string; status: number; message: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| `([A-Z][A-Z0-9_]*)` \| (\d+) \| `(.*)` \|$/.exec(line);
    if (m) rows.push({ code: m[1]!, status: Number(m[2]), message: m[3]! });
    // A table row the pattern misses would silently drop out of both checks below.
    else if (/^\| `/.test(line)) throw new Error(`docs/errors.md: row not in the form | \`CODE\` | status | \`message\` |: ${line}`);
  }
  return rows;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => readFileSync(path.join(e.parentPath, e.name), 'utf8'));
}

describe('the error catalogue', () => {
  const rows = documented();

  it('documents every code, with its status and message template', () => {
    for (const code of codes) {
      const row = rows.find((r) => r.code === code);
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined();
      expect(row, code).toEqual({ code, status: ERRORS[code].status, message: ERRORS[code].message });
    }
  });

  it('has every documented code, once', () => {
    for (const r of rows) expect(isErrorCode(r.code), `docs/errors.md lists ${r.code}, which the catalogue does not have`).toBe(true);
    expect(rows.map((r) => r.code).sort()).toEqual([...new Set(rows.map((r) => r.code))].sort());
  });

  it('has no code the server never answers', () => {
    // Codes are only ever written as literals ('JOB_NOT_FOUND'); one that appears nowhere in the
    // server is dead and goes, rather than lingering in the docs as a promise.
    const server = sources(path.join(root, 'packages/server/src')).join('\n');
    const unused = codes.filter((c) => !server.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });

  it('uses HTTP error statuses and {name} placeholders only', () => {
    for (const code of codes) {
      const { status, message } = ERRORS[code];
      expect(status >= 400 && status < 600, code).toBe(true);
      expect(message.replace(/\{\w+\}/g, ''), code).not.toMatch(/[{}]/);
    }
  });
});

describe('formatError', () => {
  it('fills each placeholder, wherever it stands', () => {
    expect(formatError('JOB_STATE', { id: 'j1', state: 'cancelled', reason: 'it cannot be completed' })).toBe(
      'job j1 is cancelled; it cannot be completed',
    );
    expect(formatError('FILE_NOT_FOUND', { name: 'a.nii', version: ' version 2', type: 'session', id: 's1' })).toBe(
      "file 'a.nii' version 2 on session s1 not found",
    );
    expect(formatError('AUTH_INVALID_KEY', {})).toBe('invalid or revoked API key');
  });

  it('takes values literally, even ones that look like placeholders', () => {
    expect(formatError('BAD_REQUEST', { reason: 'label {id} $& $1' })).toBe('label {id} $& $1');
  });
});

describe('isErrorCode', () => {
  it('knows catalogue codes only, not inherited properties', () => {
    expect(isErrorCode('JOB_NOT_FOUND')).toBe(true);
    expect(isErrorCode('UNREACHABLE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
  });
});
