import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

let s: TestServer;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
/** A second session with a handful of acquisitions whose labels, info and tags exercise the filter language. */
let small: string;
const BIG = 600;

interface Spec {
  label: string;
  info?: Record<string, unknown>;
  tags?: string[];
}
const SMALL: Spec[] = [
  { label: 'alpha', info: { snr: 3, a: { b: 'x' }, site: 'north' }, tags: ['qc'] },
  { label: 'beta', info: { snr: 10, a: { b: 'y' }, site: 'south' }, tags: ['qc', 'motion'] },
  { label: 'gamma', info: { snr: 5.5, a: { b: 'x' } } },
  { label: 'delta', info: { snr: -1, flag: true }, tags: ['motion'] },
  { label: '007', info: { snr: 7, code: '007' } },
  { label: 'a,b', info: { note: 'has, a comma' } },
  { label: 'Zulu', info: { snr: 'n/a' } },
];

beforeAll(async () => {
  s = await startTestServer();
  h = await makeHierarchy(s.admin, 'lst');
  for (let i = 0; i < BIG; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, BIG - i) }, (_, j) =>
        s.admin.post('/acquisitions', { session: h.session, label: `big-${String(i + j).padStart(3, '0')}`, info: { n: i + j } }),
      ),
    ).then((rs) => {
      for (const r of rs) ok(r);
    });
  }
  small = ok(await s.admin.post('/sessions', { project: h.project, subject: { _id: h.subject }, label: 'small' }))._id;
  // One after the other, so `created` increases with the order above.
  for (const spec of SMALL) ok(await s.admin.post('/acquisitions', { session: small, ...spec }));
});
afterAll(async () => {
  await s?.stop();
});

