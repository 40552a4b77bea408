import type { Rule, RuleApplyResult, RuleCondition } from '@sprocket/sdk/browser';
import { CONDITION_TYPES } from '@sprocket/types';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { useParams } from 'react-router';
import { api, messageOf } from '../api/client.js';
import { configFields, initialText } from '../api/config-form.js';
import { acceptsText, fileInputsOf, type GearDoc, type Suggestion } from '../api/gears.js';
import { Empty, ErrorNote, Loading } from '../components/common.js';
import { ConfigSection, configOf, fileKey, fileOptionText, Modal } from '../components/RunDialog.js';
import '../run.css';

/** A rule as the REST API answers it (`_id`; the SDK's Rule names it `id`). */
type RuleDoc = Pick<Rule, 'gear_id' | 'name' | 'any' | 'all' | 'not' | 'disabled' | 'config' | 'fixed_inputs'> & { _id: string };
type Counts = Record<string, { launched: number; pending: number; running: number; complete: number; failed: number; cancelled: number }>;
type Group = 'any' | 'all' | 'not';

const GROUPS: { key: Group; label: string }[] = [
  { key: 'any', label: 'Any of these' },
  { key: 'all', label: 'All of these' },
  { key: 'not', label: 'None of these' },
];
const CONDITION_LABELS: Record<string, string> = {
  'file.type': 'File type is',
  'file.name': 'File name matches',
  'file.modality': 'File modality is',
  'file.classification': 'File classification has',
  'container.has-type': 'Container has a file of type',
  'container.has-classification': 'Container has a file classified',
};

function describe(c: RuleCondition): string {
  return `${CONDITION_LABELS[c.type] ?? c.type} ${c.regex ? `/${c.value}/` : c.value}`;
}

