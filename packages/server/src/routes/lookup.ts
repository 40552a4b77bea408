import { Type } from '@sinclair/typebox';
import type { Action } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { redactAnalysisInputs } from '../auth/visibility.js';
import { accessOf, type ServerContext } from '../context.js';
import { containerDoc, currentFiles, subjectsById } from '../dao/containers.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { groupNodeDoc } from '../dao/groups.js';
import type { JsonObject } from '../dao/json.js';
import { childrenNamed, childrenWithin } from '../dao/paths.js';
import type { ContainersTable, FilesTable } from '../dao/rows.js';
import { ApiError, badRequest, notFound } from '../errors.js';
import { acceptsFeature } from '../http/listing.js';
import type { Api } from '../http/typed.js';

/**
 * Path resolution: `group/project/[subject/]session/acquisition`, then `files/<name>` or
 * `analyses/<label>[/files/<name>]` at any level; `<id:HEX>` matches an element by id, and so does a
 * bare id where no label matches; a label shared by several visible containers is a 409 listing them. Subjects are
 * part of the path when the client sends `X-Accept-Feature: Subject-Container` (Flywheel's SDK does).
 */
type Node =
  | { kind: 'group'; id: string; doc: JsonObject }
  | { kind: 'container'; row: ContainersTable }
  | { kind: 'file'; file: FilesTable; parent: ContainersTable };

const pathBody = Type.Object(
  // Checked by hand (pathParts): a type union would let the validator's coercion turn 'a' into ['a'] or [1] into ['1'].
  { path: Type.Unknown({ description: "array of path elements, or one string 'a/b/c'" }) },
  { additionalProperties: false },
);

/** Accepts `['a','b']` or `'a/b'`; a one-element array is split on '/' like a string. */
function splitPath(raw: unknown): string[] {
  const ok = typeof raw === 'string' || (Array.isArray(raw) && raw.every((p) => typeof p === 'string'));
  if (!ok) throw badRequest('body.path: must be an array of strings or a string');
  const parts = typeof raw === 'string' ? [raw] : (raw as string[]);
  return (parts.length === 1 ? parts[0]!.split('/') : parts).filter((s) => s !== '');
}

/** How many same-label candidates an ambiguity error lists (one more is fetched to say "more"). */
const AMBIGUOUS_SHOWN = 20;
const BARE_ID = /^[0-9a-f]{24}$/;

/** `path a/b matches 2 sessions; name one by id (a/<id>): <id> (created …, timestamp …), …` */
function ambiguous(path: string[], at: number, rows: ContainersTable[]): ApiError {
  const shown = rows.slice(0, AMBIGUOUS_SHOWN);
  const list = shown.map((r) => `${r.id} (created ${r.created}${r.timestamp ? `, timestamp ${r.timestamp}` : ''})`).join('; ');
  const more = rows.length > AMBIGUOUS_SHOWN ? '; and more' : '';
  const type = rows[0]!.type === 'analysis' ? 'analyses' : `${rows[0]!.type}s`;
  const prefix = path.slice(0, at).join('/');
  return new ApiError(
    'CONFLICT',
    `path ${path.slice(0, at + 1).join('/')} is ambiguous: it matches ${rows.length}${more ? '+' : ''} ${type}; name one by id (${prefix}/<id>): ${list}${more}`,
  );
}

