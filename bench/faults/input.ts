import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createDatabase, dropDatabase } from '../../test-fixtures/pg-databases.js';
import { seededRandom } from '../../test-fixtures/seeded.js';
import { type Cluster, startCluster, uploadGearDir } from './cluster.js';
import type { FaultsContext, FaultsPart, PartReport } from './part.js';

/**
 * Bad input: requests generated from the server's own OpenAPI document, every operation in it, each
 * bent the ways clients get requests wrong: wrong types, missing and unknown fields, huge values,
 * odd encodings, path tricks, bad query strings, missing and malformed credentials. The server must
 * answer every one (4xx, or 2xx when the bending left it valid), never with a 5xx, never by hanging
 * up, and keep answering normal calls throughout.
 *
 * Requests go out over raw sockets, not fetch or node:http: those normalise what this part has to
 * send as it is (`..` segments, bytes that are not UTF-8, a Content-Length that lies, two of them).
 * Every choice comes from one seeded generator, so BENCH_SEED=n replays a campaign: the same
 * requests (sent by a few workers at once, so the state changes among them may interleave otherwise).
 *
 * Path parameters are filled with real ids (a hierarchy with a file, tag and note in each container,
 * a gear, a job, a rule, a view …) except the one a request bends, so requests reach the handlers
 * rather than all stopping at 404. DELETEs go last, so the objects are there for everything before.
 */
interface Campaign {
  /** Requests per operation and mutation kind. */
  perKind: number;
  /** At least this many requests: further kinds are drawn at random until there are. */
  minRequests: number;
  /** JSON bodies of 1–10 MB (under the server's 16 MB limit), and bodies over the limit. */
  bigBodies: number;
  overLimit: number;
  /** Requests in flight at once. */
  concurrency: number;
}

const FULL: Campaign = { perKind: 3, minRequests: 5000, bigBodies: 40, overLimit: 4, concurrency: 4 };
const SMALL: Campaign = { perKind: 1, minRequests: 1000, bigBodies: 6, overLimit: 1, concurrency: 4 };
/** --small replays one campaign, as CI should (as the bad-input fuzz test does); the full run draws a new one. */
const SMALL_SEED = 20260601;
/** Liveness is checked after this many requests, and at the end. */
const CHECK_EVERY = 100;
/** What "still answering at once" allows, on a machine busy with the campaign itself. */
const CHECK_TIMEOUT_MS = 10_000;
const TIMEOUT_MS = 15_000;
const BIG_TIMEOUT_MS = 60_000;
/** How long a request whose body is shorter than its Content-Length waits for an answer the server cannot give yet. */
const PROMISED_BODY_WAIT_MS = 1500;
/** The server's bodyLimit (packages/server/src/app.ts). */
const BODY_LIMIT = 16 * 1024 * 1024;
const TAG = 'fuzz-tag';
const FILE = 'scan.txt';
const HEX = '0123456789abcdef01234567';

type Rng = ReturnType<typeof seededRandom>;

// ---------------------------------------------------------------------------------------------
// Raw HTTP

/** One request as it goes on the wire. Strings are bytes (latin1), so any byte can be sent. */
interface Wire {
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer;
  /** Content-Length is left to `headers`: a lie, two of them, or none. */
  ownLength?: boolean;
}

interface Answer {
  /** Undefined when no status line came back. */
  status?: number;
  excerpt: string;
  ms: number;
  /** How the exchange ended: a status line counts as an answer whatever followed it (a reset after a 413). */
  ended: 'answered' | 'closed' | 'timeout';
  error?: string;
}

function wireBytes(w: Wire, port: number): Buffer {
  const lines = [`${w.method} ${w.target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [k, v] of w.headers) lines.push(`${k}: ${v}`);
  // What `requests` sends on a bodiless POST or PUT, and what node needs to know a body ends.
  if (!w.ownLength && (w.body || w.method === 'POST' || w.method === 'PUT')) lines.push(`Content-Length: ${w.body?.length ?? 0}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), w.body ?? Buffer.alloc(0)]);
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; ) {
    const nl = b.indexOf('\r\n', i);
    const n = nl < 0 ? 0 : Number.parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!(n > 0)) break;
    out.push(b.subarray(nl + 2, nl + 2 + n));
    i = nl + 2 + n + 2;
  }
  return Buffer.concat(out);
}

/** Sends one request on its own connection and reads the answer (status and the start of the body). */
function sendWire(port: number, w: Wire, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let head = Buffer.alloc(0);
    let headEnd = -1;
    let status: number | undefined;
    let length: number | undefined;
    let chunked = false;
    let seen = 0;
    let start = Buffer.alloc(0);
    let tail = '';
    let settled = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (ended: Answer['ended'], error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const excerpt = (chunked ? dechunk(start) : start).toString('utf8').slice(0, 200);
      resolve({ status, excerpt, ms: performance.now() - t0, ended: status === undefined ? ended : 'answered', error });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (data: Buffer) => {
      let c = data;
      if (headEnd < 0) {
        head = Buffer.concat([head, c]);
        headEnd = head.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const text = head.subarray(0, headEnd).toString('latin1');
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]) || undefined;
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        length = cl ? Number(cl[1]) : undefined;
        chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(text);
        c = head.subarray(headEnd + 4);
      }
      seen += c.length;
      if (start.length < 4096) start = Buffer.concat([start, c.subarray(0, 4096 - start.length)]);
      tail = (tail + c.subarray(-8).toString('latin1')).slice(-8);
      // Done when the body is whole: no need to wait for the server to close.
      if ((length !== undefined && seen >= length) || (chunked && tail.endsWith('0\r\n\r\n'))) finish('answered');
    });
    socket.on('end', () => finish('closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish('closed', e.code ?? e.message));
    socket.on('close', () => finish('closed'));
    socket.write(wireBytes(w, port));
  });
}

/** Bytes as text a report can show: printable ASCII as is, the rest as \xNN. */
const printable = (s: string, max = 160) =>
  s.slice(0, max).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) + (s.length > max ? '…' : '');

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
}

interface Param {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema?: Schema;
}

interface Operation {
  method: string;
  /** As the document has it, with `/api` and `{name}` placeholders. */
  path: string;
  params: Param[];
  /** The JSON body's schema, when it takes one. */
  body?: Schema;
  /** A multipart upload (files, gears, engine outputs), which the document gives no body schema. */
  upload: boolean;
}

function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [p, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      const params: Param[] = (op.parameters ?? [])
        .filter((x: any) => x.in === 'path' || x.in === 'query')
        .map((x: any) => ({ name: x.name, in: x.in, required: Boolean(x.required), schema: x.schema }));
      const body: Schema | undefined = op.requestBody?.content?.['application/json']?.schema;
      const upload =
        method === 'post' &&
        !body &&
        (Boolean(op.requestBody?.content?.['multipart/form-data']) || /\/files$/.test(p) || p === '/api/gears' || p === '/api/engine');
      ops.push({ method: method.toUpperCase(), path: p, params, body, upload });
    }
  }
  return ops;
}

/** A schema's JSON type: the first branch of a union. */
function typeOf(s: Schema | undefined): string | undefined {
  if (!s) return undefined;
  if (Array.isArray(s.type)) return s.type[0];
  if (s.type) return s.type;
  const branch = [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])].find((b) => typeOf(b) && typeOf(b) !== 'null');
  if (branch) return typeOf(branch);
  if (s.properties) return 'object';
  if (s.items) return 'array';
  return undefined;
}

function jsonTypeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;
}

// ---------------------------------------------------------------------------------------------
// Real objects for the path parameters

const LEVELS = ['project', 'subject', 'session', 'acquisition'] as const;
type Level = (typeof LEVELS)[number];
const LEVEL_OF: Record<string, Level> = { projects: 'project', subjects: 'subject', sessions: 'session', acquisitions: 'acquisition' };

interface Fixture {
  key: string;
  group: string;
  containers: Record<Level, string>;
  analyses: Record<Level, string>;
  /** Note ids by the kind of object holding them (the levels, analysis, collection). */
  notes: Record<string, string>;
  collection: string;
  gear: string;
  gearName: string;
  job: string;
  device: string;
  /** A second user, the target of user routes: the admin itself is never one (a disabled admin ends the campaign). */
  user: string;
  userKey: string;
  /** A second key of the admin's, for `DELETE /users/self/keys/{kid}`: the one in use stays valid. */
  spareKey: string;
  role: string;
  rule: string;
  view: string;
  batch: string;
}

