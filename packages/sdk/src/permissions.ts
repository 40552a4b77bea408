import { type Json, withIds } from './model.js';
import type { Transport } from './transport.js';
import type { GroupPermission, ProjectPermission, Rule, RuleInput } from './types.js';

/**
 * Permission and gear-rule calls that both the client (`fw.addProjectPermission(id, …)`) and the
 * objects (`project.addPermission(…)`) offer, written once over the transport.
 */

export async function getGroupPermissions(t: Transport, groupId: string): Promise<GroupPermission[]> {
  return withIds<GroupPermission>(await t.json<Json[]>('getGroupPermissions', { params: { id: groupId } }));
}

export async function getGroupUserPermission(t: Transport, groupId: string, userId: string): Promise<GroupPermission> {
  return withIds<GroupPermission>([await t.json<Json>('getGroupUserPermission', { params: { id: groupId, uid: userId } })])[0]!;
}

export async function addGroupPermission(
  t: Transport,
  groupId: string,
  permission: { id: string; access: GroupPermission['access'] },
): Promise<void> {
  await t.json('addGroupPermission', { params: { id: groupId }, body: { _id: permission.id, access: permission.access } });
}

export async function modifyGroupUserPermission(
  t: Transport,
  groupId: string,
  userId: string,
  access: GroupPermission['access'],
): Promise<void> {
  await t.json('modifyGroupUserPermission', { params: { id: groupId, uid: userId }, body: { access } });
}

export async function deleteGroupUserPermission(t: Transport, groupId: string, userId: string): Promise<void> {
  await t.json('deleteGroupUserPermission', { params: { id: groupId, uid: userId } });
}

export async function getProjectPermissions(t: Transport, projectId: string): Promise<ProjectPermission[]> {
  return withIds<ProjectPermission>(await t.json<Json[]>('getProjectPermissions', { params: { id: projectId } }));
}

export async function getProjectUserPermission(t: Transport, projectId: string, userId: string): Promise<ProjectPermission> {
  return withIds<ProjectPermission>([await t.json<Json>('getProjectUserPermission', { params: { id: projectId, uid: userId } })])[0]!;
}

export async function addProjectPermission(t: Transport, projectId: string, permission: { id: string; role_ids: string[] }): Promise<void> {
  await t.json('addProjectPermission', { params: { id: projectId }, body: { _id: permission.id, role_ids: permission.role_ids } });
}

export async function modifyProjectUserPermission(t: Transport, projectId: string, userId: string, roleIds: string[]): Promise<void> {
  await t.json('modifyProjectUserPermission', { params: { id: projectId, uid: userId }, body: { role_ids: roleIds } });
}

export async function deleteProjectUserPermission(t: Transport, projectId: string, userId: string): Promise<void> {
  await t.json('deleteProjectUserPermission', { params: { id: projectId, uid: userId } });
}

export async function getProjectRules(t: Transport, projectId: string): Promise<Rule[]> {
  return withIds<Rule>(await t.json<Json[]>('getProjectRules', { params: { id: projectId } }));
}

export async function addProjectRule(t: Transport, projectId: string, rule: RuleInput): Promise<string> {
  return (await t.json<{ _id: string }>('addProjectRule', { params: { id: projectId }, body: rule }))._id;
}
