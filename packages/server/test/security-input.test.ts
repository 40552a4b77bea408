import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobLog } from '../../engine/src/logs.js';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/** What a client sends that must be bounded or refused: JSON depth, label characters; and how uploaded content is served. */
let s: TestServer;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
beforeAll(async () => {
  s = await startTestServer();
  h = await makeHierarchy(s.admin);
});
afterAll(async () => {
  await s?.stop();
});

const nested = (levels: number, inner = '0') => `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;

describe('JSON nesting', () => {
  it('refuses a body nested 10,000 levels deep (50 kB) with a 400 naming the limit, not a 500', async () => {
    const deep = `{"info": ${nested(10_000)}}`;
    expect(deep.length).toBeLessThan(50_000);
    for (const [method, p] of [
      ['PUT', `/acquisitions/${h.acquisition}`],
      ['POST', `/acquisitions/${h.acquisition}/info`],
      ['POST', '/acquisitions'],
    ] as const) {
      const r = await s.admin.request(method, p, deep);
      expect(r.status, `${method} ${p}`).toBe(400);
      expect(r.body).toMatchObject({ code: 'INVALID_JSON', message: 'body: JSON nested deeper than 64 levels of arrays and objects' });
    }
    // The server is fine afterwards, and nesting up to the limit is accepted.
    const atLimit = `{"info": {"deep": ${nested(62, '"x"')}}}`;
    expect((await s.admin.request('PUT', `/acquisitions/${h.acquisition}`, atLimit)).status).toBe(200);
    const info = ok(await s.admin.get(`/acquisitions/${h.acquisition}`)).info;
    expect(JSON.stringify(info.deep)).toBe(nested(62, '"x"'));
    // Brackets inside strings are text, not nesting.
    expect((await s.admin.request('PUT', `/acquisitions/${h.acquisition}`, { info: { text: '['.repeat(1000) } })).status).toBe(200);
  });

  it('refuses deep JSON in an upload metadata field, and finds a NUL at any depth it allows', async () => {
    const form = new FormData();
    form.append('metadata', `{"info": ${nested(10_000)}}`);
    form.append('file', new Blob(['x']), 'deep.txt');
    const res = await fetch(`${s.admin.base}/acquisitions/${h.acquisition}/files`, {
      method: 'POST',
      headers: s.admin.headers(),
      body: form,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'INVALID_JSON',
      message: "form field 'metadata': JSON nested deeper than 64 levels of arrays and objects",
    });
    expect((await s.admin.get(`/acquisitions/${h.acquisition}/files/deep.txt/info`)).status).toBe(404);

    // A NUL as deep as bodies may go (the check once stopped looking after 64 levels).
    let value: unknown = 'nul\u0000here';
    for (let i = 0; i < 62; i++) value = { k: value };
    const r = await s.admin.put(`/acquisitions/${h.acquisition}`, { info: value });
    expect(r.status).toBe(400);
    expect(r.body.message).toBe(`body.info${'.k'.repeat(62)}: NUL characters (\\u0000) are not allowed`);
    const up = await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'nul.txt', content: 'x' }], { info: value });
    expect(up.status).toBe(400);
    expect(up.body.message).toContain(`form field 'metadata'.info${'.k'.repeat(62)} holds a NUL character`);
    // Deeper than that the NUL check used to stop looking, and the NUL was stored: now refused.
    let deeper: unknown = 'nul\u0000here';
    for (let i = 0; i < 100; i++) deeper = { k: deeper };
    const hidden = await s.admin.put(`/acquisitions/${h.acquisition}`, { info: deeper });
    expect(hidden.status).toBe(400);
    expect(hidden.body.message).toBe('body: JSON nested deeper than 64 levels of arrays and objects');
  });
});

describe('labels', () => {
  const ansi = 'scan\u001b[2J\u001b[31mowned';
  it('refuses ANSI escapes and control characters in labels and codes on create and modify, naming the field', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/groups', { _id: 'ctrlgroup', label: ansi }, 'body.label'],
      ['PUT', `/groups/${h.group}`, { label: 'a\rb' }, 'body.label'],
      ['POST', '/projects', { group: h.group, label: ansi }, 'body.label'],
      ['PUT', `/projects/${h.project}`, { label: 'tab\there' }, 'body.label'],
      ['POST', '/subjects', { project: h.project, code: 'sub\u0007' }, 'body.code'],
      ['POST', '/subjects', { project: h.project, label: 'sub-02', master_code: 'm\u009b1m' }, 'body.master_code'],
      ['PUT', `/subjects/${h.subject}`, { label: 'line\nbreak' }, 'body.label'],
      ['POST', '/sessions', { project: h.project, label: 'ses-02', subject: { label: ansi } }, 'body.subject.label'],
      ['PUT', `/sessions/${h.session}`, { label: '\u007f' }, 'body.label'],
      ['POST', '/acquisitions', { session: h.session, label: ansi }, 'body.label'],
      ['PUT', `/acquisitions/${h.acquisition}`, { label: ansi }, 'body.label'],
      ['POST', `/sessions/${h.session}/analyses`, { label: ansi }, 'body.label'],
    ];
    for (const [method, p, body, field] of cases) {
      const r = await s.admin.request(method, p, body);
      expect(r.status, `${method} ${p}`).toBe(400);
      expect(r.body.message, `${method} ${p}`).toBe(
        `${field}: must not contain control characters (ANSI escapes, tabs, newlines, U+0000-U+001F, U+007F-U+009F)`,
      );
    }
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}`)).label).toBe('T1w');
    // Any printable text is still a label.
    const fine = 'Café – 日本語 (run 1) #2 «ok» 🧠';
    ok(await s.admin.put(`/acquisitions/${h.acquisition}`, { label: fine }));
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}`)).label).toBe(fine);
    ok(await s.admin.put(`/acquisitions/${h.acquisition}`, { label: 'T1w' }));
  });

  it('refuses control characters in tags: through the tag routes, container bodies and upload metadata', async () => {
    const tagged = await s.admin.post(`/acquisitions/${h.acquisition}/tags`, { value: ansi });
    expect(tagged.status).toBe(400);
    expect(tagged.body.message).toMatch(/^body\.value: must not contain control characters/);
    const inBody = await s.admin.put(`/acquisitions/${h.acquisition}`, { tags: ['ok', 'bad\u001b[0m'] });
    expect(inBody.status).toBe(400);
    expect(inBody.body.message).toMatch(
      /^body\.tags\/1: must not contain control characters|^body\.tags\.1: must not contain control characters|^body\.tags\[1\]: must not contain control characters/,
    );
    const upload = await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'tagged.txt', content: 'x' }], { tags: [ansi] });
    expect(upload.status).toBe(400);
    expect(upload.body.message).toMatch(/control characters/);
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}`)).tags).toEqual([]);
  });
});