function writeGear(dir: string, name: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      name,
      label: 'Bad input',
      description: 'bench:faults: a gear for malformed requests to name; it never runs.',
      version: '1.0.0',
      author: 'Sprocket bench',
      license: 'MIT',
      url: '',
      source: '',
      config: { n: { type: 'integer', optional: true } },
      inputs: { image: { base: 'file' } },
    }),
  );
  fs.writeFileSync(path.join(dir, 'run'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
}

async function createObjects(cluster: Cluster, workDir: string): Promise<Fixture> {
  const call = (method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown) => cluster.call(method, p, body);
  const idOf = (r: any): string => r._id ?? r.id;
  const group = `fz${Date.now().toString(36)}`;
  await call('POST', '/groups', { _id: group, label: 'Bad input' });
  const project = idOf(await call('POST', '/projects', { group, label: 'Bad input' }));
  const subject = idOf(await call('POST', '/subjects', { project, label: 'sub-01' }));
  const session = idOf(await call('POST', '/sessions', { project, subject: { _id: subject }, label: 'ses-01' }));
  const acquisition = idOf(await call('POST', '/acquisitions', { session, label: 'T1w' }));
  const containers: Record<Level, string> = { project, subject, session, acquisition };
  const analyses = {} as Record<Level, string>;
  for (const level of LEVELS) analyses[level] = idOf(await call('POST', `/${level}s/${containers[level]}/analyses`, { label: 'qa' }));
  const collection = idOf(await call('POST', '/collections', { label: 'Bad input' }));

  // Each container holds the file, tag and note the path parameters name, so those requests reach the handlers.
  const holders: [string, string][] = [...LEVELS.map((l): [string, string] => [l, `/${l}s/${containers[l]}`])];
  holders.push(['analysis', `/analyses/${analyses.acquisition}`]);
  const notes: Record<string, string> = {};
  for (const [kind, at] of holders) {
    const form = new FormData();
    form.append('file', new Blob(['fuzz\n']), FILE);
    await call('POST', `${at}/files`, form);
    await call('POST', `${at}/tags`, { value: TAG });
    notes[kind] = idOf(await call('POST', `${at}/notes`, { text: 'a note' }));
  }
  await call('POST', `/collections/${collection}/tags`, { value: TAG });
  notes.collection = idOf(await call('POST', `/collections/${collection}/notes`, { text: 'a note' }));

  const user = 'fuzz-user@example.org';
  await call('POST', '/users', { _id: user, email: user, firstname: 'Fuzz' });
  const userKey = (await call('POST', `/users/${user}/key`, { label: 'fuzz' })).id;
  const spareKey = (await call('POST', '/users/self/key', { label: 'spare' })).id;
  await call('POST', `/groups/${group}/permissions`, { _id: user, access: 'ro' });
  await call('POST', `/projects/${project}/permissions`, { _id: user, access: 'ro' });
  await call('POST', `/collections/${collection}/permissions`, { _id: user, access: 'ro' });

  const gearName = 'bad-input';
  const gearDir = path.join(workDir, `gear-${gearName}`);
  writeGear(gearDir, gearName);
  const gear = await uploadGearDir(cluster, gearDir, gearName);
  const job = idOf(
    await call('POST', '/jobs/add', {
      gear_id: gear,
      destination: { type: 'acquisition', id: acquisition },
      inputs: { image: { type: 'acquisition', id: acquisition, name: FILE } },
    }),
  );
  const device = idOf(await call('POST', '/devices', { name: 'bad input' }));
  const role = idOf(await call('POST', '/roles', { label: 'bad input', actions: [] }));
  const rule = idOf(
    await call('POST', `/projects/${project}/rules`, { name: 'txt', gear_id: gear, any: [{ type: 'file.name', value: '*.txt' }] }),
  );
  const view = idOf(await call('POST', `/containers/${project}/views`, { label: 'bad input', columns: [{ src: 'session.label' }] }));
  const batch = idOf(await call('POST', '/batch', { gear_id: gear, targets: [{ type: 'acquisition', id: acquisition }] }));
  return {
    key: cluster.key,
    group,
    containers,
    analyses,
    notes,
    collection,
    gear,
    gearName,
    job,
    device,
    user,
    userKey,
    spareKey,
    role,
    rule,
    view,
    batch,
  };
}

/** The real value for a path parameter, from where it stands in the path; undefined for one this part does not know. */
function realPathValue(fx: Fixture, op: Operation, name: string): string | undefined {
  const segs = op.path.split('/').slice(2);
  const i = segs.indexOf(`{${name}}`);
  const top = segs[0] ?? '';
  const level = LEVEL_OF[top];
  if (i === 1) {
    if (level) return fx.containers[level];
    const byTop: Record<string, string> = {
      groups: fx.group,
      analyses: fx.analyses.acquisition,
      collections: fx.collection,
      jobs: fx.job,
      gears: fx.gear,
      batch: fx.batch,
      devices: fx.device,
      roles: fx.role,
      views: fx.view,
      users: fx.user,
      containers: name === 'cid' ? fx.containers.project : fx.containers.acquisition,
    };
    return byTop[top];
  }
  switch (segs[i - 1]) {
    case 'analyses':
      return level ? fx.analyses[level] : undefined;
    case 'notes':
      return fx.notes[level ?? (top === 'analyses' ? 'analysis' : 'collection')];
    case 'tags':
      return TAG;
    case 'files':
      return FILE;
    case 'permissions':
      return fx.user;
    case 'keys':
      return segs[1] === 'self' ? fx.spareKey : fx.userKey;
    case 'rules':
      return fx.rule;
    case 'owners':
      return fx.gearName;
    case 'suggest':
      return 'acquisition';
    case '{cont}':
      return fx.containers.acquisition;
    default:
      return undefined;
  }
}

function realQueryValue(fx: Fixture, name: string): string {
  if (name === 'containerId') return fx.containers.project;
  if (name === 'ticket') return 'no-such-ticket';
  return 'x';
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** A JSON token written as is: what JSON.stringify cannot produce (-0, 1e400, 10,000 levels, bytes that are not UTF-8). */
class Raw {
  constructor(readonly bytes: Buffer) {}
}
const raw = (s: string | number[]) => new Raw(typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));
const RAW_MARK = '@@sprocket-raw:';

function jsonBytes(value: unknown): Buffer {
  const raws: Raw[] = [];
  const text = JSON.stringify(value, (_k, v) => (v instanceof Raw ? `${RAW_MARK}${raws.push(v) - 1}@@` : v)) ?? '';
  const pieces = text.split(new RegExp(`"${RAW_MARK}(\\d+)@@"`));
  return Buffer.concat(pieces.map((p, i) => (i % 2 ? raws[Number(p)]!.bytes : Buffer.from(p, 'utf8'))));
}

/** Sets a member as an own property, `__proto__` included (assignment would change the prototype instead). */
function put(o: any, k: string | number, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function setAt(root: any, at: (string | number)[], v: unknown): void {
  let o = root;
  for (const k of at.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== 'object') put(o, k, {});
    o = o[k];
  }
  put(o, at[at.length - 1]!, v);
}

function deleteAt(root: any, at: (string | number)[]): void {
  let o = root;
  for (const k of at.slice(0, -1)) {
    o = o?.[k];
    if (o === null || typeof o !== 'object') return;
  }
  if (Array.isArray(o)) o.splice(Number(at[at.length - 1]), 1);
  else delete o[at[at.length - 1]!];
}

/** Values the objects here make valid, by property name, for the operation's body. */
function hintsFor(op: Operation, fx: Fixture, n: number): Record<string, unknown> {
  const fresh = `fz${n.toString(36)}`;
  const a = fx.containers.acquisition;
  const h: Record<string, unknown> = {
    group: fx.group,
    project: fx.containers.project,
    session: fx.containers.session,
    acquisition: a,
    gear_id: fx.gear,
    destination: { type: 'acquisition', id: a },
    targets: [{ type: 'acquisition', id: a }],
    nodes: [{ level: 'acquisition', _id: a }],
    inputs: [],
    path: [fx.group],
    label: `fuzz ${n}`,
    name: `fuzz-${n}`,
    text: 'fuzz',
    value: fresh,
    email: `${fresh}@example.org`,
    columns: [{ src: 'session.label' }],
    actions: [],
    access: 'ro',
  };
  if (op.path === '/api/groups') h._id = fresh;
  else if (op.path === '/api/users') h._id = `${fresh}@example.org`;
  else if (op.path.includes('/permissions')) h._id = fx.user;
  return h;
}

/** A value the schema accepts, as far as a sketch can tell (patterns other than ids are not followed). */
function sample(s: Schema | undefined, fx: Fixture, depth = 0): unknown {
  if (!s) return 'x';
  if (s.enum?.length) return s.enum.find((v) => v !== null) ?? null;
  const t = typeOf(s);
  switch (t) {
    case 'string':
      if (s.pattern === '^[0-9a-f]{24}$') return fx.containers.acquisition;
      if (s.format === 'date-time') return new Date(0).toISOString();
      return 'fuzz'.padEnd(s.minLength ?? 0, 'z').slice(0, Math.max(s.maxLength ?? 4, s.minLength ?? 0));
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return depth > 4 ? [] : Array.from({ length: s.minItems ?? 0 }, () => sample(s.items, fx, depth + 1));
    case 'object': {
      const o: Record<string, unknown> = {};
      if (depth > 4) return o;
      for (const k of s.required ?? []) put(o, k, sample(s.properties?.[k], fx, depth + 1));
      return o;
    }
    default:
      return 'x';
  }
}

/** The body the operation's schema describes: its required fields, those the fixture can fill, something for a modify. */
function sampleBody(op: Operation, fx: Fixture, n: number): unknown {
  const s = op.body!;
  if (typeOf(s) !== 'object') return sample(s, fx);
  const body = sample(s, fx) as Record<string, unknown>;
  const hints = hintsFor(op, fx, n);
  for (const [k, prop] of Object.entries(s.properties ?? {})) {
    if (!(k in hints)) continue;
    const want = typeOf(prop);
    const got = jsonTypeOf(hints[k]);
    if (!want || want === got || (want === 'number' && got === 'integer') || prop.enum?.includes(hints[k])) put(body, k, hints[k]);
  }
  // A modify with nothing to change is refused as empty before anything else is looked at.
  const first = Object.keys(s.properties ?? {})[0];
  if (!Object.keys(body).length && first) put(body, first, sample(s.properties?.[first], fx));
  return body;
}

/** The places in a body a mutation can aim at: each property of the schema, and those of objects (and array items) one level down. */
function fieldsOf(s: Schema, value: unknown): { at: (string | number)[]; schema?: Schema; name: string }[] {
  const out: { at: (string | number)[]; schema?: Schema; name: string }[] = [];
  for (const [k, prop] of Object.entries(s.properties ?? {})) {
    out.push({ at: [k], schema: prop, name: k });
    const v = (value as any)?.[k];
    if (typeOf(prop) === 'object' && v && typeof v === 'object')
      for (const [k2, p2] of Object.entries(prop.properties ?? {})) out.push({ at: [k, k2], schema: p2, name: `${k}.${k2}` });
    if (typeOf(prop) === 'array' && Array.isArray(v) && v.length && prop.items) {
      out.push({ at: [k, 0], schema: prop.items, name: `${k}[0]` });
      for (const [k2, p2] of Object.entries(prop.items.properties ?? {})) out.push({ at: [k, 0, k2], schema: p2, name: `${k}[0].${k2}` });
    }
  }
  return out;
}

const long = (n: number) => 'x'.repeat(n);
const parse = (text: string) => JSON.parse(text);

/** Values of the wrong type (or of the right type and odd) for a field of this schema. */
function wrongValues(s: Schema | undefined): [string, unknown][] {
  const common: [string, unknown][] = [
    ['null', null],
    ['an empty object', {}],
    ['an empty array', []],
    ['an array of a string', ['a']],
  ];
  switch (typeOf(s)) {
    case 'string':
      return [
        ...common,
        ['a number', 123],
        ['a float', 1.5],
        ['true', true],
        ['an operator object', { $ne: null }],
        ['an empty string', ''],
        ['300 characters', long(300)],
        ['a NUL', 'a\u0000b'],
        ['a lone surrogate', '\ud800'],
        ['emoji', '😀'.repeat(64)],
        ['a path', '../../etc/passwd'],
        ['control characters', '\u001b[2J\r\n'],
        ['a regex bomb', '(a+)+$'],
        ['SQL', "' OR 1=1 --"],
        ['a prototype key', '__proto__'],
        ['constructor', 'constructor'],
        ['toString', 'toString'],
      ];
    case 'integer':
    case 'number':
      return [
        ...common,
        ['a numeric string', '12'],
        ['a word', 'abc'],
        ['an empty string', ''],
        ['a float', 1.5],
        ['negative', -1],
        ['-0', raw('-0')],
        ['1e308', 1e308],
        ['1e400 (Infinity)', raw('1e400')],
        ['2^64', raw('18446744073709551616')],
        ['"NaN"', 'NaN'],
        ['"Infinity"', 'Infinity'],
        ['false', false],
      ];
    case 'boolean':
      return [...common, ['"True"', 'True'], ['"False"', 'False'], ['"true"', 'true'], ['1', 1], ['0', 0], ['"yes"', 'yes']];
    case 'array':
      return [
        ['null', null],
        ['a string', 'x'],
        ['an object', {}],
        ['a number', 5],
        ['[null]', [null]],
        ['nested arrays', [[[]]]],
        ['mixed items', [1, 'a', null, {}, [], true]],
        ['repeated items', ['a', 'a']],
        ['an array-like object', { length: 3, 0: 'a' }],
      ];
    case 'object':
      return [
        ['null', null],
        ['an array', [1]],
        ['a string', 'x'],
        ['a number', 5],
        ['true', true],
        ['a __proto__ member', parse('{"__proto__": {"isAdmin": true}}')],
        ['an empty key', { '': 1 }],
        ['dotted and $ keys', { 'a.b': 1, $set: { x: 1 } }],
        ['constructor.prototype', { constructor: { prototype: { isAdmin: true } } }],
      ];
    default:
      return [...common, ['a number', 7], ['true', true], ['a string', 'x'], ['"True"', 'True'], ['a NUL', '\u0000']];
  }
}

/** Huge or extreme values, each a few hundred kB at most (the bodies of megabytes are a budget of their own). */
const HUGE: [string, () => unknown][] = [
  ['100,000 characters', () => long(100_000)],
  ['50,000 two-byte characters', () => 'é'.repeat(50_000)],
  ['1e308', () => 1e308],
  ['-1e308', () => -1e308],
  ['-0', () => raw('-0')],
  ['1e400', () => raw('1e400')],
  ['1e-400', () => raw('1e-400')],
  ['a 400-digit integer', () => raw('9'.repeat(400))],
  ['5e-324', () => 5e-324],
  ['"NaN"', () => 'NaN'],
  ['arrays nested 10,000 deep', () => raw(`${'['.repeat(10_000)}${']'.repeat(10_000)}`)],
  ['objects nested 10,000 deep', () => raw(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`)],
  ['100,000 items', () => new Array(100_000).fill(0)],
  ['10,000 strings', () => Array.from({ length: 10_000 }, (_, i) => `t${i}`)],
  ['50,000 keys', () => Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i]))],
];

// ---------------------------------------------------------------------------------------------
// Requests and their mutations

/** A request before it is put into bytes: what the mutations change. */
interface Parts {
  /** Path parameters as they go out (percent-encoded, or not, as the mutation wants). */
  path: Record<string, string>;
  /** The query string as it goes out, without `?`. */
  query: string;
  /** The JSON value of the body, for the body mutations; `body` builds the bytes. */
  json?: unknown;
  /** Built when sent: bodies of megabytes exist only while they go out. */
  body?: () => Buffer;
  contentType?: string;
  headers: [string, string][];
  /** The Authorization header, null for none. */
  auth: string | null;
  ownLength?: boolean;
}

type Kind = 'path' | 'query-type' | 'query-shape' | 'body-type' | 'body-missing' | 'body-extra' | 'body-huge' | 'encoding' | 'auth';
const KINDS: Kind[] = ['path', 'query-type', 'query-shape', 'body-type', 'body-missing', 'body-extra', 'body-huge', 'encoding', 'auth'];

interface Probe {
  op: Operation;
  kind: Kind;
  what: string;
  parts: Parts;
  /** `wait`: the body is shorter than promised, so no answer is due; `too-large`: over the body limit, a close is fine. */
  expect?: 'wait' | 'too-large';
  timeoutMs?: number;
}

interface Gen {
  rng: Rng;
  fx: Fixture;
  /** Counts the requests made, for fresh names (groups, users) that do not collide. */
  n: number;
  /** Operations whose path parameters this part could not fill with a real value. */
  unfilled: Set<string>;
}

const enc = encodeURIComponent;
const utf8AsBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const clone = (p: Parts): Parts => ({ ...p, path: { ...p.path }, headers: [...p.headers] });
const isJsonBodied = (op: Operation) => Boolean(op.body);

function multipart(boundary: string, parts: { headers: string[]; content: string }[], close = true): Buffer {
  let out = '';
  for (const p of parts) out += `--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n${p.content}\r\n`;
  if (close) out += `--${boundary}--\r\n`;
  return Buffer.from(out, 'latin1');
}
const filePart = (filename: string, content = 'fuzz\n', name = 'file') => ({
  headers: [`Content-Disposition: form-data; name="${name}"; filename="${filename}"`, 'Content-Type: application/octet-stream'],
  content,
});
const fieldPart = (name: string, content: string) => ({ headers: [`Content-Disposition: form-data; name="${name}"`], content });

function baseParts(g: Gen, op: Operation): Parts {
  const path: Record<string, string> = {};
  for (const p of op.params) {
    if (p.in !== 'path') continue;
    const v = realPathValue(g.fx, op, p.name);
    if (v === undefined) g.unfilled.add(`${op.method} ${op.path} {${p.name}}`);
    path[p.name] = enc(v ?? HEX);
  }
  const query = op.params
    .filter((p) => p.in === 'query' && p.required)
    .map((p) => `${p.name}=${enc(realQueryValue(g.fx, p.name))}`)
    .join('&');
  const parts: Parts = { path, query, headers: [], auth: `scitran-user ${g.fx.key}` };
  if (op.body) {
    const value = sampleBody(op, g.fx, g.n++);
    parts.json = value;
    parts.body = () => jsonBytes(value);
    parts.contentType = 'application/json';
  } else if (op.upload) {
    const name = op.path === '/api/gears' ? 'fuzz.tar.gz' : `fuzz-${g.n++}.txt`;
    const body = multipart('fuzzboundary', [filePart(name)]);
    parts.body = () => body;
    parts.contentType = 'multipart/form-data; boundary=fuzzboundary';
  }
  return parts;
}

function withJson(p: Parts, value: unknown): Parts {
  const q = clone(p);
  q.json = value;
  q.body = () => jsonBytes(value);
  q.contentType = 'application/json';
  return q;
}

function pathTricks(fx: Fixture, real: string): [string, string][] {
  return [
    ['..', '..'],
    ['.', '.'],
    ['%2e%2e', '%2e%2e'],
    ['%2e%2e%2f', '%2e%2e%2f%2e%2e%2f'],
    ['..%2F..%2F', '..%2F..%2F'],
    ['double-encoded ../', '%252e%252e%252f'],
    ['an encoded slash', 'a%2Fb'],
    ['a lone %2F', '%2F'],
    ['backslashes', '..\\..\\'],
    ['encoded backslashes', '..%5C..%5C'],
    ['a literal ?', 'a?b'],
    ['an encoded ?', 'a%3Fb'],
    ['a literal #', 'a#b'],
    ['an encoded #', 'a%23b'],
    ['%00', '%00'],
    ['the id and %00', `${real}%00`],
    ['%00 and the id', `%00${real}`],
    ['CR LF', '%0D%0A'],
    ['a truncated percent-encoding', '%E0%A4%A'],
    ['a lone %', '%'],
    ['%zz', '%zz'],
    ['overlong UTF-8 dots', '%C0%AE%C0%AE'],
    ['an encoded surrogate', '%ED%A0%80'],
    ['%FF%FE', '%FF%FE'],
    ['unicode', enc('ünï😀日本')],
    ['raw UTF-8 bytes', utf8AsBytes('ünï😀')],
    ['a raw FF byte', '\xff'],
    ['1,025 characters', long(1025)],
    ['5,000 characters', long(5000)],
    ['20,000 characters', long(20_000)],
    ['an id nothing has', HEX],
    ['the id in upper case', real.toUpperCase()],
    ['the id and a digit', `${real}0`],
    ['the id less a digit', real.slice(1)],
    ['an id of another kind', fx.job],
    ['another kind of id', fx.notes.project ?? HEX],
    ['-1', '-1'],
    ['0', '0'],
    ['1e308', '1e308'],
    ['null', 'null'],
    ['undefined', 'undefined'],
    ['true', 'true'],
    ['[object Object]', enc('[object Object]')],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['prototype', 'prototype'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['%20', '%20'],
    ['a raw space', 'a b'],
    ['+', '+'],
    ['*', '*'],
    ['a matrix parameter', `${real};jsessionid=1`],
    ['~', '~'],
    ['%u002e%u002e', '%u002e%u002e'],
    ['an empty segment', ''],
    ['the id and /..', `${real}/..`],
    ['../ and the id', `../${real}`],
    ['../../etc/passwd', '../../etc/passwd'],
    ['..%2F..%2Fetc%2Fpasswd', '..%2F..%2Fetc%2Fpasswd'],
  ];
}

const FILE_NAME_TRICKS: [string, string][] = [
  ['../../etc/passwd encoded', enc('../../etc/passwd')],
  ['..%2f..%2fetc%2fpasswd', '..%2f..%2fetc%2fpasswd'],
  ['/etc/passwd encoded', enc('/etc/passwd')],
  ['the name, %00, .png', `${FILE}%00.png`],
  ['the name/../the name', `${FILE}/../${FILE}`],
  ['a trailing dot', `${FILE}.`],
  ['a leading dot', `.${FILE}`],
  ['CON', 'CON'],
  ['NUL.txt', 'NUL.txt'],
  ['300 characters', `${long(300)}.txt`],
  ['%2e', '%2e'],
  ['C:\\boot.ini', enc('C:\\boot.ini')],
  ['a tab', `a%09${FILE}`],
  ['a DEL', `a%7F${FILE}`],
  ['a C1 control', `a%C2%9B${FILE}`],
  ['a right-to-left override', enc(`a\u202Etxt.exe`)],
];

const QUERY_INT = [
  'abc',
  '1.5',
  '-1',
  '-0',
  '1e308',
  '1e400',
  '99999999999999999999999',
  'NaN',
  'Infinity',
  '0x1F',
  '',
  '%00',
  '1%00',
  '+1',
  '%201',
  '1,2',
  'true',
  '[]',
  enc('١'),
];
const QUERY_BOOL = ['True', 'False', 'TRUE', 'yes', 'no', '2', '-1', '', 'null', '%00', 'tru', 'True%00'];
const QUERY_STRING = [
  long(8000),
  long(20_000),
  '%00',
  'a%00b',
  '%',
  '%ZZ',
  '%E0%A4%A',
  '%C0%AE%C0%AE',
  '%FF%FE',
  '%ED%A0%80',
  enc('日本😀'),
  utf8AsBytes('é'),
  '..%2F..%2Fetc%2Fpasswd',
  '%3Cscript%3E',
  "'",
  '%22',
  '%7B%7D',
  '%5B%5D',
  '__proto__',
  'constructor',
  enc('(a+)+$'),
  '%0D%0ASet-Cookie:%20x',
];
/** Extra values for the parameters with a language of their own. */
const QUERY_NAMED: Record<string, string[]> = {
  filter: [
    'label=~(a+)+$',
    'label=~[',
    'label=~',
    `label=~${long(5000)}`,
    '<x',
    'label<',
    '=',
    ',,,',
    'label=a,'.repeat(500),
    `info.${'a.'.repeat(200)}b=1`,
    'created>yesterday',
    'created>=1e400',
    '_id=zzz',
    'label=%00',
    'label=null',
    '__proto__=1',
    'constructor=1',
    'toString=~x',
    'constructor.prototype=1',
  ].map(enc),
  sort: [
    'label:sideways',
    'label:-2',
    'label:1e400',
    '__proto__',
    'constructor',
    'toString:-1',
    `${long(1000)}:1`,
    'label,label,label',
    ':',
    ',',
    'info.a.b:1',
  ].map(enc),
  fields: ['__proto__', '*', `info.${'a.'.repeat(100)}b`, ',,,', 'constructor'].map(enc),
  after_id: ['zzz', HEX.toUpperCase(), '%00', long(100)],
  format: ['zip', 'tar', 'ZIP', 'rar', '%00', '__proto__', 'csv', 'json', 'tsv'],
  member: ['../../etc/passwd', '%2Fetc%2Fpasswd', '..%5C..%5C', '%00', long(2000)],
  version: ['0', '-1', '1e400', '99999999999', 'latest'],
};

function queryShapes(p: string): [string, string][] {
  return [
    ['repeated', `${p}=1&${p}=2`],
    ['as an array', `${p}[]=1&${p}[]=2`],
    ['with a key', `${p}[a]=1`],
    ['bare', p],
    ['empty', `${p}=`],
    ['no name', '=x'],
    ['ampersands', '&&&=&='],
    ['a second ?', `?${p}=1`],
    ['semicolons', `${p}=1;${p}=2`],
    ['__proto__', '__proto__[admin]=1&__proto__=x'],
    ['constructor.prototype', 'constructor[prototype][admin]=1'],
    ['huge limit and skip', 'limit=1000000000&skip=1000000000'],
    ['limit 2^31', 'limit=2147483648'],
    ['skip past 2^53', 'skip=9007199254740993'],
    ['negative paging', 'limit=-1&skip=-1&page=-1'],
    ['page 0', 'page=0'],
    ['non-numeric paging', 'limit=ten&skip=%00&page=abc'],
    ['1,000 parameters', Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')],
    ['the same parameter 200 times', Array.from({ length: 200 }, (_, i) => `${p}=${i}`).join('&')],
    ['a value of 10,000 characters', `${p}=${long(10_000)}`],
    ['bad percent-encodings', `${p}=%&%zz=%E0%A4%A`],
    ['a # in the query', `${p}=a#b`],
    ['raw bytes', `${p}=\xff\xfe`],
    ['unicode', `${p}=${enc('日本😀')}`],
    ['a raw space', `${p}=a b`],
    ['a NUL', `${p}=%00`],
    ['booleans Python spells', `${p}=True&inflate_job=False&all_versions=True&summary=False`],
  ];
}

function encodingsForJson(text: string): [string, (p: Parts) => void, 'wait'?][] {
  const bytes = (b: Buffer | string) => (p: Parts) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    p.body = () => buf;
  };
  const type = (t: string | undefined) => (p: Parts) => {
    p.contentType = t;
  };
  // Bytes that are not UTF-8 inside the first string value (or a string member added for them).
  const inString = (b: number[]) => {
    const i = text.indexOf(':"');
    const [before, after] = i >= 0 ? [text.slice(0, i + 2), text.slice(i + 2)] : ['{"label":"', `"${text.slice(1)}`];
    return bytes(Buffer.concat([Buffer.from(before), Buffer.from(b), Buffer.from(after)]));
  };
  const escaped = (e: string) => {
    const i = text.indexOf(':"');
    return bytes(i >= 0 ? `${text.slice(0, i + 2)}${e}${text.slice(i + 2)}` : `{"label":"${e}"}`);
  };
  const header = (k: string, v: string) => (p: Parts) => {
    p.headers.push([k, v]);
  };
  const length = (v: string | string[]) => (p: Parts) => {
    p.ownLength = true;
    for (const x of Array.isArray(v) ? v : [v]) p.headers.push(['Content-Length', x]);
  };
  const chunked = (body: string) => (p: Parts) => {
    p.ownLength = true;
    p.headers.push(['Transfer-Encoding', 'chunked']);
    p.body = () => Buffer.from(body, 'latin1');
  };
  const n = Buffer.byteLength(text);
  const firstKey = /^\{"([^"]+)"/.exec(text)?.[1] ?? 'label';
  return [
    ['invalid UTF-8 (C3 28)', inString([0xc3, 0x28])],
    ['overlong UTF-8 "/" (C0 AF)', inString([0xc0, 0xaf])],
    ['overlong UTF-8 NUL (C0 80)', inString([0xc0, 0x80])],
    ['a UTF-8 encoded surrogate (ED A0 80)', inString([0xed, 0xa0, 0x80])],
    ['bytes FF FE', inString([0xff, 0xfe])],
    ['a truncated UTF-8 sequence', inString([0xe2, 0x82])],
    ['a raw NUL byte', inString([0x00])],
    ['raw control bytes', inString([0x01, 0x1b, 0x7f])],
    ['an escaped lone surrogate', escaped('\\ud800')],
    ['escaped surrogates reversed', escaped('\\udc00\\ud800')],
    ['an escaped NUL', escaped('\\u0000')],
    ['a bad escape', escaped('\\x41\\u12')],
    ['a UTF-8 BOM', bytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))],
    [
      'UTF-16LE with a BOM',
      (p) => {
        bytes(Buffer.from(`\ufeff${text}`, 'utf16le'))(p);
        p.contentType = 'application/json; charset=utf-16';
      },
    ],
    [
      'Latin-1 bytes declared as latin1',
      (p) => {
        bytes(Buffer.from(text.replace('fuzz', 'füzz'), 'latin1'))(p);
        p.contentType = 'application/json; charset=iso-8859-1';
      },
    ],
    ['no Content-Type', type(undefined)],
    ['Content-Type text/plain', type('text/plain')],
    ['Content-Type application/xml', type('application/xml')],
    [
      'a form-encoded body',
      (p) => {
        bytes('label=x&_id=y&tags[]=a')(p);
        p.contentType = 'application/x-www-form-urlencoded';
      },
    ],
    ['APPLICATION/JSON', type('APPLICATION/JSON')],
    ['application/json;;;', type('application/json;;;')],
    ['an unclosed charset quote', type('application/json; charset="')],
    ['charset=utf-7', type('application/json; charset=utf-7')],
    ['application/vnd.api+json', type('application/vnd.api+json')],
    ['*/*', type('*/*')],
    ['application/', type('application/')],
    ['two content types', type('application/json, text/plain')],
    ['a raw FF byte in Content-Type', type('application/json\xff')],
    ['multipart with no boundary', type('multipart/form-data')],
    ['multipart with an empty boundary', type('multipart/form-data; boundary=')],
    ['multipart with a boundary the JSON lacks', type('multipart/form-data; boundary=zz')],
    ['multipart/mixed', type('multipart/mixed; boundary=zz')],
    ['trailing garbage', bytes(`${text}xyz`)],
    ['two JSON documents', bytes(`${text}${text}`)],
    ['a NUL after the JSON', bytes(`${text}\u0000`)],
    ['an unclosed object', bytes(text.slice(0, -1))],
    ['an extra closing brace', bytes(`${text}}`)],
    ['single quotes', bytes(text.replaceAll('"', "'"))],
    ['a comment', bytes(`/* x */${text}`)],
    ['a trailing comma', bytes(text.replace(/}$/, ',}'))],
    ['whitespace only', bytes('   \r\n\t')],
    ['a NaN literal', bytes('{"a": NaN}')],
    ['a bare word', bytes('fuzz')],
    ['duplicated keys, the last of the wrong type', bytes(text.replace(/}$/, `${text.length > 2 ? ',' : ''}"${firstKey}":[{"x":5}]}`))],
    [
      'gzip Content-Encoding, not gzip',
      (p) => {
        p.headers.push(['Content-Encoding', 'gzip']);
      },
    ],
    [
      'gzip Content-Encoding, truncated gzip',
      (p) => {
        p.headers.push(['Content-Encoding', 'gzip']);
        bytes(gzipSync(text).subarray(0, 10))(p);
      },
    ],
    [
      'gzip Content-Encoding, real gzip',
      (p) => {
        p.headers.push(['Content-Encoding', 'gzip']);
        bytes(gzipSync(text))(p);
      },
    ],
    ['deflate Content-Encoding, not deflate', header('Content-Encoding', 'deflate')],
    ['br Content-Encoding', header('Content-Encoding', 'br')],
    ['Content-Encoding zstd, identity', header('Content-Encoding', 'zstd, identity')],
    ['Content-Length shorter than the body', length(String(Math.max(0, n - 3)))],
    ['Content-Length longer than the body', length(String(n + 100)), 'wait'],
    ['Content-Length not a number', length('abc')],
    ['a negative Content-Length', length('-1')],
    ['Content-Length 1e3', length('1e3')],
    ['two different Content-Lengths', length([String(n), String(n + 1)])],
    [
      'Content-Length with chunked',
      (p) => {
        p.headers.push(['Content-Length', String(n)]);
        chunked(`${n.toString(16)}\r\n${text}\r\n0\r\n\r\n`)(p);
      },
    ],
    ['a bad chunk size', chunked(`zz\r\n${text}\r\n0\r\n\r\n`)],
    ['a chunk longer than its size', chunked(`1\r\n${text}\r\n0\r\n\r\n`)],
    ['no last chunk', chunked(`${n.toString(16)}\r\n${text}\r\n`), 'wait'],
    ['chunk extensions and trailers', chunked(`${n.toString(16)};x=y\r\n${text}\r\n0\r\nX-Trailer: 1\r\n\r\n`)],
    [
      'Transfer-Encoding gzip, chunked',
      (p) => {
        p.headers.push(['Transfer-Encoding', 'gzip']);
        chunked(`${n.toString(16)}\r\n${text}\r\n0\r\n\r\n`)(p);
      },
    ],
  ];
}

