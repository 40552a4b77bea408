import type { ContainersTable, FilesTable, JobsTable } from './db/schema.js';

/** Files landed on a container, or their metadata changed (`replaced` holds the rows before). */
export interface FilesCommitted {
  container: ContainersTable;
  written: FilesTable[];
  replaced: FilesTable[];
  /** Set by the module that emitted it, so that module can leave its own changes alone. */
  source?: 'dicom';
}

/** What happened to a job: batch state and gear rules follow these. */
export type JobEvent =
  | { type: 'enqueued'; job: JobsTable }
  | { type: 'state'; job: JobsTable; from: string }
  | { type: 'retried'; job: JobsTable; previous: JobsTable };

export interface ServerEventMap {
  filesCommitted: FilesCommitted;
  job: JobEvent;
}

export type ServerEventListener<K extends keyof ServerEventMap> = (event: ServerEventMap[K]) => Promise<void> | void;

/**
 * The domain's events, one emitter per server. Listeners (gear rules, DICOM import) run one after
 * another and are awaited, so a write's reply leaves after the rules it triggered were judged, as
 * tests and clients expect; node's EventEmitter neither awaits nor orders async listeners. A
 * listener is told after the change has committed: its failure never undoes it, so it is
 * reported as a warning and the next listener still runs.
 */
export class ServerEvents {
  private readonly listeners: { [K in keyof ServerEventMap]: ServerEventListener<K>[] } = { filesCommitted: [], job: [] };

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof ServerEventMap>(name: K, fn: ServerEventListener<K>): () => void {
    const list = this.listeners[name] as ServerEventListener<K>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  async emit<K extends keyof ServerEventMap>(name: K, event: ServerEventMap[K]): Promise<void> {
    for (const fn of [...(this.listeners[name] as ServerEventListener<K>[])]) {
      try {
        await fn(event);
      } catch (e) {
        process.emitWarning(`${name} listener failed (${describe(name, event)}): ${(e as Error).message}`);
      }
    }
  }
}

function describe<K extends keyof ServerEventMap>(name: K, event: ServerEventMap[K]): string {
  if (name === 'job') {
    const e = event as JobEvent;
    return `${e.type} of job ${e.job.id}`;
  }
  const e = event as FilesCommitted;
  return `${e.container.type} ${e.container.id}`;
}
