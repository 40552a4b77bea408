import { randomBytes } from 'node:crypto';
import type { Action } from '@sprocket/types';
import type { FastifyInstance } from 'fastify';
import { AccessContext } from '../auth/access.js';
import { requirePrincipal } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { type ContainerRef, containerRef } from '../dao/containers.js';
import type { ContainersTable, FilesTable, JobsTable } from '../dao/rows.js';
import type { JobEvent } from '../events.js';

/**
 * `GET /events`: server-sent events for the web UI, so no page needs a Refresh button. Two kinds:
 * `job` (a job was queued, changed state or was retried) and `files` (files landed on a container).
 * Each event belongs to the project of its container (a job's destination) and reaches only the
 * connections whose user may see it there: `jobs_view` for jobs, `files_view_metadata` for files,
 * asked afresh per event so a revoked role stops the stream of that project at once.
 *
 * Each event carries an id, and a stream reopened with `Last-Event-ID` first gets what it missed
 * (EventHub). Events come from the server's emitter (`ctx.events`), which every job transition and file
 * commit already tells, so no existing path is changed; delivery runs after the emit returns and
 * never slows the transition down.
 */

interface Client {
  principal: Principal;
  /** The browser session the stream was opened under; signing out closes the stream. */
  sessionId?: string;
  send: (event: string, data: unknown, id: string) => void;
  close: () => void;
}

export interface LiveEvent {
  kind: 'job' | 'files';
  project_id: string;
  group_id: string;
  need: Action;
  data: Record<string, unknown>;
}

/** How often an idle stream sends a comment, so proxies and the browser keep the connection. */
const KEEPALIVE_MS = 20_000;

/** Events kept for reconnecting streams, and how long after the last stream closed they are still kept. */
const REPLAY_EVENTS = 1000;
const REPLAY_AFTER_CLOSE_MS = 120_000;

interface Numbered extends LiveEvent {
  seq: number;
}

/**
 * The open streams, and the recent events a stream that dropped may have missed. Each event gets an
 * id `<boot>-<seq>`: EventSource sends the last one it saw as `Last-Event-ID` when it reconnects,
 * and the stream then starts with what it missed (each event checked against the user's access now,
 * as live ones are). When the gap is not covered (another server process or a restart, more than
 * REPLAY_EVENTS since, or events while nobody listened), the stream starts with a `reset` event
 * instead and the page refetches what it shows: nothing is silently missed.
 */
class EventHub {
  readonly clients = new Set<Client>();
  /** Tells this process's ids from another's or an earlier run's. */
  readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly recent: Numbered[] = [];
  /** The smallest seq from which every later event is in `recent`. */
  private firstReplayable = 1;
  private keepUntil = 0;

  /**
   * Whether events are worth numbering and keeping now: while a stream is open, and for a while
   * after the last one closed (a browser reconnecting). Otherwise the event is only counted, which
   * spares a container lookup per job transition on a server nobody watches.
   */
  listening(): boolean {
    if (this.clients.size > 0 || Date.now() < this.keepUntil) return true;
    this.seq++;
    this.recent.length = 0;
    this.firstReplayable = this.seq + 1;
    return false;
  }

  async publish(ctx: ServerContext, e: LiveEvent): Promise<void> {
    const n: Numbered = { ...e, seq: ++this.seq };
    this.recent.push(n);
    if (this.recent.length > REPLAY_EVENTS) {
      this.recent.shift();
      this.firstReplayable = this.recent[0]!.seq;
    }
    for (const c of this.clients) await this.deliver(ctx, c, n);
  }

  private async deliver(ctx: ServerContext, c: Client, e: Numbered): Promise<void> {
    const access = new AccessContext(ctx.handle, c.principal);
    let ok = false;
    try {
      ok = await access.canOrAdmin({ id: e.project_id, project_id: e.project_id, group_id: e.group_id }, e.need);
    } catch {
      ok = false;
    }
    if (ok) c.send(e.kind, e.data, `${this.boot}-${e.seq}`);
  }