function encodingsForUpload(op: Operation): [string, (p: Parts) => void, 'wait'?][] {
  const B = 'fuzzboundary';
  const form =
    (parts: { headers: string[]; content: string }[], close = true) =>
    (p: Parts) => {
      const body = multipart(B, parts, close);
      p.body = () => body;
    };
  const type = (t: string | undefined) => (p: Parts) => {
    p.contentType = t;
  };
  const text = (t: string) => (p: Parts) => {
    p.body = () => Buffer.from(t, 'latin1');
  };
  const name = op.path === '/api/gears' ? 'fuzz.tar.gz' : 'fuzz.txt';
  const named = (filename: string) => form([filePart(filename)]);
  return [
    ['multipart with no boundary', type('multipart/form-data')],
    ['a boundary not in the body', type('multipart/form-data; boundary=other')],
    ['a 1,000-character boundary', type(`multipart/form-data; boundary=${long(1000)}`)],
    [
      'JSON sent to an upload',
      (p) => {
        p.body = () => Buffer.from('{"file":"x"}');
        p.contentType = 'application/json';
      },
    ],
    ['no Content-Type', type(undefined)],
    ['truncated before the closing boundary', form([filePart(name)], false)],
    ['a body of only the closing boundary', text(`--${B}--\r\n`)],
    ['garbage between boundaries', text(`--${B}\r\ngarbage\r\n--${B}--\r\n`)],
    ['a part without Content-Disposition', form([{ headers: ['Content-Type: text/plain'], content: 'x' }])],
    ['a part with no name', form([{ headers: ['Content-Disposition: form-data; filename="a.txt"'], content: 'x' }])],
    ['a header line without a colon', form([{ headers: ['Content-Disposition form-data name="file"'], content: 'x' }])],
    ['LF instead of CRLF', text(`--${B}\nContent-Disposition: form-data; name="file"; filename="a.txt"\n\nx\n--${B}--\n`)],
    ['file name ../../etc/passwd', named('../../etc/passwd')],
    ['file name /etc/passwd', named('/etc/passwd')],
    ['file name ..\\..\\boot.ini', named('..\\..\\boot.ini')],
    ['file name with a NUL', named('a\u0000b.txt')],
    ['file name with CR LF', named('a\r\nb.txt')],
    ['file name with %00', named('a%00b.txt')],
    ['file name a/b', named('a/b.txt')],
    ['an empty file name', named('')],
    ['file name .', named('.')],
    ['file name ..', named('..')],
    ['file name of 300 characters', named(`${long(300)}.txt`)],
    ['file name with bytes that are not UTF-8', named('a\xff\xfe.txt')],
    [
      'an RFC 5987 file name',
      form([{ headers: [`Content-Disposition: form-data; name="file"; filename*=UTF-8''%E0%A4%A`], content: 'x' }]),
    ],
    ['metadata that is not JSON', form([fieldPart('metadata', '{'), filePart(name)])],
    ['metadata nested 10,000 deep', form([fieldPart('metadata', `{"info":${'['.repeat(10_000)}${']'.repeat(10_000)}}`), filePart(name)])],
    ['metadata of the wrong types', form([fieldPart('metadata', '{"info":5,"tags":"x","files":{}}'), filePart(name)])],
    ['metadata null', form([fieldPart('metadata', 'null'), filePart(name)])],
    ['2,000 empty parts', form(Array.from({ length: 2000 }, (_, i) => fieldPart(`f${i}`, '')))],
    ['the same file twice', form([filePart(name), filePart(name)])],
    ['gzip Content-Encoding, not gzip', (p) => p.headers.push(['Content-Encoding', 'gzip'])],
    [
      'Content-Length longer than the body',
      (p) => {
        p.ownLength = true;
        p.headers.push(['Content-Length', '100000']);
      },
      'wait',
    ],
  ];
}

