import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/**
 * Data views that read inside files (`fileSpec.processFiles`), select analysis outputs
 * (`fileSpec.analysisFilter`), give exactly the columns asked for, and are updated field by field
 * (`PUT /views/{id}`), with bodies shaped as the Python SDK's ViewBuilder writes them.
 */

let s: TestServer;
let project: string;
const acqs: { id: string; subject: string }[] = [];
const analyses: string[] = [];

const metricsCsv = (i: number) =>
  // Quoted fields with the delimiter, a doubled quote and a line break; a bad number; an empty cell; CRLF.
  `region,volume,ok,note\r\nhippocampus,${3000 + i},true,"left, ""anterior"""\r\namygdala,not-a-number,no,\r\nthalamus,${7000.5 + i},1,"two\nlines"\r\n`;

beforeAll(async () => {
  s = await startTestServer();
  const api = s.admin;
  ok(await api.post('/groups', { _id: 'vfiles', label: 'View files' }));
  project = ok(await api.post('/projects', { group: 'vfiles', label: 'Metrics' }))._id;
  for (const [i, sub] of ['sub-01', 'sub-02'].entries()) {
    const ses = ok(await api.post('/sessions', { project, label: 'ses-1', subject: { label: sub } }))._id;
    const acq = ok(await api.post('/acquisitions', { session: ses, label: 'T1w' }))._id;
    acqs.push({ id: acq, subject: sub });
    ok(
      await api.upload(`/acquisitions/${acq}/files`, [{ name: 'metrics.csv', content: metricsCsv(i) }], {
        type: 'tabular data',
        info: { site: `S${i}` },
      }),
    );
    ok(await api.upload(`/acquisitions/${acq}/files`, [{ name: 'metrics.tsv', content: `region\tvolume\nputamen\t${5000 + i}\n` }]));
    ok(await api.upload(`/acquisitions/${acq}/files`, [{ name: 'scan.nii.gz', content: 'not a table' }]));
    const json = JSON.stringify([
      { roi: 'a', stats: { mean: 1.5 + i, n: 10 } },
      { roi: 'b', stats: { mean: 2.5, n: 'x' } },
    ]);
    ok(await api.upload(`/acquisitions/${acq}/files`, [{ name: 'rois.json.gz', content: new Blob([gzipSync(json)]) }]));
    // Two analyses per acquisition, each with an output table: the filter picks one.
    for (const label of ['freesurfer run', 'qa run']) {
      const a = ok(await api.post(`/acquisitions/${acq}/analyses`, { label }))._id;
      analyses.push(a);
      ok(
        await api.upload(`/acquisitions/${acq}/analyses/${a}/files`, [
          { name: 'out.csv', content: `metric,value\n${label.split(' ')[0]},${10 + i}\n` },
        ]),
      );
    }
  }
});
afterAll(async () => {
  await s?.stop();
});

const run = (view: unknown, query = '') => s.admin.request('POST', `/views/data?containerId=${project}${query}`, view);

