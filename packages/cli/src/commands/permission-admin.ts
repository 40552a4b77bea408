import { ApiError, type Client, type Group, type Project, type Role } from '@sprocket/sdk';
import { GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import type { Command } from 'commander';
import { confirmOrRefuse } from '../confirm.js';
import { CliError } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { lookupContainer } from '../paths.js';
import { openSession } from '../session.js';

type Target = { kind: 'group'; group: Group } | { kind: 'project'; project: Project };

/** Permissions live on groups (ro/rw/admin, inherited by their projects) and projects (roles). */
async function targetAt(client: Client, path: string): Promise<Target> {
  const found = await lookupContainer(client, path, 'a group or project');
  if (found.containerType === 'group') return { kind: 'group', group: found as Group };
  if (found.containerType === 'project') return { kind: 'project', project: found as Project };
  throw new CliError(`${path} is a ${found.containerType}: permissions are set on groups (<group>) and projects (<group>/<project>)`);
}

function groupAccess(raw: string): GroupAccess {
  if (!(GROUP_ACCESS as readonly string[]).includes(raw))
    throw new CliError(`'${raw}' is not a group access level (one of ${GROUP_ACCESS.join(', ')})`);
  return raw as GroupAccess;
}

/** Role names (labels, any case) or ids, comma-separated, as role ids; unknown names list the roles there are. */
function roleIds(roles: Role[], raw: string): string[] {
  const wanted = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (!wanted.length) throw new CliError('name at least one role');
  return wanted.map((w) => {
    const role = roles.find((r) => r.id === w || r.label.toLowerCase() === w.toLowerCase());
    if (!role) throw new CliError(`no role '${w}' (roles: ${roles.map((r) => r.label).join(', ')}; see 'sprocket permission roles')`);
    return role.id;
  });
}

const roleNames = (roles: Role[], ids: string[]) => ids.map((id) => roles.find((r) => r.id === id)?.label ?? id).join(', ');

export function register(parent: Command): void {
  parent
    .command('add')
    .description("give a user access: on a group 'ro', 'rw' or 'admin'; on a project one or more roles by name")
    .argument('<path>', 'group, or group/project')
    .argument('<user>', 'user id')
    .argument('<role>', 'group: ro | rw | admin; project: role names or ids, comma-separated (e.g. read-write)')
    .addHelpText(
      'after',
      `
On a project the roles are added to those the user already has. Role names are those of
'sprocket permission roles' (built in: read-only, read-write, admin).

Examples:
  $ sprocket permission add lab ana@lab.org rw
  $ sprocket permission add lab/study1 ana@lab.org read-only
  $ sprocket permission add lab/study1 bob@lab.org "read-write,gear runner"`,
    )
    .action(async (path: string, user: string, role: string) => {
      const { client } = openSession();
      const target = await targetAt(client, path);
      if (target.kind === 'group') {
        const access = groupAccess(role);
        const had = (await client.getGroupPermissions(target.group.id)).some((p) => p.id === user);
        if (had) await target.group.updatePermission(user, access);
        else await target.group.addPermission({ id: user, access });
        process.stdout.write(`${user} now has ${access} on group ${target.group.id}\n`);
        return;
      }
      const roles = await client.getAllRoles();
      const ids = roleIds(roles, role);
      const current = (await target.project.getPermissions()).find((p) => p.id === user);
      const merged = [...new Set([...(current?.role_ids ?? []), ...ids])];
      if (current) await target.project.updatePermission(user, merged);
      else await target.project.addPermission({ id: user, role_ids: merged });
      process.stdout.write(`${user} now has ${roleNames(roles, merged)} on project ${path}\n`);
    });

  parent
    .command('ls')
    .description('list who has access to a group or project')
    .argument('<path>', 'group, or group/project')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket permission ls lab\n  $ sprocket permission ls lab/study1 --json')
    .action(async (path: string, opts: { json?: boolean }) => {
      const { client } = openSession();
      const target = await targetAt(client, path);
      if (target.kind === 'group') {
        const perms = await client.getGroupPermissions(target.group.id);
        if (opts.json) return printJson(perms);
        printTable(
          perms,
          [
            { header: 'USER', value: (p) => p.id },
            { header: 'ACCESS', value: (p) => p.access },
          ],
          '(no permissions)',
        );
        return;
      }
      const [perms, roles] = await Promise.all([target.project.getPermissions(), client.getAllRoles()]);
      if (opts.json)
        return printJson(perms.map((p) => ({ ...p, roles: p.role_ids.map((id) => roles.find((r) => r.id === id)?.label ?? id) })));
      printTable(
        perms,
        [
          { header: 'USER', value: (p) => p.id },
          { header: 'ROLES', value: (p) => roleNames(roles, p.role_ids) },
        ],
        '(no permissions)',
      );
    });

  parent
    .command('rm')
    .description("take a user's access to a group or project away (with a role: only that role, on a project)")
    .argument('<path>', 'group, or group/project')
    .argument('<user>', 'user id')
    .argument('[role]', 'project only: remove just these roles (names or ids, comma-separated)')
    .option('-y, --yes', 'do not ask (needed where there is no terminal to ask on)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket permission rm lab ana@lab.org\n  $ sprocket permission rm lab/study1 bob@lab.org "gear runner" --yes',
    )
    .action(async (path: string, user: string, role: string | undefined, opts: { yes?: boolean }) => {
      const { client } = openSession();
      const target = await targetAt(client, path);
      const where = target.kind === 'group' ? `group ${target.group.id}` : `project ${path}`;
      try {
        if (target.kind === 'group') {
          if (role) throw new CliError('a group permission is one access level: remove it whole (no role argument)');
          await client.getGroupUserPermission(target.group.id, user);
          await confirmOrRefuse(`Remove ${user}'s access to ${where}`, opts.yes);
          await target.group.deletePermission(user);
          process.stdout.write(`Removed ${user} from ${where}\n`);
          return;
        }
        const current = await target.project.getUserPermission(user);
        const roles = await client.getAllRoles();
        const drop = role ? roleIds(roles, role) : current.role_ids;
        const left = current.role_ids.filter((r) => !drop.includes(r));
        await confirmOrRefuse(
          left.length ? `Remove ${roleNames(roles, drop)} from ${user} on ${where}` : `Remove ${user}'s access to ${where}`,
          opts.yes,
        );
        if (left.length) await target.project.updatePermission(user, left);
        else await target.project.deletePermission(user);
        process.stdout.write(left.length ? `${user} now has ${roleNames(roles, left)} on ${where}\n` : `Removed ${user} from ${where}\n`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) throw new CliError(`${user} has no permission on ${where}`);
        throw e;
      }
    });

  parent
    .command('roles')
    .description('list the roles projects can give (built-in and site-defined)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket permission roles')
    .action(async (opts: { json?: boolean }) => {
      const { client } = openSession();
      const roles = await client.getAllRoles();
      if (opts.json) return printJson(roles);
      printTable(
        roles,
        [
          { header: 'ID', value: (r) => r.id },
          { header: 'NAME', value: (r) => r.label },
          { header: 'ACTIONS', value: (r) => r.actions.length },
        ],
        '(no roles)',
      );
    });
}