const AUTH_VARIANTS = (key: string): [string, (p: Parts) => void][] => {
  const auth = (v: string | null) => (p: Parts) => {
    p.auth = v;
  };
  const cookie = (v: string) => (p: Parts) => {
    p.auth = null;
    p.headers.push(['Cookie', v]);
  };
  return [
    ['no credentials', auth(null)],
    ['an empty Authorization', auth('')],
    ['the scheme alone', auth('scitran-user')],
    ['a truncated key', auth(`scitran-user ${key.slice(0, -4)}`)],
    ['the key and junk', auth(`scitran-user ${key}junk`)],
    ['a key of 10,000 characters', auth(`scitran-user ${long(10_000)}`)],
    ['bytes that are not UTF-8', auth('Bearer \xff\xfe\xfd')],
    ['Basic credentials', auth('Basic YWRtaW46YWRtaW4=')],
    ['colons only', auth('scitran-user :::')],
    ['a key and a NUL', auth(`scitran-user ${key}\u0000`)],
    ['a key and CR', auth(`scitran-user ${key}\r`)],
    ['a session cookie that is no session', cookie('sprocket_session=garbage')],
    ['a session cookie of 5,000 characters', cookie(`sprocket_session=${long(5000)}`)],
    ['a cookie with bad percent-encoding', cookie('sprocket_session=%E0%A4%A; other=%')],
    [
      // Node keeps the first of two Authorization headers: the garbage one.
      'a garbage Authorization before the key',
      (p) => {
        p.auth = null;
        p.headers.push(['Authorization', 'scitran-user nope'], ['Authorization', `scitran-user ${key}`]);
      },
    ],
    [
      'X-Access instead of Authorization',
      (p) => {
        p.auth = null;
        p.headers.push(['X-Access', key]);
      },
    ],
  ];
};

