import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteDef, type RouteName } from '../src/index.js';
import { adminKey, recordingClient, startTestServer, type TestServer } from './helpers.js';
import { exerciseSdk } from './workload.js';

/**
 * The SDK's route table against the server's own OpenAPI document: every route the SDK calls
 * must be served, with the query parameters and body fields the SDK sends, and every request a
 * real SDK session makes must satisfy the route's body schema.
 */

interface Operation {
  parameters?: { in: string; name: string; schema?: unknown }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
}
interface Schema {
  type?: string | string[];
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
}

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => void;

let s: TestServer;
let ops: Map<string, Operation>;
const norm = (p: string) => p.replace(/^\/api(?=\/)/, '').replace(/\{[^}]+\}/g, '{}');

function expand(def: RouteDef): string[] {
  return def.cont ? def.cont.map((c) => def.path.replace('{cont}', c)) : [def.path];
}
const opOf = (method: string, path: string) => ops.get(`${method} ${norm(path)}`);
const entries = Object.entries(ROUTES) as [RouteName, RouteDef][];

beforeAll(async () => {
  s = await startTestServer();
  const res = await fetch(`${s.url}/openapi.json`, { headers: { Authorization: `scitran-user ${adminKey(s)}` } });
  const doc = (await res.json()) as { paths: Record<string, Record<string, Operation>> };
  ops = new Map();
  for (const [p, methods] of Object.entries(doc.paths))
    for (const [m, op] of Object.entries(methods)) ops.set(`${m.toUpperCase()} ${norm(p)}`, op);
});
afterAll(async () => {
  await s?.stop();
});

describe('SDK routes against /api/openapi.json', () => {
  it('calls only routes the server serves', () => {
    const missing: string[] = [];
    for (const [name, def] of entries) {
      for (const p of expand(def)) if (!opOf(def.method, p)) missing.push(`${name}: ${def.method} ${p}`);
    }
    expect(missing).toEqual([]);
  });

  it('sends only query parameters the routes declare; finders page with limit and after_id', () => {
    const problems: string[] = [];
    for (const [name, def] of entries) {
      for (const p of expand(def)) {
        const op = opOf(def.method, p);
        if (!op) continue;
        const declared = new Set((op.parameters ?? []).filter((x) => x.in === 'query').map((x) => x.name));
        for (const q of def.query ?? []) if (!declared.has(q)) problems.push(`${name} ${def.method} ${p}: query '${q}' not declared`);
        if (def.paged)
          for (const q of ['limit', 'after_id', 'filter']) if (!declared.has(q)) problems.push(`${name} ${p}: cannot page (no '${q}')`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('builds JSON bodies only from fields the route body schemas accept', () => {
    const problems: string[] = [];
    for (const [name, def] of entries) {
      for (const p of expand(def)) {
        const op = opOf(def.method, p);
        if (!op) continue;
        const json = op.requestBody?.content?.['application/json']?.schema;
        if (def.multipart) {
          if (json && op.requestBody?.required) problems.push(`${name} ${p}: the SDK sends multipart, the route wants JSON`);
          continue;
        }
        if (def.body || def.passthrough) {
          if (!json) {
            problems.push(`${name} ${def.method} ${p}: the SDK sends a JSON body, the route declares none`);
            continue;
          }
          const closed = json.additionalProperties === false;
          for (const f of def.body ?? [])
            if (closed && !(f in (json.properties ?? {}))) problems.push(`${name} ${p}: body field '${f}' not in the schema`);
        } else if (op.requestBody?.required) {
          problems.push(`${name} ${def.method} ${p}: the route requires a body the SDK never sends`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('makes requests that satisfy the route schemas in a session using every part of the SDK', async () => {
    const { fw, requests } = recordingClient(adminKey(s));
    await exerciseSdk(fw);

    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validators = new Map<Operation, ValidateFunction>();
    const problems: string[] = [];
    const used = new Set<RouteName>();
    for (const r of requests) {
      if (r.route) used.add(r.route);
      const op = opOf(r.method, expandTemplate(r.template, r.path));
      if (!op) {
        problems.push(`${r.method} ${r.path}: not in openapi.json`);
        continue;
      }
      if (r.body === undefined) continue;
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (!schema) {
        problems.push(`${r.method} ${r.template}: sent a JSON body the route does not declare`);
        continue;
      }
      let validate = validators.get(op);
      if (!validate) {
        validate = ajv.compile(schema);
        validators.set(op, validate);
      }
      if (!validate(r.body)) problems.push(`${r.method} ${r.template} ${JSON.stringify(r.body)}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(problems).toEqual([]);
    // The session really covers the table: every route was called at least once.
    const unused = entries.filter(([n]) => !used.has(n)).map(([n]) => n);
    expect(unused).toEqual([]);
  });
});

/** The template with `{cont}` filled from the real path, so shared-container routes find their operation. */
function expandTemplate(template: string, path: string): string {
  const t = template.split('/');
  const p = path.split('/');
  return t.map((seg, i) => (seg === '{cont}' ? p[i]! : seg)).join('/');
}
