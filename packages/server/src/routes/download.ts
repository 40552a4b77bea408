import { createRequire } from 'node:module';
import { PassThrough, type Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { PLURAL, safePathSegment } from '@sprocket/types';
import type { FastifyReply } from 'fastify';
import type TarStream from 'tar-stream';
import type Yazl from 'yazl';
import type { AccessContext } from '../auth/access.js';
import { accessOf, type ServerContext } from '../context.js';
import { subtreeIds } from '../dao/containers.js';
import { type ArchiveFile, type ArchiveNode, archiveFiles, archiveNode, archiveNodes } from '../dao/downloads.js';
import { ticketSecret } from '../dao/settings.js';
import { apiError, badRequest } from '../errors.js';
import { signTicket, ticketAccess, verifyTicket } from '../files/tickets.js';
import type { Api } from '../http/typed.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

// The archivers load on the first download (CommonJS, so synchronously): an idle server need not hold them.
const load = createRequire(import.meta.url);
let archivers: { tar: typeof TarStream; yazl: typeof Yazl } | undefined;
const lazyArchivers = () => (archivers ??= { tar: load('tar-stream') as typeof TarStream, yazl: load('yazl') as typeof Yazl });

/**
 * Multi-container downloads: a project, subject, session, acquisition or analysis subtree as one
 * tar or zip stream, laid out `group/project/subject/session/acquisition/name`. Content streams
 * from the store; nothing is assembled in memory or on disk.
 */

interface Entry {
  path: string;
  file: ArchiveFile;
}

interface Selection {
  nodes: { level: string; id: string }[];
  include?: string[];
  exclude?: string[];
}

const FORMATS = ['tar', 'zip'] as const;
type Format = (typeof FORMATS)[number];

export async function downloadRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const secret = await ticketSecret(db);

  async function collect(access: AccessContext, sel: Selection): Promise<Entry[]> {
    const entries: Entry[] = [];
    const seen = new Set<string>();
    for (const node of sel.nodes) {
      const root = await access.requireContainer(node.level, node.id, 'files_download');
      const ids = (await subtreeIds(db, root)).filter((id) => !seen.has(id));
      for (const id of ids) seen.add(id);
      const rows = await archiveNodes(db, ids);
      const byId = new Map(rows.map((r) => [r.id, r]));
      // A role may grant downloads but withhold analyses; their outputs then stay out of the archive.
      const withAnalyses = root.type === 'analysis' || (await access.can(root, 'analyses_view_metadata'));
      const holders = withAnalyses ? ids : rows.filter((r) => r.type !== 'analysis').map((r) => r.id);
      // Sibling containers may share a label; their folders then get the id appended.
      const labelCount = new Map<string, number>();
      for (const r of rows) labelCount.set(`${r.parent_id}/${r.label}`, (labelCount.get(`${r.parent_id}/${r.label}`) ?? 0) + 1);
      const folder = (r: ArchiveNode) => {
        const label = safePathSegment(r.label);
        return (labelCount.get(`${r.parent_id}/${r.label}`) ?? 0) > 1 ? `${label}_${r.id}` : label;
      };
      const pathOf = async (r: ArchiveNode): Promise<string> => {
        const parts: string[] = [];
        let cur: ArchiveNode | undefined = r;
        while (cur) {
          parts.unshift(cur.type === 'analysis' ? `analyses/${folder(cur)}` : folder(cur));
          const pid: string = cur.parent_id;
          cur = byId.get(pid) ?? (cur.parent_type === 'group' ? undefined : await archiveNode(db, pid));
          if (cur && !byId.has(cur.id)) byId.set(cur.id, cur);
        }
        return [safePathSegment(root.group_id), ...parts].join('/');
      };
      for await (const f of archiveFiles(db, holders, sel)) {
        const holder = byId.get(f.container_id)!;
        entries.push({ path: `${await pathOf(holder)}/files/${safePathSegment(f.name)}`, file: f });
      }
    }
    return entries;
  }

  function stream(entries: Entry[], format: Format, reply: FastifyReply, name: string): FastifyReply {
    void reply
      .header('Content-Type', format === 'zip' ? 'application/zip' : 'application/x-tar')
      .header('Content-Disposition', `attachment; filename="${name}.${format}"`);
    // A client that hangs up must release the blob being read and stop the archiver; stream errors
    // end the response instead of escaping as unhandled 'error' events that would stop the server.
    let current: Readable | undefined;
    if (format === 'zip') {
      const zip = new (lazyArchivers().yazl.ZipFile)();
      const output = zip.outputStream as Readable;
      // Imaging files are mostly compressed already; storing keeps the stream fast and the sizes known.
      for (const e of entries) {
        zip.addReadStreamLazy(e.path, { size: e.file.size, compress: false, mtime: new Date(e.file.modified) }, (cb) => {
          current = ctx.store.open(e.file.id);
          // yazl listens for errors only on streams it opened itself.
          current.on('error', (err) => output.destroy(err));
          cb(null, current);
        });
      }
      zip.on('error', (err: Error) => output.destroy(err));
      output.on('close', () => current?.destroy());
      zip.end();
      return reply.send(output);
    }
    const pack = lazyArchivers().tar.pack();
    const out = new PassThrough();
    pack.on('error', () => {});
    out.on('close', () => {
      current?.destroy();
      pack.destroy();
    });
    pack.pipe(out);
    void (async () => {
      try {
        for (const e of entries) {
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry({ name: e.path, size: e.file.size, mtime: new Date(e.file.modified) }, (err) =>
              err ? reject(err) : resolve(),
            );
            sink.on('error', reject);
            const src = ctx.store.open(e.file.id);
            current = src;
            src.on('error', (err) => {
              sink.destroy(err);
              reject(err);
            });
            src.pipe(sink);
          });
        }
        pack.finalize();
      } catch (err) {
        out.destroy(err as Error);
      }
    })();
    return reply.send(out);
  }

  const summary = (entries: Entry[]) => ({ file_cnt: entries.length, size: entries.reduce((n, e) => n + e.file.size, 0) });
  const FORMAT = Type.Unsafe<Format>({ type: 'string', enum: [...FORMATS] });
  const filterQuery = Type.Object({
    format: Type.Optional(FORMAT),
    include: Type.Optional(Type.String({ description: 'comma-separated file types to include' })),
    exclude: Type.Optional(Type.String({ description: 'comma-separated file types to exclude' })),
    summary: Type.Optional(Type.Boolean({ description: 'only count files and bytes' })),
  });
  const split = (s?: string) =>
    s
      ? s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : undefined;

  for (const type of ['project', 'subject', 'session', 'acquisition', 'analysis'] as const) {
    app.get(
      `/${PLURAL[type]}/:id/download`,
      { schema: { tags: ['download'], summary: `Download a ${type} subtree as tar or zip`, params: idParams, querystring: filterQuery } },
      async (req, reply) => {
        const q = req.query;
        const { id } = req.params;
        const entries = await collect(accessOf(ctx, req), {
          nodes: [{ level: type, id }],
          include: split(q.include),
          exclude: split(q.exclude),
        });
        if (q.summary) return summary(entries);
        return stream(entries, q.format ?? 'tar', reply, `${type}-${id}`);
      },
    );
  }

  // Flywheel's two-step bulk download: POST the selection for a ticket, then GET it.
  app.post(
    '/download',
    {
      schema: {
        tags: ['download'],
        summary: 'Create a bulk download ticket',
        body: Type.Object({
          nodes: Type.Array(
            Type.Object({
              level: Type.Unsafe<Selection['nodes'][number]['level']>({
                type: 'string',
                enum: ['project', 'subject', 'session', 'acquisition', 'analysis'],
              }),
              _id: Type.Optional(OBJECT_ID_SCHEMA),
              id: Type.Optional(OBJECT_ID_SCHEMA),
            }),
            { minItems: 1 },
          ),
          // Flywheel's filter objects; only `types.plus` / `types.minus` are read, and the schema leaves them open.
          filters: Type.Optional(Type.Array(Type.Unsafe<{ types?: { plus?: string[]; minus?: string[] } }>({ type: 'object' }))),
          optional: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      const nodes = b.nodes.map((n, i) => {
        const id = n._id ?? n.id;
        if (!id) throw badRequest(`body.nodes[${i}] needs _id`);
        return { level: n.level, id };
      });
      const include = b.filters?.flatMap((f) => f.types?.plus ?? []);
      const exclude = b.filters?.flatMap((f) => f.types?.minus ?? []);
      const sel: Selection = { nodes, include: include?.length ? include : undefined, exclude: exclude?.length ? exclude : undefined };
      const entries = await collect(accessOf(ctx, req), sel);
      const p = accessOf(ctx, req).principal;
      return { ticket: signTicket(secret, `d:${JSON.stringify({ ...sel, user: p.userId })}`, 300, p.keyId), ...summary(entries) };
    },
  );

  app.get(
    '/download',
    {
      schema: {
        tags: ['download'],
        summary: 'Stream a bulk download by ticket',
        querystring: Type.Object({ ticket: Type.String(), format: Type.Optional(FORMAT) }),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const payload = verifyTicket(secret, q.ticket);
      if (!payload?.target.startsWith('d:')) throw apiError('AUTH_TICKET_INVALID', { reason: 'invalid or expired' });
      const sel = JSON.parse(payload.target.slice(2)) as Selection & { user: string };
      // The ticket carries the key that asked; permissions are checked again as that key at download time.
      const access = await ticketAccess(ctx.handle, payload);
      return stream(await collect(access, sel), q.format ?? 'tar', reply, 'download');
    },
  );
}
