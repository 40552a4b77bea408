import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type Project } from '../src/index.js';
import { adminKey, newUserKey, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
beforeAll(async () => {
  s = await startTestServer();
  fw = new Client(adminKey(s));
});
afterAll(async () => {
  await s?.stop();
});

describe('permissions and roles', () => {
  it('reads and changes group access and project roles the way the tutorial checks them', async () => {
    const annKey = await newUserKey(s, 'ann@lab.org');
    const ann = new Client(annKey);
    const group = await fw.addGroup({ id: uniq('perm') });
    const project: Project = await group.addProject({ label: 'Shared' });

    // group access (ro < rw < admin)
    await group.addPermission({ id: 'ann@lab.org', access: 'ro' });
    expect(await fw.getGroupUserPermission(group.id, 'ann@lab.org')).toEqual({ id: 'ann@lab.org', access: 'ro' });
    await group.updatePermission('ann@lab.org', 'rw');
    expect((await group.getUserPermission('ann@lab.org')).access).toBe('rw');
    expect((await group.reload()).permissions).toContainEqual({ id: 'ann@lab.org', access: 'rw' });
    await group.deletePermission('ann@lab.org');
    await expect(fw.getGroupUserPermission(group.id, 'ann@lab.org')).rejects.toMatchObject({ status: 404 });
    // without any access Ann cannot see the project at all
    expect(await ann.projects.findFirst(`label=Shared`)).toBeUndefined();

    // roles: built-ins plus our own
    const roles = await fw.getAllRoles();
    expect(roles.map((r) => r.id)).toEqual(expect.arrayContaining(['ro', 'rw', 'admin']));
    const roleId = await fw.addRole({ label: uniq('runner-'), actions: ['jobs_run_cancel', 'analyses_create_job'] });
    const role = await fw.getRole(roleId);
    expect(role.actions).toEqual(expect.arrayContaining(['jobs_view', 'jobs_run_cancel', 'containers_view_metadata']));
    await fw.modifyRole(roleId, { actions: ['jobs_run_cancel', 'files_create_upload'] });
    expect((await fw.getRole(roleId)).actions).toContain('files_create_upload');

    // project roles
    await project.addPermission({ id: 'ann@lab.org', role_ids: ['ro'] });
    expect(await fw.getProjectUserPermission(project.id, 'ann@lab.org')).toEqual({ id: 'ann@lab.org', role_ids: ['ro'] });
    const seen = await ann.projects.findFirst('label=Shared');
    expect(seen?.id).toBe(project.id);
    // read-only: Ann cannot add a subject
    await expect(seen!.addSubject({ label: 'nope' })).rejects.toMatchObject({ status: 403 });
    await project.updatePermission('ann@lab.org', ['ro', roleId]);
    const perm = await project.getUserPermission('ann@lab.org');
    expect(perm.role_ids).toEqual(['ro', roleId]);
    const actions = new Set((await Promise.all(perm.role_ids.map((r) => fw.getRole(r)))).flatMap((r) => r.actions));
    expect(actions.has('jobs_run_cancel')).toBe(true);
    expect((await project.getPermissions()).map((p) => p.id)).toContain('ann@lab.org');
    await project.deletePermission('ann@lab.org');
    expect(await ann.projects.findFirst('label=Shared')).toBeUndefined();

    await expect(fw.deleteRole('ro')).rejects.toMatchObject({ status: 403 });
    await fw.deleteRole(roleId);
    await expect(fw.getRole(roleId)).rejects.toMatchObject({ status: 404 });

    // the current user and their site roles (what the tutorial's permission check reads first)
    const me = await ann.getCurrentUser();
    expect(me).toMatchObject({ id: 'ann@lab.org', email: 'ann@lab.org', roles: ['user'] });
    await me.update({ firstname: 'Annie' });
    expect((await me.reload()).firstname).toBe('Annie');
  });
});