describe('processFiles: rows from inside files', () => {
  it('reads every CSV record, typed by fileSpec.columns; bad values become null; columns in the order asked', async () => {
    const view = {
      columns: [{ src: 'subject.label', dst: 'subject' }, { src: 'file.info.site' }],
      fileSpec: {
        container: 'acquisition',
        filter: { value: 'metrics.csv' },
        processFiles: true,
        columns: [{ src: 'volume', type: 'float' }, { src: 'region' }, { src: 'ok', type: 'bool' }, { src: 'note', dst: 'comment' }],
      },
      includeIds: false,
      includeLabels: false,
    };
    const r = await run(view);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toEqual([
      { subject: 'sub-01', 'file.info.site': 'S0', volume: 3000, region: 'hippocampus', ok: true, comment: 'left, "anterior"' },
      { subject: 'sub-01', 'file.info.site': 'S0', volume: null, region: 'amygdala', ok: false, comment: null },
      { subject: 'sub-01', 'file.info.site': 'S0', volume: 7000.5, region: 'thalamus', ok: true, comment: 'two\nlines' },
      { subject: 'sub-02', 'file.info.site': 'S1', volume: 3001, region: 'hippocampus', ok: true, comment: 'left, "anterior"' },
      { subject: 'sub-02', 'file.info.site': 'S1', volume: null, region: 'amygdala', ok: false, comment: null },
      { subject: 'sub-02', 'file.info.site': 'S1', volume: 7001.5, region: 'thalamus', ok: true, comment: 'two\nlines' },
    ]);
    // Object key order is the column order: CSV headers follow it too.
    expect(Object.keys(r.body.data[0])).toEqual(['subject', 'file.info.site', 'volume', 'region', 'ok', 'comment']);
    const csv = await run(view, '&format=csv');
    expect((csv.body as string).split('\n')[0]).toBe('subject,file.info.site,volume,region,ok,comment');
    expect((csv.body as string).split('\n')[1]).toBe('sub-01,S0,3000,hippocampus,true,"left, ""anterior"""');

    // drop-row leaves out records with a missing (or unconvertible) value; the row filter applies to file columns.
    const dropped = await run({ ...view, missingDataStrategy: 'drop-row' });
    expect(dropped.body.data.map((x: any) => x.region)).toEqual(['hippocampus', 'thalamus', 'hippocampus', 'thalamus']);
    const filtered = await run(view, `&filter=${encodeURIComponent('volume>5000')}`);
    expect(filtered.body.data.map((x: any) => `${x.subject}/${x.region}`)).toEqual(['sub-01/thalamus', 'sub-02/thalamus']);
    const rc = await run(view, '&format=json-row-column&limit=1');
    expect(rc.body).toEqual({
      columns: ['subject', 'file.info.site', 'volume', 'region', 'ok', 'comment'].map((name) => ({ name })),
      rows: [['sub-01', 'S0', 3000, 'hippocampus', true, 'left, "anterior"']],
    });
  });

  it('takes every field when no file columns are given: TSV as text, gzip-compressed JSON arrays with nested objects flattened', async () => {
    const tsv = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: '*.tsv' }, processFiles: true },
      includeIds: false,
      includeLabels: false,
    });
    expect(tsv.body.data).toEqual([
      { region: 'putamen', volume: '5000' },
      { region: 'putamen', volume: '5001' },
    ]);
    const json = await run({
      columns: [{ src: 'subject.label' }],
      fileSpec: { container: 'acquisition', filter: { value: 'rois.json*' }, processFiles: true },
      includeIds: false,
      includeLabels: false,
    });
    expect(json.body.data[0]).toEqual({ 'subject.label': 'sub-01', roi: 'a', 'stats.mean': 1.5, 'stats.n': 10 });
    expect(json.body.data).toHaveLength(4);
    // Typed dotted paths reach into nested records; 'x' is no int.
    const typed = await run({
      columns: [],
      fileSpec: {
        container: 'acquisition',
        filter: { value: 'rois.json.gz' },
        processFiles: true,
        columns: [{ src: 'stats.n', dst: 'n', type: 'int' }],
      },
      includeIds: false,
      includeLabels: false,
    });
    expect(typed.body.data).toEqual([{ n: 10 }, { n: null }, { n: 10 }, { n: null }]);
  });

  it('runs a body exactly as the Python SDK ViewBuilder writes it (ids and labels included by default)', async () => {
    // ViewBuilder(columns=['subject.label']).files('acquisition', 'metrics.tsv').file_column('volume', type='int').build()
    const body = {
      columns: [{ src: 'subject.label' }],
      fileSpec: {
        container: 'acquisition',
        filter: { value: 'metrics.tsv' },
        formatOptions: {},
        processFiles: true,
        columns: [{ src: 'volume', type: 'int' }],
      },
      includeIds: true,
      includeLabels: true,
      sort: true,
    };
    const r = await run(body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Object.keys(r.body.data[0])).toEqual([
      'project.label',
      'project.id',
      'subject.id',
      'session.label',
      'session.id',
      'acquisition.label',
      'acquisition.id',
      'file.name',
      'subject.label',
      'volume',
    ]);
    expect(r.body.data.map((x: any) => [x['subject.label'], x.volume, x['acquisition.id'], x['file.name']])).toEqual([
      ['sub-01', 5000, acqs[0]!.id, 'metrics.tsv'],
      ['sub-02', 5001, acqs[1]!.id, 'metrics.tsv'],
    ]);
  });

  it('refuses what it cannot read, naming the file or field', async () => {
    const nifti = await run({ columns: [], fileSpec: { container: 'acquisition', filter: { value: '*.nii.gz' }, processFiles: true } });
    expect(nifti.status).toBe(400);
    expect(nifti.body.message).toMatch(/^fileSpec: file 'scan\.nii\.gz' on acquisition 'T1w' \([0-9a-f]{24}\): processFiles reads CSV/);
    const asJson = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: 'metrics.csv' }, processFiles: true, format: 'json' },
    });
    expect(asJson.status).toBe(400);
    expect(asJson.body.message).toMatch(/^fileSpec: file 'metrics\.csv' on acquisition 'T1w' .*: not valid JSON/);
    const cols = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: '*.csv' }, columns: [{ src: 'volume' }] },
    });
    expect(cols.status).toBe(400);
    expect(cols.body.message).toContain(
      'fileSpec.columns: file columns are read from inside files, which needs fileSpec.processFiles: true',
    );
    const expr = await run({ columns: [{ src: 'subject.label', expr: 'x*2' }] });
    expect(expr.body.message).toContain('columns[0].expr: column expressions are not supported');
    const zip = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: '*.zip' }, zipMember: { value: '*.csv' } },
    });
    expect(zip.body.message).toContain('fileSpec.zipMember');
    const semicolons = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: 'metrics.tsv' }, processFiles: true, formatOptions: { delimiter: ';' } },
      includeIds: false,
      includeLabels: false,
    });
    expect(semicolons.body.data[0]).toEqual({ 'region\tvolume': 'putamen\t5000' });
    const quote = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: '*.csv' }, processFiles: true, formatOptions: { delimiter: '"' } },
    });
    expect(quote.status).toBe(400);
    expect(quote.body.message).toMatch(/fileSpec\.formatOptions\.delimiter/);
    const type = await run({
      columns: [],
      fileSpec: { container: 'acquisition', filter: { value: '*.csv' }, processFiles: true, columns: [{ src: 'v', type: 'double' }] },
    });
    expect(type.status).toBe(400);
    expect(type.body.message).toMatch(/fileSpec\.columns(\[0\]|\.0)\.type/);
  });
});