  /** What a stream reconnecting after `lastId` missed: replayed, or a `reset` when the gap is not covered. */
  async catchUp(ctx: ServerContext, c: Client, lastId: string): Promise<void> {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastId);
    const last = m ? Number(m[2]) : Number.NaN;
    if (!m || m[1] !== this.boot || last > this.seq || last + 1 < this.firstReplayable) {
      c.send('reset', { reason: 'events were missed; reload what is shown' }, `${this.boot}-${this.seq}`);
      return;
    }
    for (const e of this.recent.filter((r) => r.seq > last)) await this.deliver(ctx, c, e);
  }

  add(c: Client): void {
    this.clients.add(c);
  }

  remove(c: Client): void {
    if (this.clients.delete(c) && this.clients.size === 0) this.keepUntil = Date.now() + REPLAY_AFTER_CLOSE_MS;
  }

  closeSession(sessionId: string): void {
    for (const c of this.clients) if (c.sessionId === sessionId) c.close();
  }
}

const hubs = new WeakMap<ServerContext, EventHub>();

export function eventHubOf(ctx: ServerContext): EventHub {
  let h = hubs.get(ctx);
  if (!h) {
    h = new EventHub();
    hubs.set(ctx, h);
  }
  return h;
}

async function containerOf(ctx: ServerContext, id: string): Promise<ContainerRef | undefined> {
  return containerRef(ctx.handle.db, id);
}

function jobData(job: JobsTable, project: string, from?: string): Record<string, unknown> {
  return {
    _id: job.id,
    state: job.state,
    previous_state: from ?? null,
    gear_name: job.gear_name,
    destination: { type: job.destination_type, id: job.destination_id },
    project_id: project,
    batch: job.batch,
    modified: job.modified,
  };
}

async function onJobEvent(ctx: ServerContext, hub: EventHub, e: JobEvent): Promise<void> {
  if (!hub.listening()) return;
  const dest = await containerOf(ctx, e.job.destination_id);
  if (!dest) return;
  const project = dest.project_id ?? dest.id;
  const from = e.type === 'state' ? e.from : undefined;
  await hub.publish(ctx, {
    kind: 'job',
    project_id: project,
    group_id: dest.group_id,
    need: 'jobs_view',
    data: jobData(e.job, project, from),
  });
  if (e.type === 'retried') {
    await hub.publish(ctx, {
      kind: 'job',
      project_id: project,
      group_id: dest.group_id,
      need: 'jobs_view',
      data: jobData(e.previous, project),
    });
  }
}

async function onFiles(ctx: ServerContext, hub: EventHub, container: ContainersTable, written: FilesTable[]): Promise<void> {
  if (written.length === 0 || !hub.listening()) return;
  const project = container.project_id ?? container.id;
  await hub.publish(ctx, {
    kind: 'files',
    project_id: project,
    group_id: container.group_id,
    need: 'files_view_metadata',
    data: { container: { type: container.type, id: container.id }, project_id: project, names: written.map((f) => f.name) },
  });
}

export async function eventRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const hub = eventHubOf(ctx);
  const later = (p: Promise<void>) => void p.catch((err) => app.log.warn({ err }, 'live event delivery failed'));
  ctx.events.on('job', (e) => later(onJobEvent(ctx, hub, e)));
  ctx.events.on('filesCommitted', ({ container, written }) => later(onFiles(ctx, hub, container, written)));

  app.get('/events', { schema: { tags: ['events'], hide: true } }, async (req, reply) => {
    const principal = requirePrincipal(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'keep-alive',
      // nginx and similar would otherwise hold events back until a buffer fills.
      'X-Accel-Buffering': 'no',
    });
    const client: Client = {
      principal,
      sessionId: req.webSession?.id,
      close: () => res.end(),
      send: (event, data, id) => {
        res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      },
    };
    // The first bytes tell EventSource the stream is open (its `open` event) and the retry delay.
    res.write(`retry: 2000\n: connected\n\n`);
    // Added before catching up, so nothing published meanwhile falls between the replay and the live events.
    hub.add(client);
    const lastId = req.headers['last-event-id'];
    if (typeof lastId === 'string' && lastId) await hub.catchUp(ctx, client, lastId.slice(0, 64));
    const keepalive = setInterval(() => res.write(`: keepalive\n\n`), KEEPALIVE_MS);
    // A stream outlives no session: it ends when its session expires (sign-out ends it sooner).
    const expiry = req.webSession ? setTimeout(() => res.end(), Math.max(0, Date.parse(req.webSession.expires) - Date.now())) : undefined;
    const done = () => {
      clearInterval(keepalive);
      clearTimeout(expiry);
      hub.remove(client);
    };
    req.raw.on('close', done);
    res.on('close', done);
  });

  app.addHook('onClose', async () => {
    hub.clients.clear();
  });
}