/** One request of `kind` for the operation, or undefined where the kind does not apply to it. */
function draw(g: Gen, op: Operation, kind: Kind): Probe | undefined {
  const { rng, fx } = g;
  const base = baseParts(g, op);
  const probe = (what: string, parts: Parts, expect?: Probe['expect']): Probe => ({ op, kind, what, parts, expect });
  const queryParams = op.params.filter((p) => p.in === 'query');
  const withQuery = (p: Parts, q: string) => {
    const r = clone(p);
    r.query = r.query ? `${r.query}&${q}` : q;
    return r;
  };
  switch (kind) {
    case 'path': {
      const params = op.params.filter((p) => p.in === 'path');
      if (!params.length) return undefined;
      const param = rng.pick(params);
      const real = base.path[param.name] ?? HEX;
      const tricks = param.name === 'name' ? [...pathTricks(fx, real), ...FILE_NAME_TRICKS] : pathTricks(fx, real);
      const [what, value] = rng.pick(tricks);
      const p = clone(base);
      p.path[param.name] = value;
      return probe(`{${param.name}}: ${what}`, p);
    }
    case 'query-type': {
      if (!queryParams.length) return undefined;
      const param = rng.pick(queryParams);
      const t = typeOf(param.schema);
      const values = [
        ...(t === 'integer' || t === 'number' ? QUERY_INT : t === 'boolean' ? QUERY_BOOL : QUERY_STRING),
        ...(QUERY_NAMED[param.name] ?? []),
      ];
      const value = rng.pick(values);
      const p = clone(base);
      p.query = [...p.query.split('&').filter((x) => x && !x.startsWith(`${param.name}=`)), `${param.name}=${value}`].join('&');
      return probe(`${param.name}=${printable(value, 40)}`, p);
    }
    case 'query-shape': {
      const name = queryParams.length ? rng.pick(queryParams).name : rng.pick(['limit', 'filter', 'skip']);
      const [what, q] = rng.pick(queryShapes(name));
      return probe(`${name}: ${what}`, withQuery(base, q));
    }
    case 'body-type': {
      if (!op.body) return undefined;
      const fields = fieldsOf(op.body, base.json);
      // The body itself is one of the places: an array, a string, a number instead of the object.
      if (!fields.length || rng.next() < 0.1) {
        const [what, v] = rng.pick<[string, unknown]>([
          ['an array', [base.json]],
          ['a string', 'fuzz'],
          ['a number', 42],
          ['null', null],
          ['true', true],
          ['"True"', 'True'],
        ]);
        return probe(`the body is ${what}`, withJson(base, v));
      }
      const f = rng.pick(fields);
      const [what, v] = rng.pick(wrongValues(f.schema));
      const value = structuredClone(base.json);
      setAt(value, f.at, v);
      return probe(`${f.name}: ${what}`, withJson(base, value));
    }
    case 'body-missing': {
      if (!op.body) return undefined;
      const options: [string, () => unknown][] = [
        ['an empty object', () => ({})],
        ['no body at all', () => undefined],
      ];
      for (const k of op.body.required ?? [])
        options.push([
          `${k} missing`,
          () => {
            const v = structuredClone(base.json);
            deleteAt(v, [k]);
            return v;
          },
        ]);
      for (const f of fieldsOf(op.body, base.json))
        if (f.at.length > 1)
          options.push([
            `${f.name} missing`,
            () => {
              const v = structuredClone(base.json);
              deleteAt(v, f.at);
              return v;
            },
          ]);
      for (const k of op.body.required ?? [])
        options.push([
          `${k} null`,
          () => {
            const v = structuredClone(base.json);
            setAt(v, [k], null);
            return v;
          },
        ]);
      const [what, make] = rng.pick(options);
      const v = make();
      if (v === undefined) {
        const p = clone(base);
        p.body = undefined;
        p.json = undefined;
        p.contentType = rng.next() < 0.5 ? 'application/json' : undefined;
        return probe(what, p);
      }
      return probe(what, withJson(base, v));
    }
    case 'body-extra': {
      if (!op.body || typeOf(op.body) !== 'object') return undefined;
      const objects = fieldsOf(op.body, base.json).filter((f) => typeOf(f.schema) === 'object' && f.at.length === 1);
      const [what, add] = rng.pick<[string, (v: any) => void]>([
        ['an unknown field', (v) => put(v, 'bogus', 1)],
        ['an unknown field in a member', (v) => (objects.length ? setAt(v, [...rng.pick(objects).at, 'bogus'], 1) : put(v, 'bogus', {}))],
        ['a __proto__ member', (v) => put(v, '__proto__', { isAdmin: true, roles: ['site_admin'] })],
        ['a constructor member', (v) => put(v, 'constructor', { prototype: { isAdmin: true } })],
        ['a key with a NUL', (v) => put(v, 'a\u0000b', 1)],
        ['an empty key', (v) => put(v, '', 1)],
        ['1,000 unknown fields', (v) => Array.from({ length: 1000 }, (_, i) => put(v, `f${i}`, i))],
        ['a key of 10,000 characters', (v) => put(v, long(10_000), 1)],
        ['an _id', (v) => put(v, '_id', HEX)],
        [
          'created and modified',
          (v) => {
            put(v, 'created', 'yesterday');
            put(v, 'modified', 5);
          },
        ],
      ]);
      const value = structuredClone(base.json);
      add(value);
      return probe(what, withJson(base, value));
    }
    case 'body-huge': {
      if (!op.body) return undefined;
      const fields = fieldsOf(op.body, base.json);
      const [what, make] = rng.pick(HUGE);
      const p = clone(base);
      const f = fields.length ? rng.pick(fields) : undefined;
      p.body = () => {
        const value = f ? structuredClone(base.json) : make();
        if (f) setAt(value, f.at, make());
        return jsonBytes(value);
      };
      return probe(`${f ? f.name : 'the body'}: ${what}`, p);
    }
    case 'encoding': {
      const p = clone(base);
      if (op.upload) {
        const [what, apply, expect] = rng.pick(encodingsForUpload(op));
        apply(p);
        return probe(what, p, expect);
      }
      const text = base.json !== undefined ? jsonBytes(base.json).toString('utf8') : '{"label":"fuzz"}';
      const all = encodingsForJson(text);
      // Bodiless operations get a body, and the framing tricks that matter for them.
      const options =
        op.body || op.method === 'POST' || op.method === 'PUT'
          ? all
          : all.filter(([w]) => /Content-Length|chunk|gzip|multipart|trailing|BOM/.test(w));
      const [what, apply, expect] = rng.pick(options);
      if (!p.body) {
        p.body = () => Buffer.from(text);
        p.contentType = 'application/json';
      }
      apply(p);
      return probe(what, p, expect);
    }
    case 'auth': {
      const [what, apply] = rng.pick(AUTH_VARIANTS(fx.key));
      const p = clone(base);
      apply(p);
      return probe(what, p);
    }
  }
}