describe('job logs as text', () => {
  it('ends every line of the gear output with a newline, as the gear wrote it', async () => {
    const engine = new EngineSim(s.as(engineKeyOf(s)));
    const gear = await addGear(s.admin, manifest({ inputs: { image: { base: 'file', optional: true } } }));
    const id = ok(await s.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: h.acquisition } }))._id;
    const [job] = await engine.ask();
    expect(job.id).toBe(id);
    // The engine's own log batching and line splitting, sending to this server.
    const log = new JobLog({ logs: async (jobId, lines) => ok(await engine.heartbeat(jobId, lines)) }, id);
    log.stdout(Buffer.from('line one\nline two\n\n  indented\tline '));
    log.stdout(Buffer.from('four\n'));
    log.stderr(Buffer.from('warning: on stderr\n'));
    log.stdout(Buffer.from('last line\n'));
    await log.close();
    const text = (await s.admin.get(`/jobs/${id}/logs/text`)).body as string;
    const gearText = text.replace(/^\[sprocket\] .*\n/gm, '');
    expect(gearText).toBe('line one\nline two\n\n  indented\tline four\nwarning: on stderr\nlast line\n');
    const json = ok(await s.admin.get(`/jobs/${id}/logs`));
    expect(json.logs.filter((l: any) => l.fd !== -1).map((l: any) => l.msg)).toEqual([
      'line one',
      'line two',
      '',
      '  indented\tline four',
      'warning: on stderr',
      'last line',
    ]);
  });
});

