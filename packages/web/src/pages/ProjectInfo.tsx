import type { Note } from '@sprocket/sdk/browser';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useParams } from 'react-router';
import { api, messageOf } from '../api/client.js';
import { deleteAt, infoValueText, parseInfoValue, setAt } from '../api/info-value.js';
import type { Project } from '../api/types.js';
import { Empty, ErrorNote, formatTime, Loading } from '../components/common.js';
import '../run.css';

type Info = Record<string, unknown>;
type ProjectDoc = Project & { info?: Info; notes?: (Omit<Note, 'id'> & { _id: string })[] };

const isObject = (v: unknown): v is Info => !!v && typeof v === 'object' && !Array.isArray(v);

/** One key of the tree: an object unfolds (collapsible), a value edits in place. */
function Entry({
  name,
  value,
  path,
  save,
}: {
  name: string;
  value: unknown;
  path: string[];
  save: (path: string[], v: unknown | undefined) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const where = path.join('.');
  if (isObject(value)) {
    return (
      <li data-info={where}>
        <details open={path.length < 2}>
          <summary>
            <span className="info-key">{name}</span> <span className="muted">{Object.keys(value).length} keys</span>
          </summary>
          <InfoTree info={value} path={path} save={save} />
        </details>
      </li>
    );
  }
  return (
    <li data-info={where}>
      <span className="info-key">{name}</span>:{' '}
      {editing ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            save(path, parseInfoValue(text));
            setEditing(false);
          }}
        >
          <input aria-label={`Value of ${where}`} value={text} onChange={(e) => setText(e.target.value)} />
          <button type="submit" className="btn btn-small btn-primary">
            Save
          </button>
          <button type="button" className="btn btn-small" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <span className="mono">{JSON.stringify(value)}</span>{' '}
          <button
            type="button"
            className="btn btn-small btn-ghost"
            aria-label={`Edit ${where}`}
            onClick={() => {
              setText(infoValueText(value));
              setEditing(true);
            }}
          >
            Edit
          </button>
          <button type="button" className="btn btn-small btn-ghost" aria-label={`Delete ${where}`} onClick={() => save(path, undefined)}>
            Delete
          </button>
        </>
      )}
    </li>
  );
}

function InfoTree({ info, path, save }: { info: Info; path: string[]; save: (path: string[], v: unknown | undefined) => void }) {
  const [key, setKey] = useState('');
  const [text, setText] = useState('');
  const where = path.length ? path.join('.') : 'info';
  return (
    <ul>
      {Object.entries(info)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => (
          <Entry key={k} name={k} value={v} path={[...path, k]} save={save} />
        ))}
      <li>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!key.trim()) return;
            save([...path, key.trim()], parseInfoValue(text));
            setKey('');
            setText('');
          }}
        >
          <input aria-label={`New key in ${where}`} placeholder="key" value={key} onChange={(e) => setKey(e.target.value)} />
          <input
            aria-label={`New value in ${where}`}
            placeholder='value (text, 3, true, {"a": 1} …)'
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <button type="submit" className="btn btn-small" disabled={!key.trim()} aria-label={`Add the key to ${where}`}>
            Add
          </button>
        </form>
      </li>
    </ul>
  );
}

/** The project's `info` as a collapsible, editable tree; its tags; its notes. */
export function ProjectInfo() {
  const { projectId = '' } = useParams();
  return <ContainerInfo path={`/projects/${projectId}`} queryKey={['project', projectId]} />;
}

/**
 * Any container's `info` tree, tags and notes (the project tab, and the session, acquisition and
 * analysis pages): `path` is its API path, `queryKey` where its document is cached, refreshed after
 * each change.
 */
