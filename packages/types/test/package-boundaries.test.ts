import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The CLI, the engine and the SDK reach the server only over HTTP, and share the gear spec through
 * `@sprocket/types`. An import of the server's source would tie them to its internals and ship it
 * inside them again, so any such import fails here.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLIENTS = ['cli', 'engine', 'sdk'];

/** Module specifiers a file imports: static and dynamic imports, re-exports. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g)) out.push(m[2]!);
  return out;
}

/** A specifier naming the server's code: its package, or its source folder by a relative path. */
function namesServer(spec: string): boolean {
  return spec === '@sprocket/server' || spec.startsWith('@sprocket/server/') || /(^|\/)server\/src(\/|$)/.test(spec);
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.[cm]?[jt]s$/.test(f))
    .map((f) => path.join(dir, f));
}

/** The module files a file imports by relative path, type-only imports included (they tie modules as much). */
function localImports(file: string): string[] {
  return specifiers(fs.readFileSync(file, 'utf8'))
    .filter((s) => s.startsWith('.'))
    .map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** Every import cycle among `files`, each as the chain of files that closes it. */
function cycles(files: string[]): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const dep of localImports(f)) {
      if (state.get(dep) === 'open') found.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep) && fs.existsSync(dep)) visit(dep);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

describe('package boundaries', () => {
  it('recognises every way of naming the server', () => {
    const sample = [
      "import { x } from '../../../server/src/jobs/manifest.js';",
      "const m = await import('../../server/src/files/filetypes.js');",
      "export { y } from '@sprocket/server';",
      "import '@sprocket/server/src/app.js';",
      "import { z } from '@sprocket/types';",
      "import { w } from './observer/src/x.js';",
    ].join('\n');
    expect(specifiers(sample).filter(namesServer)).toEqual([
      '../../../server/src/jobs/manifest.js',
      '../../server/src/files/filetypes.js',
      '@sprocket/server',
      '@sprocket/server/src/app.js',
    ]);
  });

  for (const pkg of CLIENTS) {
    it(`${pkg}/src imports nothing of the server`, () => {
      const files = sourceFiles(path.join(ROOT, 'packages', pkg, 'src'));
      expect(files.length).toBeGreaterThan(0);
      const found = files.flatMap((f) =>
        specifiers(fs.readFileSync(f, 'utf8'))
          .filter(namesServer)
          .map((s) => `${path.relative(ROOT, f)}: ${s}`),
      );
      expect(found).toEqual([]);
    });
  }

  // Benchmarks measure the server as it ships: through @sprocket/server and its subpath exports,
  // never its source files by a relative path (bench/server-process.ts spawns main.ts, no import).
  it('bench/ reaches the server only through @sprocket/server', () => {
    const files = sourceFiles(path.join(ROOT, 'bench'));
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((f) =>
      specifiers(fs.readFileSync(f, 'utf8'))
        .filter((s) => namesServer(s) && !s.startsWith('@sprocket/server'))
        .map((s) => `${path.relative(ROOT, f)}: ${s}`),
    );
    expect(found).toEqual([]);
  });

  it('finds an import cycle, type-only imports included', () => {
    const dir = fs.mkdtempSync(path.join(import.meta.dirname, '.cycle-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "import type { C } from './c.js';\nexport const b = 1 as unknown as C;\n");
      fs.writeFileSync(path.join(dir, 'c.ts'), "import type { a } from './a.js';\nexport type C = typeof a;\n");
      fs.writeFileSync(path.join(dir, 'd.ts'), "import { a } from './a.js';\nexport const d = a;\n");
      expect(cycles(sourceFiles(dir)).map((c) => c.map((f) => path.basename(f)))).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // The SDK's model classes once imported the client (for its type) while the client imported them,
  // and registered themselves with a registry as a side effect of loading; now they get a context
  // (transport and classes) passed in, and nothing may loop back.
  for (const pkg of ['sdk', 'engine']) {
    it(`${pkg}/src has no import cycle`, () => {
      const files = sourceFiles(path.join(ROOT, 'packages', pkg, 'src'));
      expect(cycles(files).map((c) => c.map((f) => path.relative(ROOT, f)).join(' -> '))).toEqual([]);
    });
  }
});

/**
 * Inside the server, dependencies point from routes to the domain (jobs/, auth/, files/, dicom/,
 * views/) to the data layer (dao/) to db/, never back: a domain module that imported a route
 * module, or took a fastify request, could only be called from inside a request. auth/authenticate.ts
 * and auth/sessions.ts are the domain files that read requests (they turn a key or a session cookie
 * into a principal, and run the route guards on plain values); dao/ may use auth/keys.ts, the key
 * format's pure functions.
 */
const SERVER_SRC = path.join(ROOT, 'packages', 'server', 'src');
const LAYERS: { dir: string; never: RegExp[]; fastifyAllowed?: string[]; allowed?: string[] }[] = [
  { dir: 'jobs', never: [/(^|\/)routes\//] },
  { dir: 'auth', never: [/(^|\/)routes\//, /(^|\/)jobs\//], fastifyAllowed: ['auth/authenticate.ts', 'auth/sessions.ts'] },
  { dir: 'files', never: [/(^|\/)routes\//, /(^|\/)jobs\//] },
  { dir: 'dicom', never: [/(^|\/)routes\//] },
  { dir: 'views', never: [/(^|\/)routes\//] },
  {
    dir: 'dao',
    never: [/(^|\/)routes\//, /(^|\/)jobs\//, /(^|\/)files\//, /(^|\/)dicom\//, /(^|\/)views\//, /(^|\/)auth\//],
    allowed: ['../auth/keys.js'],
  },
  { dir: 'db', never: [/(^|\/)(routes|jobs|auth|files|dicom|views|dao)\//] },
];

/** What a server source file may not import, as `file: specifier` lines. */
function layerViolations(rel: string, source: string, layer: (typeof LAYERS)[number]): string[] {
  const bad: string[] = [];
  for (const spec of specifiers(source)) {
    const fastify = spec === 'fastify' || spec.startsWith('@fastify/');
    if (fastify && !layer.fastifyAllowed?.includes(rel)) bad.push(`${rel}: ${spec}`);
    else if (spec.startsWith('.') && !layer.allowed?.includes(spec) && layer.never.some((re) => re.test(spec))) bad.push(`${rel}: ${spec}`);
  }
  return bad;
}

describe('server layers', () => {
  it('recognises a route import and a fastify request type', () => {
    const jobs = LAYERS[0]!;
    const sample =
      "import { checkFileName } from '../routes/files.js';\nimport type { FastifyRequest } from 'fastify';\nimport { x } from './routes-like.js';";
    expect(layerViolations('jobs/placer.ts', sample, jobs)).toEqual(['jobs/placer.ts: ../routes/files.js', 'jobs/placer.ts: fastify']);
  });

  for (const layer of LAYERS) {
    it(`server/src/${layer.dir} imports neither routes nor what sits above it`, () => {
      const dir = path.join(SERVER_SRC, layer.dir);
      const files = sourceFiles(dir);
      expect(files.length).toBeGreaterThan(0);
      const found = files.flatMap((f) => layerViolations(path.relative(SERVER_SRC, f), fs.readFileSync(f, 'utf8'), layer));
      expect(found).toEqual([]);
    });
  }
});

/**
 * Routes hold no SQL and make no permission decision of their own: they call dao/ (rows in,
 * documents out) and auth/ (one call per decision: `projectScope`, `requireSiteAdmin`,
 * `mayChangeUser` …). A route file that imports kysely or db/, touches `ctx.db`, builds a query
 * (a query-builder call, a `sql` template, a method of a `db`/`trx` handle), or tests `isAdmin` or
 * a site role itself fails here. Reporting the flag as a value (`user_is_admin: p.isAdmin,`) is no
 * decision and passes.
 */
const DB_USE =
  /\.\s*(selectFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto|selectNoFrom|transaction|executeQuery)\s*\(|\bsql\s*(<[^`;]*>)?\s*`|\bctx\.db\b|\b(db|trx)\.\w+\s*\(/g;
const SITE_ROLE_TEST = /\bisAdmin\b|\.roles\s*\.\s*(includes|some|indexOf)\s*\(|['"`]site_admin['"`]/g;
const REPORTED_FLAG = /^\s*[\w$]+\s*:\s*[\w$.]+\.isAdmin\s*,?\s*$/;

/** What a route file does that belongs in dao/ or auth/, as `file:line: what` lines. */
function routeViolations(rel: string, source: string): string[] {
  const bad: string[] = [];
  for (const spec of specifiers(source))
    if (spec === 'kysely' || spec.startsWith('kysely/') || /(^|\/)db(\/|$)/.test(spec)) bad.push(`${rel}: imports ${spec}`);
  const lines = source.split('\n');
  const lineAt = (index: number) => source.slice(0, index).split('\n').length;
  for (const m of source.matchAll(DB_USE)) bad.push(`${rel}:${lineAt(m.index)}: database: ${m[0]}`);
  for (const m of source.matchAll(SITE_ROLE_TEST)) {
    const line = lineAt(m.index);
    if (!REPORTED_FLAG.test(lines[line - 1]!)) bad.push(`${rel}:${line}: site role test: ${m[0]}`);
  }
  return bad;
}

describe('server routes', () => {
  it('recognises SQL, a database import and a site-role test in a route, and lets a reported flag through', () => {
    const sample = [
      "import { sql } from 'kysely';",
      "import type { JobsTable } from '../db/schema.js';",
      "import { getContainer } from '../dao/containers.js';",
      'const rows = await db',
      "  .selectFrom('jobs')",
      '  .execute();',
      "await trx.deleteFrom('files').execute();",
      'const n = sql<number>`count(*)`;',
      'const h = ctx.db;',
      'await db.transaction().execute(async () => {});',
      'if (!access.isAdmin) q = narrow(q);',
      "const dev = p.roles.includes('developer');",
      "const label = 'site_admin';",
      '      user_is_admin: p.isAdmin,',
      'const doc = await getContainer(db, id);',
      "throw forbidden('needs the site_admin role');",
    ].join('\n');
    expect(routeViolations('routes/x.ts', sample)).toEqual([
      'routes/x.ts: imports kysely',
      'routes/x.ts: imports ../db/schema.js',
      'routes/x.ts:5: database: .selectFrom(',
      'routes/x.ts:7: database: trx.deleteFrom(',
      'routes/x.ts:8: database: sql<number>`',
      'routes/x.ts:9: database: ctx.db',
      'routes/x.ts:10: database: db.transaction(',
      'routes/x.ts:11: site role test: isAdmin',
      'routes/x.ts:12: site role test: .roles.includes(',
      "routes/x.ts:13: site role test: 'site_admin'",
    ]);
  });

  it('server/src/routes holds no SQL and tests no site role itself', () => {
    const files = sourceFiles(path.join(SERVER_SRC, 'routes'));
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((f) => routeViolations(path.relative(SERVER_SRC, f), fs.readFileSync(f, 'utf8')));
    expect(found).toEqual([]);
  });
});