describe('serving uploaded content', () => {
  const html = '<html><body><script>fetch("/api/users/self/keys")</script></body></html>';
  const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>';
  let analysis: string;
  beforeAll(async () => {
    ok(
      await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [
        { name: 'report.qa.html', content: html },
        { name: 'figure.svg', content: svg },
        { name: 'notes.txt', content: html },
        { name: 'paper.pdf', content: '%PDF-1.4\n' },
      ]),
    );
    analysis = ok(await s.admin.post(`/sessions/${h.session}/analyses`, { label: 'qa' }))._id;
    ok(await s.admin.upload(`/analyses/${analysis}/files`, [{ name: 'out.html', content: html }]));
  });

  const headers = (r: { headers: Headers }) => ({
    type: r.headers.get('content-type'),
    disposition: r.headers.get('content-disposition')?.split(';')[0],
    csp: r.headers.get('content-security-policy'),
    nosniff: r.headers.get('x-content-type-options'),
  });

  it('serves HTML and SVG sandboxed (no scripts, opaque origin) with nosniff, inline only with ?view=true', async () => {
    const a = `/acquisitions/${h.acquisition}/files`;
    const cases: [string, string, string][] = [
      [`${a}/report.qa.html`, 'text/html', 'attachment'],
      [`${a}/report.qa.html?view=true`, 'text/html', 'inline'],
      [`${a}/figure.svg`, 'image/svg+xml', 'attachment'],
      [`${a}/figure.svg?view=true`, 'image/svg+xml', 'inline'],
      [`${a}/notes.txt?view=true`, 'text/plain', 'inline'],
      [`/analyses/${analysis}/files/out.html?view=true`, 'text/html', 'inline'],
    ];
    for (const [p, type, disposition] of cases) {
      const r = await s.admin.bytes(p);
      expect(r.status, p).toBe(200);
      expect(headers(r), p).toEqual({ type: expect.stringContaining(type), disposition, csp: 'sandbox', nosniff: 'nosniff' });
      // Ranges and HEAD carry the same headers.
      const part = await s.admin.bytes(p, { Range: 'bytes=0-3' });
      expect(part.status, p).toBe(206);
      expect(headers(part), p).toEqual(headers(r));
    }
    const head = await fetch(`${s.admin.base}${a}/report.qa.html?view=true`, { method: 'HEAD', headers: s.admin.headers() });
    expect(headers(head)).toEqual({
      type: expect.stringContaining('text/html'),
      disposition: 'inline',
      csp: 'sandbox',
      nosniff: 'nosniff',
    });
    // PDF viewers cannot open in a sandboxed document; a PDF runs no script in the page's origin.
    const pdf = await s.admin.bytes(`${a}/paper.pdf?view=true`);
    expect(headers(pdf)).toEqual({ type: 'application/pdf', disposition: 'inline', csp: null, nosniff: 'nosniff' });
  });

  it('applies the same to download tickets, which anyone holding the URL can open in a browser', async () => {
    for (const p of [`/acquisitions/${h.acquisition}/files/report.qa.html`, `/analyses/${analysis}/files/out.html`]) {
      const { ticket } = ok(await s.admin.get(`${p}?ticket=`));
      for (const [q, disposition] of [
        ['', 'attachment'],
        ['&view=true', 'inline'],
      ]) {
        const r = await s.anon.bytes(`${p}?ticket=${ticket}${q}`);
        expect(r.status, p + q).toBe(200);
        expect(r.data.toString()).toBe(html);
        expect(headers(r), p + q).toEqual({ type: expect.stringContaining('text/html'), disposition, csp: 'sandbox', nosniff: 'nosniff' });
      }
    }
  });

  it('sends nosniff with archives, bulk downloads, gear archives and every other answer', async () => {
    const tar = await s.admin.bytes(`/acquisitions/${h.acquisition}/download?format=zip`);
    expect(tar.status).toBe(200);
    expect(headers(tar)).toMatchObject({ type: 'application/zip', disposition: 'attachment', nosniff: 'nosniff' });
    const { ticket } = ok(await s.admin.post('/download', { nodes: [{ level: 'acquisition', _id: h.acquisition }] }));
    const bulk = await s.anon.bytes(`/download?ticket=${ticket}`);
    expect(bulk.status).toBe(200);
    expect(headers(bulk)).toMatchObject({ type: 'application/x-tar', disposition: 'attachment', nosniff: 'nosniff' });
    const gear = await addGear(s.admin, manifest());
    const archive = await s.admin.bytes(`/gears/${gear}/archive`);
    expect(archive.status).toBe(200);
    expect(headers(archive)).toMatchObject({ disposition: 'attachment', nosniff: 'nosniff' });
    for (const r of [await s.admin.get('/users/self'), await s.anon.get('/users/self'), await s.admin.get('/nope')]) {
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
