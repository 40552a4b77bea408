import type { ConfigSpec } from '@sprocket/types';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { acceptsText, type GearDoc, useAllGears } from '../api/gears.js';
import { Empty, ErrorNote, formatDate, Loading } from '../components/common.js';
import { RunDialog } from '../components/RunDialog.js';
import '../run.css';

function Manifest({ g }: { g: GearDoc }) {
  const m = g.gear;
  const inputs = Object.entries(m.inputs ?? {});
  const config = Object.entries(m.config ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      <p>{m.description}</p>
      <dl className="facts card">
        <div>
          <dt>Version</dt>
          <dd className="mono">{m.version}</dd>
        </div>
        <div>
          <dt>Category</dt>
          <dd>{g.category}</dd>
        </div>
        <div>
          <dt>Author</dt>
          <dd>{m.author}</dd>
        </div>
        <div>
          <dt>License</dt>
          <dd>{m.license}</dd>
        </div>
        <div>
          <dt>Installed</dt>
          <dd>{formatDate(g.created)}</dd>
        </div>
      </dl>
      <section className="card" aria-labelledby="inputs-h">
        <h2 id="inputs-h">Inputs</h2>
        {inputs.length === 0 ? (
          <p className="muted">No inputs.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Accepts</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {inputs.map(([k, spec]) => (
                <tr key={k}>
                  <td className="mono">
                    {k}
                    {spec.optional ? <span className="muted"> (optional)</span> : null}
                  </td>
                  <td>{spec.base}</td>
                  <td>{spec.base === 'file' ? acceptsText(spec) : '—'}</td>
                  <td>{spec.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card" aria-labelledby="config-h">
        <h2 id="config-h">Configuration</h2>
        {config.length === 0 ? (
          <p className="muted">This gear takes no configuration.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Option</th>
                <th scope="col">Type</th>
                <th scope="col">Default</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {config.map(([k, spec]) => (
                <tr key={k}>
                  <td className="mono">{k}</td>
                  <td>{(spec as ConfigSpec).enum ? `one of ${(spec.enum as unknown[]).map(String).join(', ')}` : spec.type}</td>
                  <td className="mono">{'default' in spec ? JSON.stringify(spec.default) : '—'}</td>
                  <td>{spec.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <details className="card">
        <summary>Manifest (JSON)</summary>
        <pre className="log">{JSON.stringify(m, null, 2)}</pre>
      </details>
    </>
  );
}

/**
 * Installed gears, each with its versions; the chosen version's manifest; its Run dialog
 * (`?run=1`, and `&from=<job>` to start from an earlier job's inputs and config).
 */
export function GearsPage() {
  const { gearId } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const gears = useAllGears();
  const all = gears.data ?? [];
  const selected = all.flatMap((n) => n.versions).find((g) => g._id === gearId) ?? (gearId ? undefined : all[0]?.versions[0]);
  const running = params.get('run') === '1' && selected;
  return (
    <div className="page gears">
      <div className="page-head">
        <h1>Gears</h1>
      </div>
      {gears.isPending && <Loading label="Loading gears…" />}
      {gears.error && <ErrorNote error={gears.error} retry={() => void gears.refetch()} />}
      {gears.data && all.length === 0 && <Empty>No gears are installed. A site admin adds them with `sprocket gear upload`.</Empty>}
      {all.length > 0 && (
        <div className="gears-grid">
          <nav aria-label="Installed gears" className="card gear-list">
            <ul>
              {all.map(({ name, versions }) => (
                <li key={name}>
                  <Link
                    to={`/gears/${versions[0]!._id}`}
                    aria-current={selected?.gear.name === name ? 'page' : undefined}
                    className="strong"
                  >
                    {name}
                  </Link>
                  <span className="muted"> {versions[0]!.gear.label}</span>
                  {versions.length > 1 && <span className="muted"> · {versions.length} versions</span>}
                </li>
              ))}
            </ul>
          </nav>
          {selected && (
            <section aria-labelledby="gear-h" className="gear-detail">
              <div className="page-head">
                <h2 id="gear-h">
                  {selected.gear.label ?? selected.gear.name} <span className="muted mono">{selected.gear.name}</span>
                </h2>
                <label className="select">
                  Version
                  <select value={selected._id} onChange={(e) => navigate(`/gears/${e.target.value}`, { replace: true })}>
                    {all
                      .find((n) => n.name === selected.gear.name)!
                      .versions.map((v) => (
                        <option key={v._id} value={v._id}>
                          {v.gear.version}
                        </option>
                      ))}
                  </select>
                </label>
                <Link className="btn btn-primary" to={`/gears/${selected._id}?run=1`}>
                  Run…
                </Link>
              </div>
              <Manifest g={selected} />
            </section>
          )}
        </div>
      )}
      {running && <RunDialog gear={running} fromJob={params.get('from') ?? undefined} onClose={() => setParams({}, { replace: true })} />}
    </div>
  );
}