const list = async (query: string) => {
  const r = await s.admin.get(`/sessions/${small}/acquisitions${query}`);
  if (r.status !== 200) throw new Error(`${query}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as any[];
};
const labels = async (query: string) => (await list(query)).map((a) => a.label);
const q = (filter: string, extra = '') => `?filter=${encodeURIComponent(filter)}${extra}`;
const sorted = (xs: string[]) => [...xs].sort();

describe('list filters', () => {
  it('compares labels with =, !=, <, >, <=, >= and regex', async () => {
    expect(await labels(q('label=beta'))).toEqual(['beta']);
    expect(sorted(await labels(q('label!=beta')))).toEqual(sorted(SMALL.map((x) => x.label).filter((l) => l !== 'beta')));
    // Text comparisons are on code points: digits < upper case < lower case.
    expect(sorted(await labels(q('label<alpha')))).toEqual(['007', 'Zulu', 'a,b']);
    expect(sorted(await labels(q('label<=alpha')))).toEqual(['007', 'Zulu', 'a,b', 'alpha']);
    expect(sorted(await labels(q('label>delta')))).toEqual(['gamma']);
    expect(sorted(await labels(q('label>=delta')))).toEqual(['delta', 'gamma']);
    expect(sorted(await labels(q('label=~^[a-d]')))).toEqual(['a,b', 'alpha', 'beta', 'delta']);
    expect(sorted(await labels(q('label=~ta$')))).toEqual(['beta', 'delta']);
    expect(await labels(q('label=~^Z'))).toEqual(['Zulu']);
  });

  it('ANDs comma-separated terms and reads quoted, escaped and numeric-looking values', async () => {
    expect(await labels(q('label=~a,info.snr>4'))).toEqual(['beta', 'gamma']);
    expect(await labels(q('label=~a,info.snr>4,tags=motion'))).toEqual(['beta']);
    // "007" stays a string; 007 unquoted still matches a text label.
    expect(await labels(q('label="007"'))).toEqual(['007']);
    expect(await labels(q('label=007'))).toEqual(['007']);
    expect(await labels(q("label='007'"))).toEqual(['007']);
    expect(await labels(q('info.code="007"'))).toEqual(['007']);
    // A comma inside a value is escaped.
    expect(await labels(q('label=a\\,b'))).toEqual(['a,b']);
    expect(await labels(q('info.note=has\\, a comma'))).toEqual(['a,b']);
  });

  it('reaches into info with dotted keys, numbers and booleans', async () => {
    expect(sorted(await labels(q('info.snr>5')))).toEqual(['007', 'beta', 'gamma']);
    expect(sorted(await labels(q('info.snr>=5.5')))).toEqual(['007', 'beta', 'gamma']);
    expect(sorted(await labels(q('info.snr<5')))).toEqual(['alpha', 'delta']);
    expect(sorted(await labels(q('info.snr<=-1')))).toEqual(['delta']);
    expect(await labels(q('info.snr=10'))).toEqual(['beta']);
    expect(await labels(q('info.snr=n/a'))).toEqual(['Zulu']);
    expect(sorted(await labels(q('info.a.b=x')))).toEqual(['alpha', 'gamma']);
    // != also matches where the key is absent, as in Flywheel.
    expect(sorted(await labels(q('info.a.b!=x,info.snr>0')))).toEqual(['007', 'beta']);
    expect(await labels(q('info.flag=true'))).toEqual(['delta']);
    expect(sorted(await labels(q('info.site=~^(north|south)$')))).toEqual(['alpha', 'beta']);
    expect(await labels(q('info.nothing=1'))).toEqual([]);
  });

  it('filters on tags, created, null and _id', async () => {
    expect(sorted(await labels(q('tags=qc')))).toEqual(['alpha', 'beta']);
    expect(sorted(await labels(q('tags=motion')))).toEqual(['beta', 'delta']);
    expect(await labels(q('tags=nope'))).toEqual([]);
    const all = await list('');
    const third = all.find((a) => a.label === 'gamma');
    expect(await labels(q('created>2000-01-01'))).toHaveLength(SMALL.length);
    expect(await labels(q('created<2000-01-01'))).toEqual([]);
    expect(await labels(q('created>2999-12-31T00:00:00Z'))).toEqual([]);
    const after = await labels(q(`created>${third.created}`));
    expect(after.length).toBeLessThan(SMALL.length);
    expect(after).not.toContain('alpha');
    // The same instant written in another zone or without milliseconds selects the same rows.
    const t = new Date(third.created);
    const plusTwo = new Date(t.getTime() + 2 * 3600_000).toISOString().replace(/\.\d+Z$/, '+02:00');
    const atSecond = Math.floor(t.getTime() / 1000) * 1000;
    expect(await labels(q(`created>=${plusTwo}`))).toEqual(await labels(q(`created>=${new Date(atSecond).toISOString()}`)));
    expect(await labels(q(`created<=${third.created.replace('Z', '+00:00')}`))).toContain('gamma');
    expect(await labels(q(`created>${third.created.replace('Z', '')}`))).toEqual(after);
    const badDate = await s.admin.get(`/sessions/${small}/acquisitions${q('created>2024-13-45')}`);
    expect(badDate.status).toBe(400);
    expect(badDate.body.message).toContain('2024-13-45');
    expect(await labels(q('uid=null'))).toHaveLength(SMALL.length);
    expect(await labels(q(`_id=${third._id}`))).toEqual(['gamma']);
    expect(await labels(q(`parents.session=${small},label=beta`))).toEqual(['beta']);
  });
});

describe('sort, limit, skip, page', () => {
  it('sorts by one or several keys in either direction', async () => {
    expect(await labels('?sort=label:desc')).toEqual(['gamma', 'delta', 'beta', 'alpha', 'a,b', 'Zulu', '007']);
    expect(await labels('?sort=label')).toEqual(['007', 'Zulu', 'a,b', 'alpha', 'beta', 'delta', 'gamma']);
    expect(await labels('?sort=label:-1')).toEqual(await labels('?sort=label:desc'));
    // Numbers in info sort as numbers, not as text ("10" after "5.5"); absent values come first ascending.
    const byNumber = await labels(`${q('info.snr>-100')}&sort=info.snr:asc`);
    expect(byNumber).toEqual(['delta', 'alpha', 'gamma', '007', 'beta']);
    expect(await labels(`${q('info.snr>-100')}&sort=info.snr:desc`)).toEqual(['beta', '007', 'gamma', 'alpha', 'delta']);
    // Two keys: info.a.b first, label breaks ties.
    const two = await labels(`${q('info.a.b=~.')}&sort=info.a.b:desc,label:desc`);
    expect(two).toEqual(['beta', 'gamma', 'alpha']);
    const created = (await list('?sort=created:desc')).map((a) => a.created);
    expect(created).toEqual([...created].sort().reverse());
  });

  it('puts absent values first ascending and last descending, on either database', async () => {
    const all = await list('');
    const id = (l: string) => all.find((a) => a.label === l)._id;
    ok(await s.admin.put(`/acquisitions/${id('beta')}`, { uid: '2.2' }));
    ok(await s.admin.put(`/acquisitions/${id('alpha')}`, { uid: '1.1' }));
    const asc = await labels('?sort=uid');
    expect(asc.slice(-2)).toEqual(['alpha', 'beta']);
    const desc = await labels('?sort=uid:desc');
    expect(desc.slice(0, 2)).toEqual(['beta', 'alpha']);
    // Info values: missing, then numbers, then strings.
    const mixed = await labels('?sort=info.snr');
    expect(mixed.slice(0, 1)).toEqual(['a,b']);
    expect(mixed.slice(1)).toEqual(['delta', 'alpha', 'gamma', '007', 'beta', 'Zulu']);
  });

  it('limits, skips and pages', async () => {
    const all = await labels('?sort=label');
    expect(await labels('?sort=label&limit=3')).toEqual(all.slice(0, 3));
    expect(await labels('?sort=label&skip=2&limit=3')).toEqual(all.slice(2, 5));
    expect(await labels('?sort=label&skip=5')).toEqual(all.slice(5));
    expect(await labels('?sort=label&limit=3&page=2')).toEqual(all.slice(3, 6));
    expect(await labels('?sort=label&limit=3&page=3')).toEqual(all.slice(6));
    expect(await labels('?sort=label&limit=3&page=4')).toEqual([]);
    expect(await labels('?limit=0')).toEqual([]);
    for (const bad of [
      '?page=2',
      '?page=1&skip=1&limit=2',
      '?after_id=&sort=label',
      '?after_id=&skip=1',
      '?limit=-1',
      '?skip=x',
      '?page=0&limit=1',
    ]) {
      const r = await s.admin.get(`/sessions/${small}/acquisitions${bad}`);
      expect(r.status, bad).toBe(400);
      expect(typeof r.body.message, bad).toBe('string');
    }
    expect((await s.admin.get(`/sessions/${small}/acquisitions?page=2`)).body.message).toContain('limit');
  });
});

describe('paging a large listing', () => {
  it('iterates 600 items with limit=250 and after_id exactly as the SDK does', async () => {
    const seen = new Map<string, number>();
    let afterId = '';
    let requests = 0;
    for (;;) {
      const r = await s.admin.get(`/sessions/${h.session}/acquisitions?limit=250&after_id=${afterId}`);
      requests++;
      expect(r.status).toBe(200);
      const page = r.body as any[];
      if (!page.length) break;
      expect(page.length).toBeLessThanOrEqual(250);
      for (const a of page) seen.set(a._id, (seen.get(a._id) ?? 0) + 1);
      afterId = page[page.length - 1]._id;
      expect(requests).toBeLessThan(10);
    }
    // Three full or partial pages plus the empty one that ends the loop.
    expect(requests).toBe(4);
    expect(seen.size).toBe(BIG + 1);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    // The same over the top-level listing with a filter.
    const ids: string[] = [];
    afterId = '';
    for (;;) {
      const page = ok(
        await s.admin.get(`/acquisitions?filter=${encodeURIComponent('label=~^big-')}&limit=250&after_id=${afterId}`),
      ) as any[];
      if (!page.length) break;
      ids.push(...page.map((a) => a._id));
      afterId = ids[ids.length - 1]!;
    }
    expect(ids.length).toBe(BIG);
    expect(new Set(ids).size).toBe(BIG);
    expect([...ids].sort()).toEqual(ids);
  });

  it('wraps results in {results, total, count} with X-Accept-Feature: pagination', async () => {
    const r = await s.admin.get(`/sessions/${h.session}/acquisitions?limit=100&skip=550`, { 'X-Accept-Feature': 'pagination' });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['count', 'results', 'total']);
    expect(r.body.total).toBe(BIG + 1);
    expect(r.body.count).toBe(51);
    expect(r.body.results).toHaveLength(51);
    const filtered = (
      await s.admin.get(`/sessions/${h.session}/acquisitions${q('info.n>=590')}&limit=5`, {
        'X-Accept-Feature': 'Subject-Container, pagination',
      })
    ).body;
    expect(filtered).toMatchObject({ total: 10, count: 5 });
    // Group and analysis listings speak the same envelope.
    expect((await s.admin.get('/groups', { 'X-Accept-Feature': 'pagination' })).body).toMatchObject({ total: 1, count: 1 });
    expect((await s.admin.get(`/sessions/${h.session}/analyses`, { 'X-Accept-Feature': 'pagination' })).body).toEqual({
      results: [],
      total: 0,
      count: 0,
    });
    // Without the header: a bare array.
    expect(Array.isArray((await s.admin.get('/groups')).body)).toBe(true);
  });

  it('leaves info out of list projections and keeps it in single GETs', async () => {
    const listed = (await list(q('label=alpha')))[0];
    expect(listed.info).toBeUndefined();
    expect(listed.info_exists).toBe(true);
    const full = ok(await s.admin.get(`/acquisitions/${listed._id}`));
    expect(full.info).toEqual(SMALL[0]!.info);
    for (const path of [
      '/acquisitions?limit=5',
      `/projects/${h.project}/sessions`,
      '/projects',
      '/groups',
      `/projects/${h.project}/subjects`,
    ]) {
      for (const item of ok(await s.admin.get(path)) as any[]) expect(item.info, path).toBeUndefined();
    }
  });
});

describe('bad filters and sorts', () => {
  it('answers 400 naming the offending term', async () => {
    const cases: [string, string][] = [
      ['?filter=label~x', 'label~x'],
      ['?filter=labelx', 'labelx'],
      [`?filter=${encodeURIComponent('label=a,bogus=1')}`, 'bogus'],
      [`?filter=${encodeURIComponent('info=1')}`, 'info'],
      [`?filter=${encodeURIComponent('label=~(unclosed')}`, 'label=~(unclosed'],
      [`?filter=${encodeURIComponent('label=~[z-a]')}`, 'label=~[z-a]'],
      [`?filter=${encodeURIComponent('tags>x')}`, 'tags'],
      [`?filter=${encodeURIComponent('info.snr<null')}`, 'info.snr<null'],
      [`?filter=${encodeURIComponent('=x')}`, '=x'],
      [`?filter=${encodeURIComponent('la bel=x')}`, 'la bel'],
      ['?sort=bogus:asc', 'bogus'],
      ['?sort=label:sideways', 'sideways'],
      ['?sort=info', 'info'],
    ];
    for (const [query, named] of cases) {
      const r = await s.admin.get(`/sessions/${small}/acquisitions${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.status, query).toBe(400);
      expect(r.body.message, query).toContain(named);
    }
  });
});

