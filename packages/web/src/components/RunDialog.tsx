import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../api/client.js';
import { type ConfigField, configFields, constraintText, initialText, parseField } from '../api/config-form.js';
import { acceptsText, fileInputsOf, type GearDoc, type SuggestFile, type Suggestion } from '../api/gears.js';
import { sessionsQuery } from '../api/listings.js';
import type { Acquisition, FileRef, Job, Project } from '../api/types.js';
import { formatBytes } from './common.js';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal frame: labelled, Escape closes it, focus starts inside it and stays there (Tab and
 * Shift-Tab cycle through its controls), and goes back to where it was when the dialog closes.
 */
export function Modal({
  title,
  onClose,
  children,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: React.ReactNode;
  wide?: boolean;
}) {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  // The latest onClose, without re-running the effect (which would move focus back to the first
  // control) each time the opener renders a new callback.
  const close = useRef(onClose);
  close.current = onClose;
  // A layout effect: focus moves in and the Tab trap is listening in the same task that shows the
  // dialog, so a Tab pressed the moment it appears cannot reach the page behind it.
  useLayoutEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    box.current?.querySelector<HTMLElement>('select, input, textarea, button')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') close.current();
      if (e.key !== 'Tab' || !box.current) return;
      const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
      const first = items[0];
      const last = items[items.length - 1];
      if (!first || !last) return;
      const at = document.activeElement;
      if (!box.current.contains(at) || (e.shiftKey && at === first) || (!e.shiftKey && at === last)) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      before?.focus();
    };
  }, []);
  return (
    <div className="overlay">
      <div className={`modal card${wide ? ' modal-wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={id} ref={box}>
        <div className="card-head">
          <h2 id={id}>{title}</h2>
          <button type="button" className="btn btn-ghost btn-small" onClick={onClose} aria-label="Close dialog">
            ✕
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

/** One config option's control, with its constraint and, for a bad value, why. */
export function ConfigInput({ f, text, setText, error }: { f: ConfigField; text: string; setText: (t: string) => void; error?: string }) {
  const id = useId();
  const hint = [f.spec.description, constraintText(f)].filter(Boolean).join(' · ');
  const described = `${id}-hint ${error ? `${id}-err` : ''}`;
  return (
    <div className="field config-field" data-config={f.key}>
      <label htmlFor={id} className="mono">
        {f.key}
        {f.required && <span className="muted"> (required)</span>}
      </label>
      {f.kind === 'boolean' ? (
        <input
          id={id}
          type="checkbox"
          checked={text === 'true'}
          onChange={(e) => setText(String(e.target.checked))}
          aria-describedby={described}
        />
      ) : f.kind === 'enum' ? (
        <select id={id} value={text} onChange={(e) => setText(e.target.value)} aria-describedby={described} aria-invalid={!!error}>
          {!f.options!.some((o) => String(o) === text) && <option value={text}>{text || '—'}</option>}
          {f.options!.map((o) => (
            <option key={String(o)} value={String(o)}>
              {String(o)}
            </option>
          ))}
        </select>
      ) : (
        <input
          id={id}
          type="text"
          inputMode={f.kind === 'integer' || f.kind === 'number' ? 'decimal' : undefined}
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-describedby={described}
          aria-invalid={!!error}
        />
      )}
      {hint && (
        <span id={`${id}-hint`} className="hint">
          {hint}
        </span>
      )}
      {error && (
        <span id={`${id}-err`} className="form-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/**
 * The config form generated from a gear's manifest (types, enums, ranges, defaults, a message per
 * bad value), shared by the Run dialog and the rule editor. `texts` holds what is typed per key.
 */
export function ConfigSection({
  fields,
  texts,
  setTexts,
}: {
  fields: ConfigField[];
  texts: Record<string, string>;
  setTexts: (t: Record<string, string>) => void;
}) {
  return (
    <fieldset className="run-section">
      <legend>Configuration</legend>
      {fields.length === 0 && <p className="muted">This gear takes no configuration.</p>}
      <div className="config-grid">
        {fields.map((f) => {
          const p = parseField(f, texts[f.key] ?? '');
          return (
            <ConfigInput
              key={f.key}
              f={f}
              text={texts[f.key] ?? ''}
              setText={(t) => setTexts({ ...texts, [f.key]: t })}
              error={p.ok ? undefined : p.message}
            />
          );
        })}
      </div>
    </fieldset>
  );
}

/** The config values a form's texts stand for: each valid, non-empty one, parsed to its type. */
export function configOf(fields: ConfigField[], texts: Record<string, string>) {
  const parsed = Object.fromEntries(fields.map((f) => [f.key, parseField(f, texts[f.key] ?? '')]));
  const config: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(parsed)) if (p.ok && !p.empty) config[k] = p.value;
  return {
    config,
    errors: Object.entries(parsed)
      .filter(([, p]) => !p.ok)
      .map(([k]) => k),
  };
}

export const fileKey = (f: { parent_ref: { type: string; id: string }; name: string }) =>
  `${f.parent_ref.type}/${f.parent_ref.id}/${f.name}`;

/** The option text of a file a picker offers: name, type, size, and where it comes from. */
export function fileOptionText(f: SuggestFile): string {
  return `${f.name} (${f.type ?? 'unknown type'}, ${formatBytes(f.size)})${f.parent_ref.type === 'analysis' ? ' · from an analysis' : ''}`;
}

/**
 * The Run dialog: where the job goes (project → session → acquisition), a picker per file input
 * that offers only the files of that container the server says fit the input (the gear spec's
 * directives, as `suggest` applies them), the config form from the manifest, and Launch.
 */
export function RunDialog({ gear, fromJob, onClose }: { gear: GearDoc; fromJob?: string; onClose: () => void }) {
  const m = gear.gear;
  const fields = useMemo(() => configFields(m), [m]);
  const inputs = useMemo(() => fileInputsOf(m), [m]);
  const qc = useQueryClient();
  const formId = useId();

  const previous = useQuery({
    queryKey: ['job', fromJob, 'plain'],
    queryFn: ({ signal }) => api.get<Job>(`/jobs/${fromJob}`, undefined, signal),
    enabled: !!fromJob,
  });
  const [projectId, setProjectId] = useState('');
  const [sessionId, setSessionId] = useState('');
  const [acquisitionId, setAcquisitionId] = useState('');
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((f) => [f.key, initialText(f, undefined)])),
  );
  const [touched, setTouched] = useState(false);

  // "Run again": the earlier job's destination, inputs and config, once it has loaded.
  const prefilled = useRef(false);
  useEffect(() => {
    const j = previous.data;
    if (!j || prefilled.current) return;
    prefilled.current = true;
    setProjectId(j.parents.project ?? '');
    setSessionId(j.parents.session ?? (j.destination.type === 'session' ? j.destination.id : ''));
    setAcquisitionId(j.destination.type === 'acquisition' ? j.destination.id : '');
    const given = ((j.config as { config?: Record<string, unknown> }).config ?? j.config) as Record<string, unknown>;
    setTexts(Object.fromEntries(fields.map((f) => [f.key, initialText(f, given[f.key])])));
    setChosen(
      Object.fromEntries(
        Object.entries(j.inputs)
          .filter((e): e is [string, FileRef] => !!e[1])
          .map(([k, r]) => [k, `${r.type}/${r.id}/${r.name}`]),
      ),
    );
  }, [previous.data, fields]);

  const projects = useQuery({ queryKey: ['projects'], queryFn: ({ signal }) => api.get<Project[]>('/projects', undefined, signal) });
  const sessions = useQuery({ ...sessionsQuery(projectId), enabled: !!projectId });
  const acquisitions = useQuery({
    queryKey: ['session', sessionId, 'acquisitions'],
    queryFn: ({ signal }) => api.get<Acquisition[]>(`/sessions/${sessionId}/acquisitions`, undefined, signal),
    enabled: !!sessionId,
  });
  const dest = acquisitionId
    ? { type: 'acquisition', id: acquisitionId }
    : sessionId
      ? { type: 'session', id: sessionId }
      : projectId
        ? { type: 'project', id: projectId }
        : undefined;
  const suggest = useQuery({
    queryKey: ['suggest', gear._id, dest?.type, dest?.id],
    queryFn: ({ signal }) => api.get<Suggestion>(`/gears/${gear._id}/suggest/${dest!.type}/${dest!.id}`, undefined, signal),
    enabled: !!dest && inputs.length > 0,
  });
  const candidates = useMemo(() => {
    const all: SuggestFile[] = [...(suggest.data?.files ?? []), ...(suggest.data?.analyses ?? []).flatMap((a) => a.files)];
    return Object.fromEntries(inputs.map(([k]) => [k, all.filter((f) => f.suggested[k])]));
  }, [suggest.data, inputs]);
  // A single fitting file is the obvious choice; a choice that no longer fits is dropped.
  useEffect(() => {
    if (!suggest.data) return;
    setChosen((prev) => {
      const next = { ...prev };
      for (const [k] of inputs) {
        const fits = candidates[k] ?? [];
        if (next[k] && !fits.some((f) => fileKey(f) === next[k])) delete next[k];
        if (!next[k] && fits.length === 1) next[k] = fileKey(fits[0]!);
      }
      return next;
    });
  }, [suggest.data, candidates, inputs]);

  const { config, errors: configErrors } = configOf(fields, texts);
  const missingInputs = inputs.filter(([k, spec]) => !spec.optional && !chosen[k]).map(([k]) => k);

  const launch = useMutation({
    mutationFn: () => {
      const inputRefs: Record<string, FileRef> = {};
      for (const [k, key] of Object.entries(chosen)) {
        const [type, id, ...rest] = key.split('/');
        inputRefs[k] = { type: type!, id: id!, name: rest.join('/') };
      }
      return api.post<{ _id: string }>('/jobs/add', { gear_id: gear._id, destination: dest, inputs: inputRefs, config });
    },
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['jobs'] }),
  });

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (!dest || configErrors.length || missingInputs.length) return;
    launch.mutate();
  };

  if (launch.data) {
    return (
      <Modal title={`Run ${m.name}`} onClose={onClose}>
        <p role="status">
          Queued job <span className="mono">{launch.data._id}</span>.
        </p>
        <div className="actions">
          <Link className="btn" to={`/jobs/${launch.data._id}`}>
            Open the job
          </Link>
          {projectId && (
            <Link className="btn btn-primary" to={`/projects/${projectId}/jobs`}>
              See it in the project's jobs
            </Link>
          )}
        </div>
      </Modal>
    );
  }

  return (
    <Modal title={`Run ${m.name} ${m.version}`} onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <fieldset className="run-section">
          <legend>Destination</legend>
          <div className="run-row">
            <div className="field">
              <label htmlFor={`${formId}-project`}>Project</label>
              <select
                id={`${formId}-project`}
                value={projectId}
                onChange={(e) => {
                  setProjectId(e.target.value);
                  setSessionId('');
                  setAcquisitionId('');
                }}
              >
                <option value="">Choose a project…</option>
                {projects.data?.map((p) => (
                  <option key={p._id} value={p._id}>
                    {p.group} / {p.label}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${formId}-session`}>Session</label>
              <select
                id={`${formId}-session`}
                value={sessionId}
                disabled={!projectId}
                onChange={(e) => {
                  setSessionId(e.target.value);
                  setAcquisitionId('');
                }}
              >
                <option value="">{projectId ? '(the project itself)' : '—'}</option>
                {sessions.data?.map((s) => (
                  <option key={s._id} value={s._id}>
                    {s.subject.label ?? s.subject.code} / {s.label}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${formId}-acquisition`}>Acquisition</label>
              <select
                id={`${formId}-acquisition`}
                value={acquisitionId}
                disabled={!sessionId}
                onChange={(e) => setAcquisitionId(e.target.value)}
              >
                <option value="">{sessionId ? '(the session itself)' : '—'}</option>
                {acquisitions.data?.map((a) => (
                  <option key={a._id} value={a._id}>
                    {a.label}
                  </option>
                ))}
              </select>
            </div>
          </div>
          {touched && !dest && <p className="form-error">Choose where the job runs: a project, session or acquisition.</p>}
        </fieldset>

        {inputs.length > 0 && (
          <fieldset className="run-section">
            <legend>Inputs</legend>
            {!dest && <p className="muted">Choose a destination to see the files that fit.</p>}
            {suggest.error && <p className="form-error">{messageOf(suggest.error)}</p>}
            {dest &&
              inputs.map(([k, spec]) => {
                const fits = candidates[k] ?? [];
                return (
                  <label key={k} className="field" data-input={k}>
                    <span>
                      <span className="mono">{k}</span>
                      {spec.optional ? <span className="muted"> (optional)</span> : null}
                      <span className="hint"> · accepts {acceptsText(spec)}</span>
                    </span>
                    <select value={chosen[k] ?? ''} onChange={(e) => setChosen({ ...chosen, [k]: e.target.value })}>
                      <option value="">
                        {suggest.isPending ? 'Loading files…' : fits.length ? 'Choose a file…' : 'No file here fits this input'}
                      </option>
                      {fits.map((f) => (
                        <option key={fileKey(f)} value={fileKey(f)}>
                          {fileOptionText(f)}
                        </option>
                      ))}
                    </select>
                    {touched && !spec.optional && !chosen[k] && <span className="form-error">Choose a file for {k}.</span>}
                  </label>
                );
              })}
          </fieldset>
        )}

        <ConfigSection fields={fields} texts={texts} setTexts={setTexts} />
        {previous.error && <p className="form-error">The earlier job could not be loaded: {messageOf(previous.error)}</p>}
        {launch.error && (
          <p className="form-error" role="alert">
            {messageOf(launch.error)}
          </p>
        )}
        <div className="actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={launch.isPending}>
            {launch.isPending ? 'Launching…' : 'Launch'}
          </button>
        </div>
        {touched && configErrors.length > 0 && (
          <p className="form-error">
            Fix {configErrors.length} config value{configErrors.length === 1 ? '' : 's'} first: {configErrors.join(', ')}.
          </p>
        )}
      </form>
    </Modal>
  );
}
