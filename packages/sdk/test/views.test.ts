import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type Client, fileView, ViewBuilder } from '../src/index.js';
import { adminKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
let projectId: string;

beforeAll(async () => {
  s = await startTestServer();
  fw = recordingClient(adminKey(s)).fw;
  const group = await fw.addGroup({ id: uniq('views'), label: 'Views' });
  const project = await group.addProject({ label: 'QA table' });
  projectId = project.id;
  for (const [i, label] of ['sub-01', 'sub-02', 'sub-03'].entries()) {
    const subject = await project.addSubject({ label });
    const session = await subject.addSession({ label: 'ses-1' });
    const acq = await session.addAcquisition({ label: 'T1w' });
    await acq.uploadFile(
      { name: 'T1w_qa.json', data: Buffer.from('{}') },
      { metadata: { type: 'qa', info: { snr: 20 + i, bids_meta: { EchoTime: 0.01 * (i + 1) } } } },
    );
    await acq.uploadFile({ name: 'T1w.nii.gz', data: Buffer.from('not really') });
  }
});
afterAll(async () => {
  await s?.stop();
});

describe('data views through the SDK', () => {
  it('reads QA metrics of every acquisition as rows, and as CSV', async () => {
    const view = fileView(['subject.label', { src: 'file.info.snr', dst: 'snr' }, 'file.info.bids_meta'], 'acquisition', '*_qa.json');
    view.includeIds = false;
    view.includeLabels = false;
    const rows = await fw.readView(view, projectId);
    expect(rows).toEqual([
      { 'subject.label': 'sub-01', snr: 20, 'file.info.bids_meta.EchoTime': 0.01 },
      { 'subject.label': 'sub-02', snr: 21, 'file.info.bids_meta.EchoTime': 0.02 },
      { 'subject.label': 'sub-03', snr: 22, 'file.info.bids_meta.EchoTime': 0.03 },
    ]);
    expect((await fw.readView(view, projectId, { filter: 'snr>=21', limit: 1 })).map((r) => r['subject.label'])).toEqual(['sub-02']);
    const csv = await (await fw.readViewData(view, projectId, 'csv')).text();
    expect(csv.trim().split('\n')).toEqual([
      'subject.label,snr,file.info.bids_meta.EchoTime',
      'sub-01,20,0.01',
      'sub-02,21,0.02',
      'sub-03,22,0.03',
    ]);
  });

  it('saves a view on the project, runs it by id and deletes it', async () => {
    const id = await fw.addView(projectId, { label: 'snr', ...fileView(['file.info.snr'], 'acquisition', '*_qa.json') });
    expect((await fw.getViews(projectId)).map((v) => v._id)).toEqual([id]);
    expect(await fw.readView(id, projectId)).toHaveLength(3);
    await fw.deleteView(id);
    await expect(fw.readView(id, projectId)).rejects.toBeInstanceOf(ApiError);
  });

  it("builds bodies as Flywheel's ViewBuilder does, reads inside files, and updates saved views field by field", async () => {
    const project = await fw.getProject(projectId);
    for await (const session of project.sessions.iter()) {
      for await (const acq of session.acquisitions.iter())
        await acq.uploadFile({ name: 'roi.csv', data: Buffer.from('roi,vol\nhip,4.5\namy,x\n') });
    }
    const builder = new ViewBuilder({ label: 'volumes' })
      .column('subject.label')
      .files('acquisition', 'roi.csv')
      .fileColumn('vol', { type: 'float' })
      .includeIds(false)
      .includeLabels(false);
    const view = builder.build();
    // The Python SDK's DataView JSON for the same steps (None fields left out).
    expect(view).toEqual({
      label: 'volumes',
      columns: [{ src: 'subject.label' }],
      fileSpec: {
        container: 'acquisition',
        filter: { value: 'roi.csv' },
        processFiles: true,
        formatOptions: {},
        columns: [{ src: 'vol', type: 'float' }],
      },
      includeIds: false,
      includeLabels: false,
      sort: true,
    });
    const rows = await fw.readView(view, projectId);
    expect(rows.slice(0, 2)).toEqual([
      { 'subject.label': 'sub-01', vol: 4.5 },
      { 'subject.label': 'sub-01', vol: null },
    ]);
    expect(rows).toHaveLength(6);
    expect(() => new ViewBuilder().fileContainer('acquisition').build()).toThrow(/file container and a file filter/);

    const id = await fw.addView(projectId, view);
    await fw.modifyView(id, { missingDataStrategy: 'drop-row', description: 'no bad volumes' });
    const saved = await fw.getView(id);
    expect(saved).toMatchObject({
      label: 'volumes',
      description: 'no bad volumes',
      missingDataStrategy: 'drop-row',
      fileSpec: view.fileSpec,
    });
    expect((await fw.readView(id, projectId)).map((r) => r.vol)).toEqual([4.5, 4.5, 4.5]);
    const err = await fw.modifyView(id, { columns: [{ src: 'file.name' }], fileSpec: null }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toContain("columns[0].src 'file.name'");
    await fw.deleteView(id);
  });

  it('reports a bad view as an ApiError naming the column', async () => {
    const err = await fw.readView({ columns: [{ src: 'file.name' }] }, projectId).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.message).toContain('columns[0].src');
  });
});
