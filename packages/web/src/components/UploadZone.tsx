import { planSeries } from '@sprocket/types';
import { useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useRef, useState } from 'react';
import { api, messageOf } from '../api/client.js';
import type { Acquisition } from '../api/types.js';
import { formatBytes, InlineError } from './common.js';
import { type PageType, PLURAL } from './containers.js';
import { collectDrop, collectInput, type Picked } from './upload/collect.js';
import { type DroppedDicom, mayBeDicom, membersSent, readDicomHeader, zipSeries } from './upload/dicom.js';
import { csrfToken, type Progress, sendFile, UploadCancelled } from './upload/send.js';

type TaskState = 'queued' | 'uploading' | 'done' | 'failed' | 'cancelled';

interface Task {
  key: string;
  /** What lands: a file name, or a series' zip. */
  name: string;
  /** Where it lands, for a series: the acquisition it goes to. */
  detail?: string;
  files: number;
  /** Files of it whose bytes have all gone (for a series, members of its zip). */
  filesDone: number;
  bytes: number;
  progress: number;
  state: TaskState;
  error?: string;
}

interface Job {
  task: Task;
  /** Cancels this upload, queued or under way. */
  abort: AbortController;
  run: (csrf: string, onProgress: (fraction: number, filesDone: number) => void, signal: AbortSignal) => Promise<void>;
  /** After a cancelled run: undo what the run made on the way (an acquisition it created). */
  cleanUp?: () => Promise<void>;
}

/** Uploads at once: enough to keep the line busy, few enough that each shows steady progress. */
const PARALLEL = 3;
/** A series is zipped in the tab's memory before it is sent; past this, the CLI's streaming import is the tool. */
const MAX_SERIES_BYTES = 1024 ** 3;

/**
 * Drop files or a whole folder (or pick them) onto a container: DICOM files are sorted into series
 * as the CLI's `import dicom` sorts them (@sprocket/types planSeries) and each series is uploaded as
 * one `<acquisition>.dicom.zip` (on a session, into an acquisition of that label, made if missing);
 * everything else is uploaded file by file. Each upload has its own progress bar and its own error.
 */