describe('analysisFilter: files of analyses under each container', () => {
  it('selects analyses by label (glob or regex) and reads their outputs; analysis columns come along', async () => {
    const view = (analysisFilter: unknown) => ({
      columns: [{ src: 'subject.label' }, { src: 'analysis.label' }],
      fileSpec: {
        container: 'acquisition',
        analysisFilter,
        filter: { value: '*.csv' },
        processFiles: true,
        columns: [{ src: 'metric' }, { src: 'value', type: 'int' }],
      },
      includeIds: false,
      includeLabels: false,
    });
    const byGlob = await run(view({ label: { value: 'qa*' } }));
    expect(byGlob.status, JSON.stringify(byGlob.body)).toBe(200);
    expect(byGlob.body.data).toEqual([
      { 'subject.label': 'sub-01', 'analysis.label': 'qa run', metric: 'qa', value: 10 },
      { 'subject.label': 'sub-02', 'analysis.label': 'qa run', metric: 'qa', value: 11 },
    ]);
    const byRegex = await run(view({ label: { value: '^(free|qa)', regex: true } }));
    expect(byRegex.body.data.map((x: any) => `${x['subject.label']}:${x.metric}`)).toEqual([
      'sub-01:freesurfer',
      'sub-01:qa',
      'sub-02:freesurfer',
      'sub-02:qa',
    ]);
    // Analyses made by hand have no gear: a gear filter matches none of them.
    const byGear = await run(view({ 'gear.name': { value: 'nifti-qa' } }));
    expect(byGear.body.data).toEqual([]);
    // Default columns gain the analysis label and id.
    const defaults = await run({
      columns: [],
      fileSpec: { container: 'acquisition', analysisFilter: { label: { value: 'qa run' } }, filter: { value: 'out.csv' } },
    });
    expect(defaults.body.data[0]['analysis.id']).toBe(analyses[1]);
    expect(Object.keys(defaults.body.data[0])).toContain('analysis.label');
    const bad = await run(view({ label: { value: '(?=x)', regex: true } }));
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^fileSpec\.analysisFilter\.label\.value: lookahead/);
    const unknown = await run(view({ gear: { value: 'x' } }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/fileSpec\.analysisFilter\b.*\bgear\b/);
  });
});

