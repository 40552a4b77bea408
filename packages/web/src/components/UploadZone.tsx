import { planSeries } from '@sprocket/types';
import { useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useRef, useState } from 'react';
import { api, messageOf } from '../api/client.js';
import type { Acquisition } from '../api/types.js';
import { formatBytes, InlineError } from './common.js';
import { type PageType, PLURAL } from './containers.js';
import { collectDrop, collectInput, type Picked } from './upload/collect.js';
import { type DroppedDicom, mayBeDicom, readDicomHeader, zipSeries } from './upload/dicom.js';
import { csrfToken, sendFile } from './upload/send.js';

type TaskState = 'queued' | 'uploading' | 'done' | 'failed';

interface Task {
  key: string;
  /** What lands: a file name, or a series' zip. */
  name: string;
  /** Where it lands, for a series: the acquisition it goes to. */
  detail?: string;
  files: number;
  bytes: number;
  progress: number;
  state: TaskState;
  error?: string;
}

type Job = { task: Task; run: (csrf: string, onProgress: (f: number) => void) => Promise<void> };

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
    const acquisitionIds = new Map<string, Promise<string>>();
    const acquisitionFor = (label: string) => {
      let idOf = acquisitionIds.get(label);
      if (!idOf) {
        acquisitions ??= api.get<Acquisition[]>(`/sessions/${id}/acquisitions`);
        idOf = acquisitions.then(
          async (list) =>
            list.find((a) => a.label === label)?._id ?? (await api.post<{ _id: string }>('/acquisitions', { session: id, label }))._id,
        );
        acquisitionIds.set(label, idOf);
      }
      return idOf;
    };
    for (const series of planSeries(dicom)) {
      const task: Task = {
        key: `${stamp}-s-${series.acquisition.uid}`,
        name: series.zipName,
        detail: type === 'session' ? `acquisition ${series.acquisition.label}` : `series ${series.acquisition.label}`,
        files: series.files.length,
        bytes: series.bytes,
        progress: 0,
        state: 'queued',
      };
      jobs.push({
        task,
        run: async (csrf, onProgress) => {
          if (series.bytes > MAX_SERIES_BYTES)
            throw new Error(
              `this series is ${formatBytes(series.bytes)}, more than the ${formatBytes(MAX_SERIES_BYTES)} a browser tab can zip; import it with 'sprocket import dicom'`,
            );
          // On a session, one acquisition per series as the CLI's import makes them; a re-drop adds to the same one.
          const target =
            type === 'session'
              ? `/api/acquisitions/${await acquisitionFor(series.acquisition.label)}/files`
              : `/api/${PLURAL[type]}/${id}/files`;
          const zip = await zipSeries(series.files);
          await sendFile(target, zip, series.zipName, { csrf, metadata: { type: 'dicom' }, onProgress });
        },
      });
    }
    others.forEach((p, i) => {
      const name = p.path.split('/').pop() || p.file.name;
      jobs.push({
        task: { key: `${stamp}-f-${i}`, name, files: 1, bytes: p.file.size, progress: 0, state: 'queued' },
        run: (csrf, onProgress) => sendFile(`/api/${PLURAL[type]}/${id}/files`, p.file, name, { csrf, onProgress }).then(() => undefined),
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
    const queue = [...jobs];
    const worker = async () => {
      for (let j = queue.shift(); j; j = queue.shift()) {
        const { key } = j.task;
        patch(key, { state: 'uploading' });
        try {
          await j.run(csrf, (progress) => patch(key, { progress }));
          patch(key, { state: 'done', progress: 1 });
        } catch (e) {
          patch(key, { state: 'failed', error: messageOf(e) });
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
              <span className="upload-state">{t.state === 'uploading' ? `${Math.round(t.progress * 100)} %` : t.state}</span>
              <InlineError error={t.error} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
