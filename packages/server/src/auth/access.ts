import { type Action, BUILTIN_ROLES, type GroupAccess, READ_ONLY_ACTIONS } from '@sprocket/types';
import { containerRefs } from '../dao/containers.js';
import type { DatabaseHandle } from '../db/dialect.js';
import type { ContainersTable } from '../db/schema.js';
import { ApiError, apiError } from '../errors.js';
import type { Principal } from './principal.js';

/**
 * The one permission check. A user's actions on a project are the union of the actions of the
 * roles they hold on it and of the built-in role matching their access to the project's group.
 * Everything below a project (subjects … analyses, files) takes the project's permissions.
 *
 * A job key (the api-key input of a running job) sees only the projects its job touches: the
 * destination's and the inputs'. There it holds its user's actions (all of them for a site admin);
 * everywhere else nothing, so the rest of the site is as invisible to it as to a stranger. It
 * has no group-level powers either. Which routes a job key may call at all is job-key-access.ts.
 */

const GROUP_ORDER: Record<GroupAccess, number> = { ro: 1, rw: 2, admin: 3 };

export class AccessContext {
  private readonly projectCache = new Map<string, Set<Action>>();
  private groupAccessCache?: Map<string, GroupAccess>;
  private jobScopeCache?: Promise<Map<string, string>>;

  constructor(
    private readonly handle: DatabaseHandle,
    readonly principal: Principal,
  ) {}

  get isAdmin(): boolean {
    return this.principal.isAdmin;
  }

  private async groupAccessMap(): Promise<Map<string, GroupAccess>> {
    if (!this.groupAccessCache) {
      const rows = await this.handle.db
        .selectFrom('group_permissions')
        .select(['group_id', 'access'])
        .where('user_id', '=', this.principal.userId)
        .execute();
      this.groupAccessCache = new Map(rows.map((r) => [r.group_id, r.access as GroupAccess]));
    }
    return this.groupAccessCache;
  }

  async groupAccess(groupId: string): Promise<GroupAccess | undefined> {
    if (this.isAdmin) return 'admin';
    if (this.principal.jobId) return undefined;
    return (await this.groupAccessMap()).get(groupId);
  }

  /** A job key's projects (id → group id): those of its job's destination and inputs; undefined for other keys. */
  private async jobScope(): Promise<Map<string, string> | undefined> {
    const jobId = this.principal.jobId;
    if (!jobId || this.principal.kind === 'engine') return undefined;
    this.jobScopeCache ??= (async () => {
      const job = await this.handle.db.selectFrom('jobs').select('related_container_ids').where('id', '=', jobId).executeTakeFirst();
      const ids = job ? (JSON.parse(job.related_container_ids) as string[]) : [];
      const rows = ids.length
        ? await this.handle.db.selectFrom('containers').select(['id', 'type', 'project_id', 'group_id']).where('id', 'in', ids).execute()
        : [];
      return new Map(rows.map((r) => [r.project_id ?? r.id, r.group_id]));
    })();
    return this.jobScopeCache;
  }

  /** The actions this principal may take on a project (empty: the project is invisible to them). */
  async projectActions(projectId: string, groupId: string): Promise<Set<Action>> {
    let actions = this.projectCache.get(projectId);
    if (actions) return actions;
    actions = new Set<Action>();
    const scope = await this.jobScope();
    if (scope && !scope.has(projectId)) {
      // Outside its job: nothing, as for a stranger.
    } else if (this.principal.kind === 'engine') {
      // Engines fetch the inputs of the jobs they run, anywhere on the site, and change nothing;
      // engine-access.ts lets an engine key reach only those files, and only while the job runs.
      for (const a of READ_ONLY_ACTIONS) actions.add(a);
    } else if (this.isAdmin || (scope && this.principal.roles.includes('site_admin'))) {
      for (const a of BUILTIN_ROLES.admin.actions) actions.add(a);
    } else {
      const access = (await this.groupAccessMap()).get(groupId);
      if (access) for (const a of BUILTIN_ROLES[access].actions) actions.add(a);
      const perm = await this.handle.db
        .selectFrom('project_permissions')
        .select('role_ids')
        .where('project_id', '=', projectId)
        .where('user_id', '=', this.principal.userId)
        .executeTakeFirst();
      const roleIds = perm ? (JSON.parse(perm.role_ids) as string[]) : [];
      if (roleIds.length) {
        const roles = await this.handle.db.selectFrom('roles').select('actions').where('id', 'in', roleIds).execute();
        for (const r of roles) for (const a of JSON.parse(r.actions) as Action[]) actions.add(a);
      }
    }
    if (this.principal.readOnly) {
      for (const a of [...actions]) if (!isReadAction(a)) actions.delete(a);
    }
    this.projectCache.set(projectId, actions);
    return actions;
  }