export function ContainerInfo({ path: base, queryKey }: { path: string; queryKey: unknown[] }) {
  const qc = useQueryClient();
  const project = useQuery({ queryKey, queryFn: () => api.get<ProjectDoc>(base) });
  const refresh = () => void qc.invalidateQueries({ queryKey });
  const info = useMutation({
    // One top-level key changes at a time: `set` (or `delete`) that key only, so concurrent edits of other keys survive.
    mutationFn: ({ path, value }: { path: string[]; value: unknown | undefined }) => {
      const current = project.data?.info ?? {};
      const top = path[0]!;
      const next = value === undefined ? deleteAt(current, path) : setAt(current, path, value);
      return api.post(`${base}/info`, top in next ? { set: { [top]: next[top] } } : { delete: [top] });
    },
    onSettled: refresh,
  });
  const [tag, setTag] = useState('');
  const addTag = useMutation({ mutationFn: (v: string) => api.post(`${base}/tags`, { value: v }), onSettled: refresh });
  const dropTag = useMutation({
    mutationFn: (v: string) => api.del(`${base}/tags/${encodeURIComponent(v)}`),
    onSettled: refresh,
  });
  const [note, setNote] = useState('');
  const addNote = useMutation({ mutationFn: (text: string) => api.post(`${base}/notes`, { text }), onSettled: refresh });
  const dropNote = useMutation({ mutationFn: (id: string) => api.del(`${base}/notes/${id}`), onSettled: refresh });

  if (project.isPending) return <Loading />;
  if (project.error) return <ErrorNote error={project.error} retry={() => void project.refetch()} />;
  const p = project.data;
  const err = info.error ?? addTag.error ?? dropTag.error ?? addNote.error ?? dropNote.error;
  return (
    <section aria-label="Information" className="tab-body">
      {err && <ErrorNote error={err} />}
      <section className="card" aria-labelledby="info-h">
        <div className="card-head">
          <h2 id="info-h">Info</h2>
          {info.isPending && <span className="muted">Saving…</span>}
        </div>
        <div className="info-tree" data-testid="info-tree">
          <InfoTree info={p.info ?? {}} path={[]} save={(path, value) => info.mutate({ path, value })} />
        </div>
      </section>
      <section className="card" aria-labelledby="tags-h">
        <h2 id="tags-h">Tags</h2>
        <div className="tags">
          {p.tags.length === 0 && <span className="muted">No tags.</span>}
          {p.tags.map((t) => (
            <span key={t} className="tag">
              {t}{' '}
              <button type="button" className="btn-ghost" aria-label={`Remove tag ${t}`} onClick={() => dropTag.mutate(t)}>
                ✕
              </button>
            </span>
          ))}
        </div>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (tag.trim()) addTag.mutate(tag.trim());
            setTag('');
          }}
        >
          <input aria-label="New tag" value={tag} onChange={(e) => setTag(e.target.value)} maxLength={256} />
          <button type="submit" className="btn btn-small" disabled={!tag.trim()}>
            Add tag
          </button>
        </form>
      </section>
      <section className="card" aria-labelledby="notes-h">
        <h2 id="notes-h">Notes</h2>
        {!p.notes?.length && <Empty>No notes.</Empty>}
        <ul className="notes">
          {p.notes?.map((n) => (
            <li key={n._id}>
              <p>{n.text}</p>
              <span className="muted">
                {n.user} · {formatTime(n.created)}
              </span>{' '}
              <button type="button" className="btn btn-small btn-ghost" onClick={() => dropNote.mutate(n._id)}>
                Delete
              </button>
            </li>
          ))}
        </ul>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (note.trim()) addNote.mutate(note.trim());
            setNote('');
          }}
        >
          <label className="field">
            New note
            <textarea value={note} onChange={(e) => setNote(e.target.value)} rows={3} maxLength={100_000} />
          </label>
          <button type="submit" className="btn btn-small" disabled={!note.trim()}>
            Add note
          </button>
        </form>
      </section>
      {(addNote.error || dropNote.error) && <p className="form-error">{messageOf(addNote.error ?? dropNote.error)}</p>}
    </section>
  );
}
