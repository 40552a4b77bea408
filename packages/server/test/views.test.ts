import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
let project: string;
const acqs: string[] = [];

beforeAll(async () => {
  s = await startTestServer();
  const api = s.admin;
  await api.post('/groups', { _id: 'views', label: 'Views' });
  project = (await api.post('/projects', { group: 'views', label: 'QA' })).body._id;
  for (const [i, sub] of ['sub-01', 'sub-02'].entries()) {
    const ses = (await api.post('/sessions', { project, label: `ses-${i}`, subject: { label: sub } })).body._id;
    const acq = (await api.post('/acquisitions', { session: ses, label: 'T1w' })).body._id;
    acqs.push(acq);
    const r = await api.upload(`/acquisitions/${acq}/files`, [{ name: `T1w_${i}_qa.json`, content: '{}' }], {
      type: 'qa',
      info: { snr: 10 + i, efc: 0.5, bids_meta: { EchoTime: 0.02 + i / 100, Manufacturer: 'GE' } },
    });
    expect(r.status).toBe(200);
    await api.upload(`/acquisitions/${acq}/files`, [{ name: `T1w_${i}.nii.gz`, content: 'nifti' }]);
  }
});
afterAll(async () => {
  await s?.stop();
});

const qaView = {
  columns: [{ src: 'file.info.snr', dst: 'snr', type: 'float' }, { src: 'file.info.bids_meta' }],
  fileSpec: { container: 'acquisition', filter: { value: '*_qa.json' } },
  includeIds: false,
};

describe('data views', () => {
  it('builds a QA table with one row per matching file, nested objects flattened, as CSV', async () => {
    const r = await s.admin.request('POST', `/views/data?containerId=${project}&format=csv`, qaView);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/csv');
    const lines = (r.body as string).trim().split('\n');
    expect(lines[0]).toBe(
      'project.label,subject.label,session.label,acquisition.label,file.name,snr,file.info.bids_meta.EchoTime,file.info.bids_meta.Manufacturer',
    );
    expect(lines.slice(1)).toEqual(['QA,sub-01,ses-0,T1w,T1w_0_qa.json,10,0.02,GE', 'QA,sub-02,ses-1,T1w,T1w_1_qa.json,11,0.03,GE']);
  });

  it('answers JSON and TSV, filters rows, pages with skip/limit', async () => {
    const json = await s.admin.request('POST', `/views/data?containerId=${project}`, qaView);
    expect(json.body.data).toHaveLength(2);
    expect(json.body.data[1]).toMatchObject({ 'subject.label': 'sub-02', snr: 11, 'file.info.bids_meta.EchoTime': 0.03 });
    const filtered = await s.admin.request('POST', `/views/data?containerId=${project}&filter=snr>10.5`, qaView);
    expect(filtered.body.data.map((r: any) => r['subject.label'])).toEqual(['sub-02']);
    const paged = await s.admin.request('POST', `/views/data?containerId=${project}&skip=1&limit=1`, qaView);
    expect(paged.body.data.map((r: any) => r['subject.label'])).toEqual(['sub-02']);
    const tsv = await s.admin.request('POST', `/views/data?containerId=${project}&format=tsv`, {
      ...qaView,
      columns: [{ src: 'file.type' }],
    });
    expect((tsv.body as string).split('\n')[1]).toBe('QA\tsub-01\tses-0\tT1w\tT1w_0_qa.json\tqa');
    const perSession = await s.admin.request('POST', `/views/data?containerId=${project}`, {
      columns: [{ src: 'session.label' }],
      includeIds: false,
    });
    expect(perSession.body.data).toEqual([
      { 'project.label': 'QA', 'subject.label': 'sub-01', 'session.label': 'ses-0' },
      { 'project.label': 'QA', 'subject.label': 'sub-02', 'session.label': 'ses-1' },
    ]);
  });

  it('saves, lists, runs and deletes views; refuses bad ones with the field named', async () => {
    const id = (await s.admin.post(`/containers/${project}/views`, { label: 'qa table', ...qaView })).body._id;
    expect((await s.admin.get(`/containers/${project}/views`)).body.map((v: any) => v._id)).toEqual([id]);
    const csv = await s.admin.get(`/views/${id}/data?containerId=${project}&format=csv`);
    expect((csv.body as string).trim().split('\n')).toHaveLength(3);
    expect((await s.admin.del(`/views/${id}`)).status).toBe(200);
    expect((await s.admin.get(`/views/${id}`)).status).toBe(404);

    const bad = await s.admin.request('POST', `/views/data?containerId=${project}`, { columns: [{ src: 'file.name' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('columns[0].src');
    const badSrc = await s.admin.request('POST', `/views/data?containerId=${project}`, { columns: [{ src: 'nope.x' }] });
    expect(badSrc.status).toBe(400);
    expect(badSrc.body.message).toMatch(/columns(\[0\]|\.0)\.src/);
  });

  it('hides projects the caller has no role on', async () => {
    await s.admin.post('/users', { _id: 'stranger@x.org', email: 'stranger@x.org' });
    const key = (await s.admin.post('/users/stranger@x.org/key', {})).body.key;
    const r = await s.as(key).request('POST', `/views/data?containerId=${project}`, qaView);
    expect(r.status).toBe(404);
  });

  it('offers the info and classification keys that occur in the project as columns, typed, only to who may run views there', async () => {
    const ses = (await s.admin.get(`/projects/${project}/sessions`)).body[0]._id as string;
    expect(
      (await s.admin.put(`/sessions/${ses}`, { info: { site: 'Leiden', scanner: { field_T: 3, bore: 70.5 }, 'odd key': 1 } })).status,
    ).toBe(200);
    const plain = (await s.admin.get('/views/columns')).body as { name: string }[];
    expect(plain.some((c) => c.name.startsWith('session.info.'))).toBe(false);
    const cols = (await s.admin.get(`/views/columns?containerId=${project}`)).body as { name: string; type: string; description: string }[];
    const byName = new Map(cols.map((c) => [c.name, c]));
    expect(byName.get('session.info.site')).toMatchObject({ type: 'string', description: 'seen in 1 of 1 sampled sessions' });
    expect(byName.get('session.info.scanner.field_T')?.type).toBe('int');
    expect(byName.get('session.info.scanner.bore')?.type).toBe('float');
    expect(byName.get('file.info.snr')).toMatchObject({ type: 'int', description: 'seen in 2 of 2 sampled files' });
    expect(byName.get('file.info.bids_meta.Manufacturer')?.type).toBe('string');
    // A key no view could name (`session.info.odd key`) is not offered; the static aliases stay first.
    expect(cols.some((c) => c.name.includes('odd'))).toBe(false);
    expect(cols.slice(0, plain.length)).toEqual(plain);
    // Each offered key really works as a column.
    const r = await s.admin.request('POST', `/views/data?containerId=${project}`, {
      columns: [{ src: 'session.info.scanner.field_T' }],
      includeIds: false,
    });
    expect(r.body.data.map((row: Record<string, unknown>) => row['session.info.scanner.field_T'])).toContain(3);
    // Someone without a role on the project learns nothing about its keys.
    const key = (await s.admin.post('/users/stranger@x.org/key', {})).body.key;
    expect((await s.as(key).get(`/views/columns?containerId=${project}`)).status).toBe(404);
    expect((await s.admin.get('/views/columns?containerId=0123456789abcdef01234567')).status).toBe(404);
  });
});