/** The condition builder: three groups of type / value / regex rows. */
function Conditions({ value, onChange }: { value: Record<Group, RuleCondition[]>; onChange: (v: Record<Group, RuleCondition[]>) => void }) {
  const set = (g: Group, i: number, patch: Partial<RuleCondition>) =>
    onChange({ ...value, [g]: value[g].map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  return (
    <>
      {GROUPS.map((g) => (
        <fieldset key={g.key} className="run-section" data-group={g.key}>
          <legend>{g.label}</legend>
          {value[g.key].map((c, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity beyond their place
            <div className="cond-row" key={i}>
              <select
                aria-label={`${g.label}: condition ${i + 1} type`}
                value={c.type}
                onChange={(e) => set(g.key, i, { type: e.target.value })}
              >
                {CONDITION_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {CONDITION_LABELS[t]}
                  </option>
                ))}
              </select>
              <input
                aria-label={`${g.label}: condition ${i + 1} value`}
                value={c.value}
                onChange={(e) => set(g.key, i, { value: e.target.value })}
              />
              <label className="check">
                <input type="checkbox" checked={!!c.regex} onChange={(e) => set(g.key, i, { regex: e.target.checked })} /> regex
              </label>
              <button
                type="button"
                className="btn btn-small btn-ghost"
                aria-label={`Remove ${g.label.toLowerCase()} condition ${i + 1}`}
                onClick={() => onChange({ ...value, [g.key]: value[g.key].filter((_, j) => j !== i) })}
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            className="btn btn-small"
            onClick={() => onChange({ ...value, [g.key]: [...value[g.key], { type: 'file.type', value: '' }] })}
          >
            Add a condition to “{g.label.toLowerCase()}”
          </button>
        </fieldset>
      ))}
    </>
  );
}

function RuleEditor({ projectId, rule, gears, onClose }: { projectId: string; rule?: RuleDoc; gears: GearDoc[]; onClose: () => void }) {
  const qc = useQueryClient();
  const formId = useId();
  const [name, setName] = useState(rule?.name ?? '');
  const [gearId, setGearId] = useState(rule?.gear_id ?? '');
  const [conds, setConds] = useState<Record<Group, RuleCondition[]>>({
    any: rule?.any ?? [{ type: 'file.type', value: '' }],
    all: rule?.all ?? [],
    not: rule?.not ?? [],
  });
  const gear = gears.find((g) => g._id === gearId);
  const fields = useMemo(() => (gear ? configFields(gear.gear) : []), [gear]);
  const inputs = useMemo(() => (gear ? fileInputsOf(gear.gear) : []), [gear]);
  // The config form as the Run dialog builds it; the rule's own values while its gear is chosen.
  const [texts, setTexts] = useState<Record<string, string>>({});
  // Once per chosen gear: a refetched gear list (a new object, the same gear) keeps what is typed.
  const formFor = useRef<string>(undefined);
  useEffect(() => {
    if (!gear || formFor.current === gear._id) return;
    formFor.current = gear._id;
    const given = gear && gear._id === rule?.gear_id ? (rule.config ?? {}) : {};
    setTexts(Object.fromEntries(fields.map((f) => [f.key, initialText(f, given[f.key])])));
  }, [fields, gear, rule]);
  // Fixed inputs: files pinned for every input but the one the rule's match fills.
  const [fixed, setFixed] = useState<Record<string, string>>(() =>
    Object.fromEntries((rule?.fixed_inputs ?? []).map((f) => [f.input, `${f.type}/${f.id}/${f.name}`])),
  );
  const suggest = useQuery({
    queryKey: ['suggest', gearId, 'project', projectId],
    queryFn: ({ signal }) => api.get<Suggestion>(`/gears/${gearId}/suggest/project/${projectId}`, undefined, signal),
    enabled: !!gear && inputs.length > 0,
  });
  const offered = useMemo(() => {
    const all = [...(suggest.data?.files ?? []), ...(suggest.data?.analyses ?? []).flatMap((a) => a.files)];
    return Object.fromEntries(inputs.map(([k]) => [k, all.filter((f) => f.suggested[k])]));
  }, [suggest.data, inputs]);
  const { config, errors: configErrors } = configOf(fields, texts);
  const save = useMutation({
    mutationFn: () => {
      const fixedInputs = inputs
        .filter(([k]) => fixed[k])
        .map(([k]) => {
          const [type, id, ...rest] = fixed[k]!.split('/');
          return { input: k, type: type!, id: id!, name: rest.join('/') };
        });
      const body = { name: name.trim(), gear_id: gearId, ...conds, config, fixed_inputs: fixedInputs };
      return rule ? api.put(`/projects/${projectId}/rules/${rule._id}`, body) : api.post(`/projects/${projectId}/rules`, body);
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['project', projectId, 'rules'] });
      void qc.invalidateQueries({ queryKey: ['jobs', 'rules', projectId] });
      onClose();
    },
  });
  return (
    <Modal title={rule ? `Edit rule ${rule.name}` : 'Add a gear rule'} onClose={onClose} wide>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className="run-row">
          <label className="field">
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={256} />
          </label>
          <div className="field">
            <label htmlFor={`${formId}-gear`}>Gear</label>
            <select id={`${formId}-gear`} value={gearId} onChange={(e) => setGearId(e.target.value)}>
              <option value="">Choose a gear…</option>
              {gears.map((g) => (
                <option key={g._id} value={g._id}>
                  {g.gear.name} {g.gear.version}
                </option>
              ))}
            </select>
          </div>
        </div>
        <Conditions value={conds} onChange={setConds} />
        {inputs.length > 0 && (
          <fieldset className="run-section">
            <legend>Inputs</legend>
            <p className="hint">The file a rule matches fills one required input; the others can be pinned to a file of the project.</p>
            {suggest.error && <p className="form-error">{messageOf(suggest.error)}</p>}
            {inputs.map(([k, spec]) => (
              <label key={k} className="field" data-input={k}>
                <span>
                  <span className="mono">{k}</span>
                  {spec.optional ? <span className="muted"> (optional)</span> : null}
                  <span className="hint"> · accepts {acceptsText(spec)}</span>
                </span>
                <select value={fixed[k] ?? ''} onChange={(e) => setFixed({ ...fixed, [k]: e.target.value })}>
                  <option value="">{spec.optional ? 'Not given' : 'The file the rule matches'}</option>
                  {/* A pinned file no longer offered (moved, or the gear changed) still shows what it is. */}
                  {fixed[k] && !(offered[k] ?? []).some((f) => fileKey(f) === fixed[k]) && (
                    <option value={fixed[k]}>{fixed[k]!.split('/').slice(2).join('/')}</option>
                  )}
                  {(offered[k] ?? []).map((f) => (
                    <option key={fileKey(f)} value={fileKey(f)}>
                      {fileOptionText(f)}
                    </option>
                  ))}
                </select>
              </label>
            ))}
          </fieldset>
        )}
        {gear && <ConfigSection fields={fields} texts={texts} setTexts={setTexts} />}
        {configErrors.length > 0 && (
          <p className="form-error">
            Fix {configErrors.length} config value{configErrors.length === 1 ? '' : 's'} first: {configErrors.join(', ')}.
          </p>
        )}
        {save.error && (
          <p className="form-error" role="alert">
            {messageOf(save.error)}
          </p>
        )}
        <div className="actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending || !name.trim() || !gearId || configErrors.length > 0}>
            Save rule
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Apply a rule to the files already there: the dry run's list first, then the real launch. */
function ApplyDialog({ projectId, rule, onClose }: { projectId: string; rule: RuleDoc; onClose: () => void }) {
  const qc = useQueryClient();
  const run = (dry: boolean) => api.post<RuleApplyResult>(`/projects/${projectId}/rules/${rule._id}/apply`, { dry_run: dry });
  const dry = useQuery({ queryKey: ['rule-dry-run', rule._id], queryFn: () => run(true), staleTime: 0, gcTime: 0 });
  const apply = useMutation({
    mutationFn: () => run(false),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['jobs'] });
      void qc.invalidateQueries({ queryKey: ['project', projectId, 'rules'] });
    },
  });
  const launches = (dry.data?.jobs ?? []) as { container: { type: string; label: string }; file: string }[];
  return (
    <Modal title={`Apply ${rule.name} to existing data`} onClose={onClose} wide>
      {dry.isPending && <Loading label="Working out what it would launch…" />}
      {dry.error && <ErrorNote error={dry.error} retry={() => void dry.refetch()} />}
      {dry.data && (
        <div data-testid="dry-run">
          <p role="status">
            Dry run: would launch <strong>{dry.data.would_launch}</strong> job{dry.data.would_launch === 1 ? '' : 's'};{' '}
            {dry.data.already_launched} already launched by this rule
            {dry.data.refused.length ? `; ${dry.data.refused.length} refused` : ''}.
          </p>
          {launches.length > 0 && (
            <table className="table" aria-label="Would launch">
              <thead>
                <tr>
                  <th scope="col">Container</th>
                  <th scope="col">Input file</th>
                </tr>
              </thead>
              <tbody>
                {launches.map((l) => (
                  <tr key={`${l.container.label}/${l.file}`}>
                    <td>
                      <span className="muted">{l.container.type}</span> {l.container.label}
                    </td>
                    <td className="mono">{l.file}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {dry.data.refused.length > 0 && (
            <ul>
              {dry.data.refused.map((r) => (
                <li key={JSON.stringify(r)} className="form-error">
                  {typeof r === 'string' ? r : JSON.stringify(r)}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {apply.error && (
        <p className="form-error" role="alert">
          {messageOf(apply.error)}
        </p>
      )}
      {apply.data && (
        <p role="status" data-testid="applied">
          Launched {apply.data.launched} job{apply.data.launched === 1 ? '' : 's'}.
        </p>
      )}
      <div className="actions">
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
        {!apply.data && (
          <button
            type="button"
            className="btn btn-primary"
            disabled={!dry.data?.would_launch || apply.isPending}
            onClick={() => apply.mutate()}
          >
            Apply: launch {dry.data?.would_launch ?? '…'}
          </button>
        )}
      </div>
    </Modal>
  );
}

/** The project's gear rules: conditions in words, on/off, edit, apply with a dry run, and what each launched. */
export function ProjectRules() {
  const { projectId = '' } = useParams();
  const qc = useQueryClient();
  const rules = useQuery({
    queryKey: ['project', projectId, 'rules'],
    queryFn: ({ signal }) => api.get<RuleDoc[]>(`/projects/${projectId}/rules`, undefined, signal),
  });
  const counts = useQuery({
    // Under 'jobs' too: job events refresh the counts as the rule's jobs finish.
    queryKey: ['jobs', 'rules', projectId],
    queryFn: ({ signal }) => api.get<Counts>(`/projects/${projectId}/rules/jobs`, undefined, signal),
  });
  const gears = useQuery({
    queryKey: ['gears', 'latest'],
    queryFn: ({ signal }) => api.get<GearDoc[]>('/gears', undefined, signal),
    // Asked again on each opening: a gear installed meanwhile is offered.
    staleTime: 0,
  });
  const [editing, setEditing] = useState<RuleDoc | 'new'>();
  const [applying, setApplying] = useState<RuleDoc>();
  const rulesKey = ['project', projectId, 'rules'];
  const toggle = useMutation({
    mutationFn: (r: RuleDoc) => api.put(`/projects/${projectId}/rules/${r._id}`, { disabled: !r.disabled }),
    // The switch flips at once; a refusal flips it back when the list is fetched again. A fetch of
    // the list already on its way (live events start them) is cancelled first, or its older answer
    // would land after the flip and undo it.
    onMutate: (r) => {
      void qc.cancelQueries({ queryKey: rulesKey }, { revert: false });
      qc.setQueryData<RuleDoc[]>(rulesKey, (old) => old?.map((x) => (x._id === r._id ? { ...x, disabled: !r.disabled } : x)));
    },
    onSettled: () => void qc.invalidateQueries({ queryKey: rulesKey }),
  });
  const remove = useMutation({
    mutationFn: (r: RuleDoc) => api.del(`/projects/${projectId}/rules/${r._id}`),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['project', projectId, 'rules'] }),
  });
  const gearName = (id: string) => gears.data?.find((g) => g._id === id)?.gear.name ?? id;
  return (
    <section aria-label="Gear rules" className="tab-body">
      <div className="toolbar">
        <span className="muted">Rules run a gear on new files that match their conditions.</span>
        <span className="toolbar-actions">
          <button type="button" className="btn btn-primary btn-small" onClick={() => setEditing('new')}>
            Add a rule…
          </button>
        </span>
      </div>
      {rules.isPending && <Loading />}
      {rules.error && <ErrorNote error={rules.error} retry={() => void rules.refetch()} />}
      {(toggle.error || remove.error) && <ErrorNote error={toggle.error ?? remove.error} />}
      {rules.data?.length === 0 && <Empty>No gear rules yet.</Empty>}
      {!!rules.data?.length && (
        <table className="table" aria-label="Gear rules">
          <thead>
            <tr>
              <th scope="col">On</th>
              <th scope="col">Name</th>
              <th scope="col">Gear</th>
              <th scope="col">When</th>
              <th scope="col" className="num">
                Launched
              </th>
              <th scope="col" className="num">
                Failed
              </th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.data.map((r) => {
              const c = counts.data?.[r._id];
              return (
                <tr key={r._id} data-rule={r._id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`${r.name} enabled`}
                      checked={!r.disabled}
                      disabled={toggle.isPending}
                      onChange={() => toggle.mutate(r)}
                    />
                  </td>
                  <td className="strong">{r.name}</td>
                  <td>{gearName(r.gear_id)}</td>
                  <td>
                    {GROUPS.filter((g) => r[g.key].length).map((g) => (
                      <div key={g.key}>
                        <span className="muted">{g.label}:</span> {r[g.key].map(describe).join('; ')}
                      </div>
                    ))}
                  </td>
                  <td className="num" data-testid="rule-launched">
                    {c ? c.launched : '…'}
                  </td>
                  <td className="num" data-testid="rule-failed">
                    {c ? c.failed : '…'}
                  </td>
                  <td>
                    <span className="actions">
                      <button type="button" className="btn btn-small" onClick={() => setApplying(r)}>
                        Apply…
                      </button>
                      <button type="button" className="btn btn-small" onClick={() => setEditing(r)}>
                        Edit…
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        onClick={() => window.confirm(`Delete the rule ${r.name}?`) && remove.mutate(r)}
                      >
                        Delete
                      </button>
                    </span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {editing && (
        <RuleEditor
          projectId={projectId}
          rule={editing === 'new' ? undefined : editing}
          gears={gears.data ?? []}
          onClose={() => setEditing(undefined)}
        />
      )}
      {applying && <ApplyDialog projectId={projectId} rule={applying} onClose={() => setApplying(undefined)} />}
    </section>
  );
}