export function UploadZone({ type, id }: { type: PageType; id: string }) {
  const qc = useQueryClient();
  const [tasks, setTasks] = useState<Task[]>([]);
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const filesInput = useRef<HTMLInputElement>(null);
  const controllers = useRef(new Map<string, AbortController>());
  const folderInput = useRef<HTMLInputElement>(null);

  const patch = (key: string, p: Partial<Task>) => setTasks((ts) => ts.map((t) => (t.key === key ? { ...t, ...p } : t)));

  async function plan(picked: Picked[]): Promise<Job[]> {
    const maybe = await Promise.all(picked.map((p) => mayBeDicom(p.file)));
    const headers = await Promise.all(picked.map((p, i) => (maybe[i] ? readDicomHeader(p) : undefined)));
    const dicom = headers.filter((h): h is DroppedDicom => !!h);
    const others = picked.filter((_, i) => !headers[i]);
    const jobs: Job[] = [];
    const stamp = Date.now();
    let acquisitions: Promise<Acquisition[]> | undefined;
    // One creation per label, however many series of the drop share it and upload at once.
    const acquisitionIds = new Map<string, Promise<{ id: string; created: boolean }>>();
    // Not cancelled with one series: the lookup and the creation are shared by the drop's series.
    const acquisitionFor = (label: string) => {
      let idOf = acquisitionIds.get(label);
      if (!idOf) {
        acquisitions ??= api.get<Acquisition[]>(`/sessions/${id}/acquisitions`);
        idOf = acquisitions.then(async (list) => {
          const found = list.find((a) => a.label === label)?._id;
          if (found) return { id: found, created: false };
          const made = await api.post<{ _id: string }>('/acquisitions', { session: id, label });
          return { id: made._id, created: true };
        });
        acquisitionIds.set(label, idOf);
      }
      return idOf;
    };
    // Series per label still to finish: the last one cancelled takes away an acquisition the drop
    // made and nothing filled, so a cancelled upload leaves nothing behind.
    const pending = new Map<string, number>();
    const removeIfUnused = async (label: string) => {
      const left = (pending.get(label) ?? 1) - 1;
      pending.set(label, left);
      const made = await acquisitionIds.get(label)?.catch(() => undefined);
      if (left > 0 || !made?.created) return;
      const a = await api.get<Acquisition>(`/acquisitions/${made.id}`);
      if (a.files.length === 0) await api.del(`/acquisitions/${made.id}`);
    };
    for (const series of planSeries(dicom)) {
      const label = series.acquisition.label;
      pending.set(label, (pending.get(label) ?? 0) + 1);
      const task: Task = {
        key: `${stamp}-s-${series.acquisition.uid}`,
        name: series.zipName,
        detail: type === 'session' ? `acquisition ${label}` : `series ${label}`,
        files: series.files.length,
        filesDone: 0,
        bytes: series.bytes,
        progress: 0,
        state: 'queued',
      };
      jobs.push({
        task,
        abort: new AbortController(),
        cleanUp: type === 'session' ? () => removeIfUnused(label) : undefined,
        run: async (csrf, onProgress, signal) => {
          if (series.bytes > MAX_SERIES_BYTES)
            throw new Error(
              `this series is ${formatBytes(series.bytes)}, more than the ${formatBytes(MAX_SERIES_BYTES)} a browser tab can zip; import it with 'sprocket import dicom'`,
            );
          // On a session, one acquisition per series as the CLI's import makes them; a re-drop adds to the same one.
          const target =
            type === 'session' ? `/api/acquisitions/${(await acquisitionFor(label)).id}/files` : `/api/${PLURAL[type]}/${id}/files`;
          const zip = await zipSeries(series.files);
          if (signal.aborted) throw new UploadCancelled();
          // Files done inside the series as its zip's bytes go up, not only the zip's percentage.
          const progress: Progress = (sent, size) => onProgress(sent / size, membersSent(zip, sent));
          await sendFile(target, zip.blob, series.zipName, { csrf, metadata: { type: 'dicom' }, onProgress: progress, signal });
        },
      });
    }
    others.forEach((p, i) => {
      const name = p.path.split('/').pop() || p.file.name;
      jobs.push({
        task: { key: `${stamp}-f-${i}`, name, files: 1, filesDone: 0, bytes: p.file.size, progress: 0, state: 'queued' },
        abort: new AbortController(),
        run: (csrf, onProgress, signal) =>
          sendFile(`/api/${PLURAL[type]}/${id}/files`, p.file, name, {
            csrf,
            onProgress: (sent, size) => onProgress(size ? sent / size : 1, sent === size ? 1 : 0),
            signal,
          }).then(() => undefined),
      });
    });
    return jobs;
  }

  async function start(picked: Picked[]) {
    setError(undefined);
    if (!picked.length) return;
    let jobs: Job[];
    let csrf: string;
    try {
      setBusy(`Reading ${picked.length.toLocaleString()} files…`);
      [jobs, csrf] = await Promise.all([plan(picked), csrfToken()]);
    } catch (e) {
      setError(messageOf(e));
      setBusy(undefined);
      return;
    }
    setBusy(undefined);
    setTasks((ts) => [...jobs.map((j) => j.task), ...ts]);
    for (const j of jobs) controllers.current.set(j.task.key, j.abort);
    const queue = [...jobs];
    const worker = async () => {
      for (let j = queue.shift(); j; j = queue.shift()) {
        const { key } = j.task;
        const { signal } = j.abort;
        try {
          if (signal.aborted) throw new UploadCancelled();
          patch(key, { state: 'uploading' });
          await j.run(csrf, (progress, filesDone) => patch(key, { progress, filesDone }), signal);
          patch(key, { state: 'done', progress: 1, filesDone: j.task.files });
        } catch (e) {
          if (e instanceof UploadCancelled || signal.aborted) {
            patch(key, { state: 'cancelled' });
            await j.cleanUp?.().catch((err: unknown) => patch(key, { error: `Cancelled, but: ${messageOf(err)}` }));
          } else patch(key, { state: 'failed', error: messageOf(e) });
        } finally {
          controllers.current.delete(key);
        }
        void qc.invalidateQueries({ queryKey: ['container', type, id] });
        void qc.invalidateQueries({ queryKey: ['children', type, id] });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, jobs.length) }, worker));
    void qc.invalidateQueries({ queryKey: ['project'] });
  }

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    collectDrop(e.dataTransfer).then(start, (err: unknown) => setError(messageOf(err)));
  };
  const onPick = (list: FileList | null) => {
    if (!list) return;
    try {
      void start(collectInput(list));
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <section className="upload" aria-label="Upload">
      {/* biome-ignore lint/a11y/noStaticElementInteractions: the drop target; the buttons inside do the same by keyboard */}
      <div
        className={`dropzone${over ? ' dropzone-over' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <span>Drop files or a folder here to upload. DICOM is sorted into series.</span>
        <button type="button" className="btn btn-small" onClick={() => filesInput.current?.click()}>
          Choose files
        </button>
        <button type="button" className="btn btn-small" onClick={() => folderInput.current?.click()}>
          Choose a folder
        </button>
        <input ref={filesInput} type="file" multiple hidden onChange={(e) => onPick(e.target.files)} data-testid="upload-files" />
        <input
          ref={folderInput}
          type="file"
          hidden
          onChange={(e) => onPick(e.target.files)}
          data-testid="upload-folder"
          {...{ webkitdirectory: '' }}
        />
      </div>
      {busy && <p className="muted">{busy}</p>}
      {error && (
        <div className="banner banner-error" role="alert">
          {error}
        </div>
      )}
      {tasks.some((t) => t.state === 'queued' || t.state === 'uploading') && (
        <button
          type="button"
          className="btn btn-small"
          onClick={() => {
            for (const c of controllers.current.values()) c.abort();
          }}
        >
          Cancel all uploads
        </button>
      )}
      {tasks.length > 0 && (
        <ul className="uploads" aria-label="Uploads">
          {tasks.map((t) => (
            <li key={t.key} className={`upload-item upload-${t.state}`} data-upload={t.name} data-state={t.state}>
              <span className="truncate strong">{t.name}</span>
              <span className="muted">
                {t.detail ? `${t.detail} · ` : ''}
                {t.files > 1 ? `${t.files} files · ` : ''}
                {formatBytes(t.bytes)}
              </span>
              <progress max={1} value={t.progress} aria-label={`Upload of ${t.name}`} />
              <span className="upload-state">
                {t.files > 1 && (
                  <span data-testid="files-done">
                    {t.filesDone.toLocaleString()} of {t.files.toLocaleString()} files ·{' '}
                  </span>
                )}
                {t.state === 'uploading' ? `${Math.round(t.progress * 100)} %` : t.state}
              </span>
              {(t.state === 'queued' || t.state === 'uploading') && (
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  aria-label={`Cancel the upload of ${t.name}`}
                  onClick={() => controllers.current.get(t.key)?.abort()}
                >
                  Cancel
                </button>
              )}
              <InlineError error={t.error} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