/** The bodies of megabytes: a few, on operations drawn at random, each in a string field (or as one). */
function bigBodies(g: Gen, ops: Operation[], count: number, overLimit: number): Probe[] {
  const bodied = ops.filter(isJsonBodied);
  const out: Probe[] = [];
  for (let i = 0; i < count + overLimit; i++) {
    const op = g.rng.pick(bodied);
    const base = baseParts(g, op);
    const over = i >= count;
    const bytes = over ? BODY_LIMIT + 1024 * 1024 : (1 + g.rng.int(10)) * 1024 * 1024;
    const fields = fieldsOf(op.body!, base.json).filter((f) => f.at.length === 1);
    const field = fields.length ? g.rng.pick(fields).name : 'label';
    const p = clone(base);
    p.body = () => {
      const value = structuredClone(base.json ?? {});
      put(value, field, long(bytes));
      return jsonBytes(value);
    };
    out.push({
      op,
      kind: 'body-huge',
      what: `${field}: ${(bytes / 1024 / 1024).toFixed(0)} MB${over ? ' (over the limit)' : ''}`,
      parts: p,
      expect: over ? 'too-large' : undefined,
      timeoutMs: BIG_TIMEOUT_MS,
    });
  }
  return out;
}

function generate(ops: Operation[], fx: Fixture, c: Campaign, seed: number): { probes: Probe[]; unfilled: string[] } {
  const g: Gen = { rng: seededRandom(seed), fx, n: 0, unfilled: new Set() };
  const probes: Probe[] = [];
  for (const op of ops)
    for (const kind of KINDS)
      for (let i = 0; i < c.perKind; i++) {
        const p = draw(g, op, kind);
        if (p) probes.push(p);
      }
  probes.push(...bigBodies(g, ops, c.bigBodies, c.overLimit));
  for (let guard = 0; probes.length < c.minRequests && guard < c.minRequests * 20; guard++) {
    const p = draw(g, g.rng.pick(ops), g.rng.pick(KINDS));
    if (p) probes.push(p);
  }
  g.rng.shuffle(probes);
  // Deletes last: everything before them finds the objects there.
  const ordered = [...probes.filter((p) => p.op.method !== 'DELETE'), ...probes.filter((p) => p.op.method === 'DELETE')];
  return { probes: ordered, unfilled: [...g.unfilled] };
}