export async function lookupRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;

  function idMatch(seg: string): string | undefined {
    const m = /^<id:([0-9a-f]{24})>$/.exec(seg);
    return m?.[1];
  }

  /**
   * The containers of `type` under `parent` that a path element names: `<id:HEX>` by id, else by
   * label (at most AMBIGUOUS_SHOWN + 1, oldest first), else a bare 24-hex element by id, so an id
   * works wherever a label does (a label that happens to look like an id still wins).
   */
  async function children(parent: { type: string; id: string }, type: string, seg: string): Promise<ContainersTable[]> {
    const id = idMatch(seg);
    // Without subjects in the path, sessions are looked up under the project directly (dao/paths.ts).
    return childrenNamed(db, parent, type, seg, { id, bareId: BARE_ID.test(seg), limit: AMBIGUOUS_SHOWN + 1 });
  }

  /**
   * A path that names something the caller may not see gets the very answer of a path that names
   * nothing: same status, same message, and no id of what was found.
   */
  function missing(path: string[], upTo: number, containerLevel = false): ApiError {
    const seg = path[upTo]!;
    return notFound(
      `path ${path.slice(0, upTo + 1).join('/')}${containerLevel && seg.includes('.') ? ` (for a file, use files/${seg})` : ''}`,
    );
  }

  async function walk(req: FastifyRequest, raw: unknown): Promise<Node[]> {
    const path = splitPath(raw);
    if (!path.length) throw badRequest('body.path is empty');
    const access = accessOf(ctx, req);
    const subjects = acceptsFeature(req, 'Subject-Container');
    const levels = subjects ? ['project', 'subject', 'session', 'acquisition'] : ['project', 'session', 'acquisition'];
    const groupId = path[0]!;
    /**
     * One of several containers sharing a label is never picked silently (Flywheel takes the oldest;
     * repeat visits with one StudyDescription make that a wrong answer): more than one the caller can
     * see is a 409 listing each with its id and dates. Ones the caller cannot see do not count.
     */
    const pick = async (rows: ContainersTable[], action: Action, upTo: string[], at: number): Promise<ContainersTable | undefined> => {
      if (rows.length < 2) return rows[0];
      const visible: ContainersTable[] = [];
      for (const r of rows) if (await access.can(r, action)) visible.push(r);
      if (visible.length < 2) return visible[0] ?? rows[0];
      throw ambiguous(upTo, at, visible);
    };
    const allowed = async (row: ContainersTable, action: Action, upTo: number, containerLevel = false) => {
      try {
        await access.check(row, action);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        if (e.status === 404) throw missing(path, upTo, containerLevel);
        throw new ApiError(e.code, `permission denied: ${action} at path ${path.slice(0, upTo + 1).join('/')}`);
      }
    };
    try {
      await access.requireGroup(groupId, 'visible');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw missing(path, 0);
      throw e;
    }
    const nodes: Node[] = [{ kind: 'group', id: groupId, doc: await groupNodeDoc(db, groupId) }];
    let cur: { type: string; id: string } = { type: 'group', id: groupId };
    let level = 0;
    for (let i = 1; i < path.length; i++) {
      const seg = path[i]!;
      const shown = path.slice(0, i + 1).join('/');
      if ((seg === 'files' || seg === 'analyses') && i + 1 < path.length && cur.type !== 'group') {
        const name = path[++i]!;
        if (seg === 'files') {
          const parent = (nodes[nodes.length - 1] as { row: ContainersTable }).row;
          await allowed(parent, 'files_view_metadata', i);
          const f = await getCurrentFile(db, cur.id, name);
          if (!f) throw missing(path, i);
          nodes.push({ kind: 'file', file: f, parent });
          if (i + 1 < path.length) throw badRequest(`path: nothing can follow a file (${path.slice(i + 1).join('/')})`);
          break;
        }
        const a = await pick(await children(cur, 'analysis', name), 'analyses_view_metadata', path, i);
        if (!a) throw missing(path, i);
        await allowed(a, 'analyses_view_metadata', i);
        nodes.push({ kind: 'container', row: a });
        cur = { type: 'analysis', id: a.id };
        level = levels.length;
        continue;
      }
      const type = levels[level];
      if (!type) throw notFound(`path ${shown} (too deep${seg.includes('.') ? `; did you mean files/${seg}?` : ''})`);
      const row = await pick(await children(cur, type, seg), 'containers_view_metadata', path, i);
      if (!row) throw missing(path, i, true);
      await allowed(row, 'containers_view_metadata', i, true);
      nodes.push({ kind: 'container', row });
      cur = { type, id: row.id };
      level++;
    }
    return nodes;
  }

  async function nodeDoc(req: FastifyRequest, node: Node, full: boolean): Promise<JsonObject> {
    if (node.kind === 'group') return { ...node.doc, container_type: 'group', node_type: 'group' };
    if (node.kind === 'file') return { ...fileDoc(node.file, node.parent, full), container_type: 'file', node_type: 'file' };
    const files = (await currentFiles(db, [node.row.id])).get(node.row.id) ?? [];
    const subject =
      node.row.type === 'session' && node.row.subject_id
        ? (await subjectsById(db, [node.row.subject_id])).get(node.row.subject_id)
        : undefined;
    const doc = containerDoc(node.row, files, { withInfo: full, subject });
    await redactAnalysisInputs(ctx.handle, accessOf(ctx, req), [doc]);
    return { ...doc, node_type: node.row.type };
  }

  async function prefixed(req: FastifyRequest, raw: unknown): Promise<JsonObject | undefined> {
    const path = splitPath(raw);
    const resolver = path[0] ? ctx.hooks.pathPrefixes.get(path[0]) : undefined;
    return resolver ? resolver(req, path.slice(1)) : undefined;
  }

  app.post('/lookup', { schema: { tags: ['lookup'], summary: 'Resolve a path to the object it names', body: pathBody } }, async (req) => {
    const { path } = req.body;
    const special = await prefixed(req, path);
    if (special) return special;
    const nodes = await walk(req, path);
    return nodeDoc(req, nodes[nodes.length - 1]!, true);
  });

  app.post(
    '/resolve',
    { schema: { tags: ['lookup'], summary: 'Resolve a path to its nodes and the children of the last', body: pathBody } },
    async (req) => {
      const { path } = req.body;
      const special = await prefixed(req, path);
      if (special) return { path: [special], children: [] };
      const access = accessOf(ctx, req);
      const nodes = await walk(req, path);
      const last = nodes[nodes.length - 1]!;
      const children: JsonObject[] = [];
      if (last.kind !== 'file') {
        const subjectsMode = acceptsFeature(req, 'Subject-Container');
        const parentId = last.kind === 'group' ? last.id : last.row.id;
        const parentType = last.kind === 'group' ? 'group' : last.row.type;
        const nextType = { group: 'project', project: subjectsMode ? 'subject' : 'session', subject: 'session', session: 'acquisition' }[
          parentType
        ];
        if (nextType) {
          // Narrowed to projects with any role first, so a big group costs one query, not one per project.
          const projects = await access.projectScope();
          const rows = await childrenWithin(db, { type: parentType, id: parentId }, nextType, projects);
          const visible = [];
          for (const r of rows) if (await access.can(r, 'containers_view_metadata')) visible.push(r);
          const files = await currentFiles(
            db,
            visible.map((r) => r.id),
          );
          const docs = await redactAnalysisInputs(
            ctx.handle,
            access,
            visible.map((r) => containerDoc(r, files.get(r.id) ?? [], { withInfo: false })),
          );
          for (const d of docs) children.push({ ...d, node_type: d.container_type });
        }
        if (last.kind === 'container') {
          const files = (await currentFiles(db, [last.row.id])).get(last.row.id) ?? [];
          for (const f of files) children.push({ ...fileDoc(f, last.row, false), container_type: 'file', node_type: 'file' });
        }
      }
      return { path: await Promise.all(nodes.map((n) => nodeDoc(req, n, false))), children };
    },
  );
}