describe('fields projection', () => {
  it('sends only the keys asked for, files reduced to the named keys; without it the documents are whole', async () => {
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'x' }]));
    const full = (ok(await s.admin.get(`/sessions/${h.session}/acquisitions?filter=label=T1w`)) as any[])[0];
    expect(full).toMatchObject({ label: 'T1w', session: h.session, parents: expect.any(Object), tags: [], notes: [] });
    expect(full.files[0]).toMatchObject({ name: 'scan.nii.gz', hash: expect.any(String), origin: expect.any(Object) });

    const slim = (
      ok(
        await s.admin.get(
          `/sessions/${h.session}/acquisitions?filter=label=T1w&fields=${encodeURIComponent('label,timestamp,files.name,files.size')}`,
        ),
      ) as any[]
    )[0];
    expect(slim).toEqual({ _id: full._id, label: 'T1w', timestamp: full.timestamp, files: [{ name: 'scan.nii.gz', size: 1 }] });

    // No files key: no files at all; sessions' subject still comes when asked for.
    const sessions = ok(await s.admin.get(`/projects/${h.project}/sessions?fields=label,subject`)) as any[];
    const ses = sessions.find((x) => x._id === h.session);
    expect(ses).toEqual({ _id: h.session, label: 'ses-01', subject: { _id: h.subject, label: 'sub-01', code: 'sub-01' } });
    // With the envelope and paging too.
    const page = ok(await s.admin.get(`/projects/${h.project}/sessions?fields=label&limit=1`, { 'X-Accept-Feature': 'pagination' })) as any;
    expect(page.results).toEqual([{ _id: expect.any(String), label: expect.any(String) }]);
  });

  it('answers 400 naming a malformed field', async () => {
    for (const bad of ['', 'label,info.snr', 'files.a.b', 'la bel']) {
      const r = await s.admin.get(`/sessions/${small}/acquisitions?fields=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.message, bad).toContain('fields');
    }
  });
});

describe('sessions by subject label', () => {
  it("sorts and filters a project's sessions on subject.label, pages them, and leaves other listings as they were", async () => {
    const g = await makeHierarchy(s.admin, 'bysubj');
    // Subjects created in the reverse of their labels' order, so id order and label order differ.
    for (const [subject, session] of [
      ['sub-c', 'ses-2'],
      ['sub-b', 'ses-1'],
      ['sub-c', 'ses-1'],
      ['sub-a', 'ses-9'],
    ]) {
      ok(await s.admin.post('/sessions', { project: g.project, subject: { label: subject }, label: session }));
    }
    const names = (body: any[]) => body.map((x) => `${x.subject.label}/${x.label}`);
    const sorted = ok(await s.admin.get(`/projects/${g.project}/sessions?sort=subject.label:asc,label:asc&fields=label,subject`)) as any[];
    expect(names(sorted)).toEqual(['sub-01/ses-01', 'sub-a/ses-9', 'sub-b/ses-1', 'sub-c/ses-1', 'sub-c/ses-2']);
    const desc = ok(await s.admin.get(`/projects/${g.project}/sessions?sort=subject.label:desc,label:desc&fields=label,subject`)) as any[];
    expect(names(desc)).toEqual(['sub-c/ses-2', 'sub-c/ses-1', 'sub-b/ses-1', 'sub-a/ses-9', 'sub-01/ses-01']);
    const page = ok(
      await s.admin.get(`/projects/${g.project}/sessions?sort=subject.label,label&limit=2&fields=label,subject`, {
        'X-Accept-Feature': 'pagination',
      }),
    ) as any;
    expect(page.total).toBe(5);
    expect(names(page.results)).toEqual(['sub-01/ses-01', 'sub-a/ses-9']);
    const filtered = ok(await s.admin.get(`/projects/${g.project}/sessions?filter=subject.code=sub-c&sort=label`)) as any[];
    expect(names(filtered)).toEqual(['sub-c/ses-1', 'sub-c/ses-2']);
    // Whole documents still, as without the join.
    const plain = (ok(await s.admin.get(`/projects/${g.project}/sessions`)) as any[]).find((x) => x._id === filtered[0]._id);
    expect(filtered[0]).toEqual(plain);
  });
});
