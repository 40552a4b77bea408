import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipBuffer as zipOf } from '../../../test-fixtures/zip.js';
import type { Client, Job, Session } from '../src/index.js';
import { manifest, packGear } from './gears.js';
import { uniq } from './helpers.js';

/**
 * One pass through (nearly) every SDK call against a real server, for tests that check the
 * requests the SDK makes.
 */
export async function exerciseSdk(fw: Client): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-workload-'));
  try {
    const me = await fw.getCurrentUser();
    await fw.getConfig();
    await fw.getVersion();
    await fw.getAuthStatus();

    const group = await fw.addGroup({ id: uniq('oa'), label: 'OpenAPI' });
    await group.update({ label: 'OpenAPI group', tags: ['a'] });
    await group.addTag('b');
    await group.reload();
    const project = await group.addProject({ label: 'P', description: 'about', info: { a: 1 }, tags: ['x'] });
    const subject = await project.addSubject({ label: 'sub-01', sex: 'male', type: 'human', cohort: 'Study', age: 10, species: 'human' });
    const session = await subject.addSession({ label: 'ses-01', timestamp: '2020-01-01T00:00:00Z', operator: 'op', weight: 70 });
    const other: Session = await project.addSession({ label: 'ses-02', subject: { label: 'sub-02' } });
    await project.addSession({ label: 'ses-03', subject });
    const acq = await session.addAcquisition({ label: 'T1w', uid: '1.2.3', timezone: 'UTC' });

    for (const c of [project, subject, session, acq]) {
      await c.update({ label: `${c.label}-x`, info: { replaced: true } });
      await c.updateInfo({ k: 1, nested: { x: 1 } });
      await c.deleteInfo('nested.x');
      await c.replaceInfo({ fresh: true });
      await c.addTag('t1');
      await c.deleteTag('t1');
      await c.deleteNote(await c.addNote('a note'));
      await c.reload();
    }
    await subject.update({
      firstname: 'A',
      lastname: 'B',
      race: 'Asian',
      ethnicity: 'Not Hispanic or Latino',
      strain: 's',
      master_code: 'm',
    });
    await session.update({ age: 100, timezone: 'UTC', uid: '9.9' });
    await project.update({ description: 'changed' });

    const src = path.join(tmp, 'scan.dicom.zip');
    fs.writeFileSync(src, 'not really a dicom zip');
    const file = await acq.uploadFile(src, {
      metadata: { modality: 'MR', info: { a: 1 }, tags: ['raw'], classification: { Intent: ['Structural'] } },
    });
    await acq.uploadFiles([{ name: 'notes.txt', data: 'hello' }]);
    await file.update({ modality: 'MR', type: 'dicom', tags: ['raw', 'checked'] });
    await file.updateInfo({ b: 2 });
    await file.deleteInfo('b');
    await file.replaceInfo({ c: 3 });
    await file.updateClassification({ Intent: ['Functional'] });
    await file.deleteClassification({ Intent: ['Functional'] });
    await file.replaceClassification({ Measurement: ['T1'] }, { modality: 'MR' });
    await file.reload();
    await file.getVersions();
    await file.read();
    await file.read({ version: 1 });
    await file.download(path.join(tmp, 'copy.zip'));
    await fetch(await file.getDownloadUrl());
    await acq.readFile('notes.txt');
    await acq.deleteFile('notes.txt');
    const zipped = await acq.uploadFile({ name: 'members.zip', data: await zipOf({ 'a/b.txt': 'inside' }) });
    await zipped.getZipInfo();
    await zipped.readZipMember('a/b.txt');
    await zipped.downloadZipMember('a/b.txt', tmp);
    await acq.getFileZipInfo('members.zip');
    await acq.readFileZipMember('members.zip', 'a/b.txt');
    await acq.downloadFileZipMember('members.zip', 'a/b.txt', path.join(tmp, 'b-again.txt'));

    const analysis = await session.addAnalysis({ label: 'manual', description: 'by hand', inputs: [file], info: { x: 1 }, tags: ['m'] });
    await analysis.update({ description: 'changed', label: 'manual!' });
    await analysis.updateInfo({ y: 2 });
    await analysis.addTag('z');
    await analysis.uploadOutput({ name: 'result.csv', data: 'a,b\n1,2\n' });
    await analysis.reload();

    const view = { columns: [{ src: 'file.info.c' }], fileSpec: { container: 'acquisition' as const, filter: { value: '*.dicom.zip' } } };
    await fw.readView(view, project.id, { filter: 'file.info.c=3', limit: 10 });
    const viewId = await fw.addView(project.id, { label: 'c values', ...view });
    await fw.getViews(project.id);
    await (await fw.readViewData(viewId, project.id, 'csv')).text();
    await fw.modifyView(viewId, { label: 'c values, renamed', includeIds: false });
    await fw.getView(viewId);
    await fw.deleteView(viewId);

    await fw.projects.find('label=P-x');
    await fw.projects.findFirst('label=P-x');
    await project.subjects.findOne('label=sub-01-x');
    for await (const _ of project.sessions.iter({ sort: 'label:asc' })) void _;
    for (const finder of [fw.groups, fw.projects, fw.subjects, fw.sessions, fw.acquisitions, fw.analyses, fw.users])
      await finder.find({ limit: 5 });
    for await (const _ of fw.users.iter()) void _;
    for (const finder of [
      group.projects,
      project.subjects,
      project.sessions,
      project.acquisitions,
      subject.sessions,
      subject.acquisitions,
      session.acquisitions,
    ]) {
      await finder.find();
    }
    for (const c of [project, subject, session, acq]) await c.analyses.find();
    for (const c of [project, subject, session, acq]) await c.analysesOf('all').find();
    for (const kind of ['subjects', 'sessions', 'acquisitions'] as const) await project.analysesOf(kind).find();
    for (const kind of ['sessions', 'acquisitions'] as const) await subject.analysesOf(kind).find();
    await session.analysesOf('acquisitions').find();
    await fw.get(acq.id);
    await fw.getGroup(group.id);
    await fw.lookup(`${group.id}/${project.label}/${subject.label}/${session.label}/${acq.label}/files/${file.name}`);
    await fw.resolve(`${group.id}/${project.label}`);

    const collection = await fw.addCollection({ label: uniq('coll-'), description: 'curated', info: { a: 1 }, tags: ['c'] });
    await collection.addSessions(session);
    await collection.addAcquisitions([acq.id]);
    await collection.sessions().find();
    await collection.acquisitions().find({ limit: 5 });
    await collection.sessionAcquisitions(session);
    await collection.removeAcquisitions(acq);
    await collection.removeSessions(session.id);
    await collection.update({ label: `${collection.label}-x`, description: 'changed' });
    await collection.updateInfo({ b: 2 });
    await collection.addTag('d');
    await collection.deleteTag('d');
    await collection.deleteNote(await collection.addNote('a note'));
    await collection.reload();
    await fw.collections.find({ limit: 5 });
    await fw.get(collection.id);

    const user = await fw.addUser({ id: `${uniq('u')}@lab.org`, email: 'x@lab.org', firstname: 'X', lastname: 'Y', roles: ['user'] });
    await user.update({ firstname: 'Z' });
    await user.reload();
    const theirKey = await fw.addApiKey({ userId: user.id, label: 'workload' });
    await fw.getApiKeys(user.id);
    await fw.revokeApiKey(theirKey.id, user.id);
    const myKey = await fw.addApiKey({ label: 'workload' });
    await fw.getApiKeys();
    await fw.revokeApiKey(myKey.id);
    await group.addPermission({ id: user.id, access: 'ro' });
    await group.updatePermission(user.id, 'rw');
    await group.getUserPermission(user.id);
    await group.deletePermission(user.id);
    await group.getPermissions();
    const roleId = await fw.addRole({ label: uniq('role-'), actions: ['jobs_run_cancel'] });
    await fw.getRole(roleId);
    await fw.getAllRoles();
    await fw.modifyRole(roleId, { label: uniq('role-'), actions: ['jobs_view'] });
    await project.addPermission({ id: user.id, role_ids: ['ro'] });
    await project.updatePermission(user.id, ['rw', roleId]);
    await project.getUserPermission(user.id);
    await project.getPermissions();
    await project.deletePermission(user.id);
    await collection.addPermission({ id: user.id, access: 'ro' });
    await collection.updatePermission(user.id, { role_ids: ['rw'] });
    await collection.getPermissions();
    await collection.deletePermission(user.id);
    await collection.delete();
    await fw.deleteRole(roleId);
    await user.delete();
    await (await fw.addGroup({ id: uniq('empty') })).delete();

    // Gears, jobs, batches, rules.
    const name = uniq('oa-util-');
    const utility = await fw.addGear({
      name: `${name}.tar.gz`,
      data: packGear(manifest(name, 'converter'), { run: '#!/bin/sh\nexit 0\n' }),
    });
    const analysisGear = await fw.addGear(
      { name: 'a.tar.gz', data: packGear(manifest(uniq('oa-ana-'), 'qa', { custom: {} }), { run: '#!/bin/sh\nexit 0\n' }) },
      { category: 'analysis' },
    );
    await fw.lookup(`gears/${name}`);
    await fw.getGear(utility.id);
    await fw.gears.find({ limit: 10 });
    await utility.getInvocation();
    const unused = await fw.addGear({ name: 'u.tar.gz', data: packGear(manifest(uniq('oa-unused-'), 'converter')) });
    await unused.delete();

    const jobId = await utility.run({ inputs: { dicom: file }, destination: acq, tags: ['sdk'], config: { threshold: 0.9 } });
    const job: Job = await fw.getJob(jobId);
    await job.getLogs();
    await job.getDetail();
    await fw.jobs.find({ limit: 5 });
    await fw.jobs.find(`gear_id=${utility.id}`, { limit: 5 });
    await acq.getJobs({ states: ['pending'] });
    await fw.getCurrentUserJobs({ gear: utility.name });
    await job.cancel();
    const again = await job.retry({ ignoreState: true });
    await fw.cancelJob(again);
    await fw.waitForJobs([jobId, again], { pollMs: 10 });
    const raw = await fw.addJob({ gear_id: utility.id, inputs: { dicom: file.ref() }, tags: ['raw'], label: 'raw job', priority: 'low' });
    await fw.cancelJob(raw);
    await analysisGear.run({ inputs: { dicom: file }, destination: session });

    const proposal = await utility.proposeBatch([session], { tags: ['batch'], priority: 'high' });
    await proposal.run();
    await proposal.cancel();
    const batch = await fw.getBatch(proposal.id);
    await batch.getJobs();
    await batch.retryFailed({ exitCodes: [3], memory: '4G' });
    await fw.getAllBatches();

    const rid = await project.addRule({
      gear_id: utility.id,
      name: 'convert',
      any: [],
      all: [{ type: 'file.type', value: 'dicom' }],
      not: [],
    });
    await project.getRules();
    await fw.getProjectRule(project.id, rid);
    await fw.applyProjectRule(project.id, rid, { dryRun: true });
    await fw.modifyProjectRule(project.id, rid, { disabled: true });
    await fw.deleteProjectRule(project.id, rid);

    await other.delete();
    await analysis.delete();
    void me;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