  /**
   * Loads a container the principal may see and checks one action on it. Invisible containers are
   * reported as missing, so ids of other labs' data cannot be probed.
   */
  async requireContainer(type: string, id: string, action: Action): Promise<ContainersTable> {
    const row = await this.handle.db.selectFrom('containers').selectAll().where('id', '=', id).where('type', '=', type).executeTakeFirst();
    if (!row) throw apiError('CONTAINER_NOT_FOUND', { type, id });
    await this.check(row, action);
    return row;
  }

  async check(row: Pick<ContainersTable, 'id' | 'type' | 'project_id' | 'group_id'>, action: Action): Promise<void> {
    const actions = await this.projectActions(row.project_id ?? row.id, row.group_id);
    if (actions.size === 0) throw apiError('CONTAINER_NOT_FOUND', { type: row.type, id: row.id });
    if (!actions.has(action)) throw new ApiError('FORBIDDEN', `permission denied: ${action} on ${row.type} ${row.id}`);
  }

  async can(row: Pick<ContainersTable, 'id' | 'project_id' | 'group_id'>, action: Action): Promise<boolean> {
    return (await this.projectActions(row.project_id ?? row.id, row.group_id)).has(action);
  }

  /** Group checks: visible with any access or any role on one of its projects. */
  async requireGroup(groupId: string, need: GroupAccess | 'visible'): Promise<void> {
    const exists = await this.handle.db.selectFrom('groups').select('id').where('id', '=', groupId).executeTakeFirst();
    if (!exists) throw apiError('GROUP_NOT_FOUND', { id: groupId });
    if (this.isAdmin) return;
    const access = await this.groupAccess(groupId);
    const visible = access !== undefined || (await this.visibleProjectIds()).groups.has(groupId);
    if (!visible) throw apiError('GROUP_NOT_FOUND', { id: groupId });
    if (need === 'visible') return;
    if (this.principal.readOnly || !access || GROUP_ORDER[access] < GROUP_ORDER[need]) {
      throw new ApiError('FORBIDDEN', `permission denied: ${need} access on group ${groupId} required`);
    }
  }

  private visibleCache?: { projects: string[]; groups: Set<string> };

  /**
   * Projects the principal holds any role on (directly or through their group), for list filters.
   * Site admins see everything; callers check `isAdmin` first and skip the filter.
   */
  async visibleProjectIds(): Promise<{ projects: string[]; groups: Set<string> }> {
    if (this.visibleCache) return this.visibleCache;
    const scope = await this.jobScope();
    if (scope) {
      const visible: string[] = [];
      for (const [project, group] of scope) if ((await this.projectActions(project, group)).size) visible.push(project);
      this.visibleCache = { projects: visible, groups: new Set(visible.map((p) => scope.get(p)!)) };
      return this.visibleCache;
    }
    const groupIds = [...(await this.groupAccessMap()).keys()];
    const direct = await this.handle.db
      .selectFrom('project_permissions')
      .innerJoin('containers', 'containers.id', 'project_permissions.project_id')
      .select(['project_permissions.project_id', 'containers.group_id'])
      .where('project_permissions.user_id', '=', this.principal.userId)
      .execute();
    const viaGroup = groupIds.length
      ? await this.handle.db
          .selectFrom('containers')
          .select(['id', 'group_id'])
          .where('type', '=', 'project')
          .where('group_id', 'in', groupIds)
          .execute()
      : [];
    const projects = new Set<string>();
    const groups = new Set<string>(groupIds);
    for (const r of direct) {
      projects.add(r.project_id);
      groups.add(r.group_id);
    }
    for (const r of viaGroup) projects.add(r.id);
    this.visibleCache = { projects: [...projects], groups };
    return this.visibleCache;
  }

  /**
   * The projects a listing shows, for its dao query to filter on: undefined for site admins (no
   * filter: everything), else those the principal holds any role on, narrowed to those allowing
   * `action` when given (a role can withhold some views, such as analyses).
   */
  async projectScope(action?: Action): Promise<string[] | undefined> {
    if (this.isAdmin) return undefined;
    const { projects } = await this.visibleProjectIds();
    if (!action) return projects;
    const out: string[] = [];
    for (const r of await containerRefs(this.handle.db, projects)) if (await this.can(r, action)) out.push(r.id);
    return out;
  }

  /** The groups a listing shows: undefined for site admins (all), else those of the visible projects and the principal's groups. */
  async groupScope(): Promise<string[] | undefined> {
    if (this.isAdmin) return undefined;
    return [...(await this.visibleProjectIds()).groups];
  }

  /**
   * `can`, except that site admins are let through without looking at the project (so an event of
   * a project deleted meanwhile still reaches them, as every event does).
   */
  async canOrAdmin(row: Pick<ContainersTable, 'id' | 'project_id' | 'group_id'>, action: Action): Promise<boolean> {
    return this.isAdmin || this.can(row, action);
  }
}

const READ_SUFFIXES = ['_view', '_view_metadata', '_view_contents', '_download'];
function isReadAction(a: Action): boolean {
  return READ_SUFFIXES.some((s) => a.endsWith(s));
}