describe('PUT /views/{id}', () => {
  it('changes only the fields given, removes fields given as null, and refuses unknown fields or a view left invalid', async () => {
    const saved = {
      label: 'volumes',
      columns: [{ src: 'subject.label' }],
      fileSpec: {
        container: 'acquisition',
        filter: { value: 'metrics.tsv' },
        processFiles: true,
        columns: [{ src: 'volume', type: 'int' }],
      },
      includeIds: false,
      includeLabels: false,
    };
    const id = ok(await s.admin.post(`/containers/${project}/views`, saved))._id;
    expect(ok(await s.admin.put(`/views/${id}`, { label: 'renamed', description: 'putamen volumes' }))).toEqual({ modified: 1 });
    const after = ok(await s.admin.get(`/views/${id}`));
    expect(after).toMatchObject({ ...saved, label: 'renamed', description: 'putamen volumes', _id: id, parent: project });
    expect(ok(await s.admin.get(`/containers/${project}/views`)).map((v: any) => v.label)).toEqual(['renamed']);
    ok(await s.admin.put(`/views/${id}`, { includeLabels: true }));
    const rows = ok(await s.admin.get(`/views/${id}/data?containerId=${project}`)).data;
    expect(rows[0]).toEqual({
      'project.label': 'Metrics',
      'session.label': 'ses-1',
      'acquisition.label': 'T1w',
      'file.name': 'metrics.tsv',
      'subject.label': 'sub-01',
      volume: 5000,
    });

    const unknown = await s.admin.put(`/views/${id}`, { label: 'x', colums: [] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/\bcolums\b/);
    const invalid = await s.admin.put(`/views/${id}`, { columns: [{ src: 'file.name' }], fileSpec: null });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toContain("columns[0].src 'file.name': file columns need a fileSpec");
    // Refused updates changed nothing.
    expect(ok(await s.admin.get(`/views/${id}`)).label).toBe('renamed');

    ok(await s.admin.put(`/views/${id}`, { fileSpec: null, columns: [{ src: 'session.label' }], includeLabels: false }));
    expect(ok(await s.admin.get(`/views/${id}`)).fileSpec).toBeUndefined();
    expect(ok(await s.admin.get(`/views/${id}/data?containerId=${project}`)).data).toEqual([
      { 'session.label': 'ses-1' },
      { 'session.label': 'ses-1' },
    ]);

    const missing = await s.admin.put('/views/0123456789abcdef01234567', { label: 'x' });
    expect(missing.status).toBe(404);
  });
});

describe('bounds', () => {
  let small: TestServer;
  let pid: string;
  beforeAll(async () => {
    small = await startTestServer({ env: { SPROCKET_VIEW_MAX_FILE_BYTES: '200', SPROCKET_VIEW_MAX_ROWS: '5' } });
    ok(await small.admin.post('/groups', { _id: 'bounds', label: 'Bounds' }));
    pid = ok(await small.admin.post('/projects', { group: 'bounds', label: 'B' }))._id;
    const ses = ok(await small.admin.post('/sessions', { project: pid, label: 'ses', subject: { label: 'sub' } }))._id;
    const acq = ok(await small.admin.post('/acquisitions', { session: ses, label: 'acq' }))._id;
    const rows = (n: number) => `a\n${Array.from({ length: n }, (_, i) => i).join('\n')}\n`;
    ok(await small.admin.upload(`/acquisitions/${acq}/files`, [{ name: 'four.csv', content: rows(4) }]));
    ok(await small.admin.upload(`/acquisitions/${acq}/files`, [{ name: 'three.csv', content: rows(3) }]));
    ok(await small.admin.upload(`/acquisitions/${acq}/files`, [{ name: 'big.csv', content: rows(100) }]));
    // 180 bytes compressed, far more inflated: the bound applies to what is read.
    ok(
      await small.admin.upload(`/acquisitions/${acq}/files`, [
        { name: 'bomb.csv.gz', content: new Blob([gzipSync(`a\n${'1\n'.repeat(5000)}`)]) },
      ]),
    );
  });
  afterAll(async () => {
    await small?.stop();
  });

  const view = (glob: string) => ({
    columns: [],
    fileSpec: { container: 'acquisition', filter: { value: glob }, processFiles: true },
    includeIds: false,
    includeLabels: false,
  });

  it('refuses a file over the size bound and a view over the record bound with 413 naming the file, in every format', async () => {
    const big = await small.admin.request('POST', `/views/data?containerId=${pid}`, view('big.csv'));
    expect(big.status).toBe(413);
    expect(big.body.message).toMatch(
      /^fileSpec: file 'big\.csv' on acquisition 'acq' .*: 292 bytes; processFiles reads files up to 200 bytes/,
    );
    const bomb = await small.admin.request('POST', `/views/data?containerId=${pid}&format=csv`, view('bomb.csv.gz'));
    expect(bomb.status).toBe(413);
    expect(bomb.body.message).toMatch(/^fileSpec: file 'bomb\.csv\.gz' .*: more than 200 bytes to read/);
    const within = await small.admin.request('POST', `/views/data?containerId=${pid}`, view('four.csv'));
    expect(within.body.data).toHaveLength(4);
    const over = await small.admin.request('POST', `/views/data?containerId=${pid}`, view('*r*.csv'));
    expect(over.status).toBe(413);
    expect(over.body.message).toMatch(/^fileSpec: the view reads more than 5 records \(reached in file 'three\.csv' on acquisition 'acq'/);
  });
});