function wireOf(p: Probe): Wire {
  const { parts } = p;
  const pathname = p.op.path.replace(/\{(\w+)\}/g, (_, name: string) => parts.path[name] ?? '');
  const headers: [string, string][] = [];
  if (parts.auth !== null) headers.push(['Authorization', parts.auth]);
  if (parts.contentType !== undefined) headers.push(['Content-Type', parts.contentType]);
  headers.push(...parts.headers);
  return {
    method: p.op.method,
    target: parts.query ? `${pathname}?${parts.query}` : pathname,
    headers,
    body: parts.body?.(),
    ownLength: parts.ownLength,
  };
}

// ---------------------------------------------------------------------------------------------
// The campaign

interface Tally {
  sent: number;
  byKind: Map<Kind, number>;
  classes: { ok: number; client: number; server: number };
  tooLarge413: number;
  tooLargeClosed: number;
  gaveUp: number;
  unanswered: number;
  slowest: { ms: number; what: string };
  answeredOps: Set<Operation>;
  okOps: Set<Operation>;
  checks: number;
  checksPassed: number;
  slowestCheckMs: number;
}

async function campaign(ctx: FaultsContext, c: Campaign, seed: number, database: 'SQLite' | 'PostgreSQL'): Promise<PartReport> {
  const title = `malformed requests from the OpenAPI document (${database})`;
  const problems: string[] = [];
  const dbUrl = database === 'PostgreSQL' ? await createDatabase(ctx.postgresUrl!, 'sprocket_faults') : undefined;
  const dataDir = path.join(ctx.workDir, database.toLowerCase());
  const cluster = await startCluster(ctx.root, dataDir, { PATH: process.env.PATH, ...(dbUrl ? { DATABASE_URL: dbUrl } : {}) });
  const port = Number(new URL(cluster.url).port);
  const t: Tally = {
    sent: 0,
    byKind: new Map(),
    classes: { ok: 0, client: 0, server: 0 },
    tooLarge413: 0,
    tooLargeClosed: 0,
    gaveUp: 0,
    unanswered: 0,
    slowest: { ms: 0, what: '' },
    answeredOps: new Set(),
    okOps: new Set(),
    checks: 0,
    checksPassed: 0,
    slowestCheckMs: 0,
  };
  let answering = false;
  let ops: Operation[] = [];
  let seconds = 0;
  let unfilled: string[] = [];
  try {
    const fx = await createObjects(cluster, ctx.workDir);
    ops = operationsOf(await cluster.call('GET', '/openapi.json'));
    const generated = generate(ops, fx, c, seed);
    const { probes } = generated;
    unfilled = generated.unfilled;
    if (unfilled.length) ctx.log(`${database}: no real value for ${unfilled.join(', ')} (sent ${HEX})`);
    ctx.log(`${database}: seed ${seed}: ${probes.length} requests for ${ops.length} operations, ${c.concurrency} at a time`);

    const exited = () => {
      const child = cluster.server.child;
      return child.exitCode !== null || child.signalCode !== null
        ? `the server process exited (${child.exitCode ?? child.signalCode})`
        : undefined;
    };
    /** The server still answers at once: its version anonymously, the caller with the admin key. */
    const check = async (after: number): Promise<boolean> => {
      t.checks++;
      const gone = exited();
      if (gone) {
        problems.push(`after ${after} requests: ${gone}`);
        return false;
      }
      for (const [target, auth] of [
        ['/api/version', null],
        ['/api/users/self', `scitran-user ${fx.key}`],
      ] as const) {
        const a = await sendWire(port, { method: 'GET', target, headers: auth ? [['Authorization', auth]] : [] }, CHECK_TIMEOUT_MS);
        t.slowestCheckMs = Math.max(t.slowestCheckMs, a.ms);
        if (a.status !== 200) {
          problems.push(
            `after ${after} requests: GET ${target} ${a.status ? `answered ${a.status} ${a.excerpt}` : `got no answer (${a.ended})`}`,
          );
          return false;
        }
      }
      t.checksPassed++;
      return true;
    };

    const t0 = performance.now();
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (!stop && next < probes.length) {
        const probe = probes[next++]!;
        const wire = wireOf(probe);
        const timeout = probe.expect === 'wait' ? PROMISED_BODY_WAIT_MS : (probe.timeoutMs ?? TIMEOUT_MS);
        const a = await sendWire(port, wire, timeout);
        t.sent++;
        t.byKind.set(probe.kind, (t.byKind.get(probe.kind) ?? 0) + 1);
        const label = `${probe.op.method} ${printable(wire.target)} [${probe.kind}: ${probe.what}]`;
        if (a.status !== undefined) {
          if (a.ms > t.slowest.ms) t.slowest = { ms: a.ms, what: label };
          t.answeredOps.add(probe.op);
          if (a.status >= 500) {
            t.classes.server++;
            problems.push(`${label} → ${a.status} ${a.excerpt}`);
          } else if (a.status >= 400) t.classes.client++;
          else {
            t.classes.ok++;
            t.okOps.add(probe.op);
          }
          if (probe.expect === 'too-large' && a.status === 413) t.tooLarge413++;
        } else if (probe.expect === 'too-large') t.tooLargeClosed++;
        else if (probe.expect === 'wait' && a.ended === 'timeout') t.gaveUp++;
        else {
          t.unanswered++;
          problems.push(`${label} → no answer (${a.ended}${a.error ? ` ${a.error}` : ''} after ${a.ms.toFixed(0)} ms)`);
        }
        // A failed check is a problem already; only a server that is gone ends the campaign early.
        if (t.sent % CHECK_EVERY === 0 && !(await check(t.sent)) && exited()) stop = true;
      }
    };
    let lastLog = Date.now();
    const progress = setInterval(() => {
      if (Date.now() - lastLog < 15_000) return;
      lastLog = Date.now();
      ctx.log(`${database}: ${t.sent}/${probes.length} sent, ${t.classes.server} answered 5xx, ${t.unanswered} unanswered`);
    }, 1000);
    try {
      await Promise.all(Array.from({ length: c.concurrency }, worker));
    } finally {
      clearInterval(progress);
    }
    seconds = (performance.now() - t0) / 1000;
    answering = await check(t.sent);
    ctx.log(`${database}: slowest answer ${t.slowest.ms.toFixed(0)} ms: ${t.slowest.what}`);
  } finally {
    await cluster.stop();
    if (dbUrl) await dropDatabase(dbUrl).catch(() => undefined);
  }
  problems.push(...cluster.serverLogProblems().slice(0, 20));
  const kinds = (ks: Kind[]) => ks.map((k) => t.byKind.get(k) ?? 0).join(' / ');
  return {
    title,
    problems,
    rows: [
      ['seed (BENCH_SEED=… replays it)', seed],
      ['requests sent', t.sent],
      ['  path / query types / query shapes', kinds(['path', 'query-type', 'query-shape'])],
      ['  body types / missing / unknown / huge', kinds(['body-type', 'body-missing', 'body-extra', 'body-huge'])],
      ['  encodings / missing or bad credentials', kinds(['encoding', 'auth'])],
      ['operations: in the document / answered / with a 2xx', `${ops.length} / ${t.answeredOps.size} / ${t.okOps.size}`],
      ['path parameters without a real value', unfilled.length],
      ['answers 2xx/3xx', t.classes.ok],
      ['answers 4xx', t.classes.client],
      ['answers 5xx', t.classes.server],
      ['over the body limit: answered 413 / closed before answering', `${t.tooLarge413} / ${t.tooLargeClosed}`],
      ['body shorter than its Content-Length: left waiting (expected)', t.gaveUp],
      ['closed or timed out without an answer', t.unanswered],
      ['requests per second', seconds ? (t.sent / seconds).toFixed(0) : '-'],
      ['slowest answer (ms)', t.slowest.ms.toFixed(0)],
      ['liveness checks passed, slowest (ms)', `${t.checksPassed} of ${t.checks}, ${t.slowestCheckMs.toFixed(0)}`],
      ['server still answering', answering ? 'yes' : 'no'],
      ['errors in the server log', cluster.serverLog.length],
    ],
  };
}

export const run: FaultsPart = async (ctx) => {
  const c = ctx.small ? SMALL : FULL;
  const seed = Number(process.env.BENCH_SEED ?? (ctx.small ? SMALL_SEED : Math.floor(Math.random() * 2 ** 31)));
  if (!Number.isSafeInteger(seed)) throw new Error(`BENCH_SEED must be an integer, not '${process.env.BENCH_SEED}'`);
  ctx.log(`seed ${seed} (BENCH_SEED=${seed} replays this campaign)`);
  const reports = [await campaign(ctx, c, seed, 'SQLite')];
  if (ctx.postgresUrl) reports.push(await campaign(ctx, c, seed, 'PostgreSQL'));
  else
    reports.push({
      title: 'malformed requests from the OpenAPI document (PostgreSQL)',
      rows: [],
      problems: [],
      skipped: 'DATABASE_URL is not set',
    });
  return reports;
};
