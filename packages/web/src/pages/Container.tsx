import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { api } from '../api/client.js';
import type { Acquisition, Analysis, StoredFile } from '../api/types.js';
import { AnalysesTable } from '../components/AnalysesTable.js';
import { Empty, ErrorNote, formatDate, Loading } from '../components/common.js';
import { type AnyContainer, fileUrl, type PageType, PLURAL, useContainer } from '../components/containers.js';
import { FilesTable } from '../components/FilesTable.js';
import { UploadZone } from '../components/UploadZone.js';
import { viewerKind } from '../viewers/kinds.js';
import { ViewerPanel } from '../viewers/ViewerPanel.js';

// The info editor is for the few who open it: its code loads then.
const ContainerInfo = lazy(() => import('./ProjectInfo.js').then((m) => ({ default: m.ContainerInfo })));

type Doc = AnyContainer & { files: StoredFile[]; parents: Record<string, string | undefined>; parent?: { type: string; id: string } };

const UP: PageType[] = ['project', 'subject', 'session', 'acquisition'];

/** Group / project / subject / session / acquisition above this container, each a link. */
function Crumbs({ doc, type }: { doc: Doc | undefined; type: PageType }) {
  const parents = doc?.parents ?? {};
  const above = UP.slice(0, type === 'analysis' ? UP.length : UP.indexOf(type));
  // One query per level (cached, shared with the pages above); a level not above this one stays idle.
  const at = (t: PageType) => (above.includes(t) ? parents[t] : undefined);
  const labels = [
    useContainer('project', at('project')).data?.label,
    useContainer('subject', at('subject')).data?.label,
    useContainer('session', at('session')).data?.label,
    useContainer('acquisition', at('acquisition')).data?.label,
  ];
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      <Link to="/">Projects</Link>
      {parents.group && (
        <>
          <span aria-hidden="true">/</span>
          <span>{parents.group}</span>
        </>
      )}
      {above.map((t, i) => {
        const pid = parents[t];
        if (!pid) return null;
        return (
          <span key={t} className="crumb">
            <span aria-hidden="true">/</span>{' '}
            <Link to={t === 'project' ? `/projects/${pid}/sessions` : `/${PLURAL[t]}/${pid}`} data-crumb={t}>
              {labels[i] ?? '…'}
            </Link>
          </span>
        );
      })}
    </nav>
  );
}

/** The acquisitions of a session, the analyses of a session or acquisition. */
function Children({ type, id }: { type: PageType; id: string }) {
  const acquisitions = useQuery({
    queryKey: ['children', type, id, 'acquisitions'],
    queryFn: ({ signal }) => api.get<Acquisition[]>(`/sessions/${id}/acquisitions`, undefined, signal),
    enabled: type === 'session',
  });
  const analyses = useQuery({
    queryKey: ['children', type, id, 'analyses'],
    queryFn: ({ signal }) => api.get<Analysis[]>(`/${PLURAL[type]}/${id}/analyses`, undefined, signal),
    enabled: type !== 'analysis',
  });
  return (
    <>
      {type === 'session' && (
        <section className="card" aria-labelledby="acq-h">
          <div className="card-head">
            <h2 id="acq-h">Acquisitions</h2>
          </div>
          {acquisitions.isPending && <Loading />}
          {acquisitions.error && <ErrorNote error={acquisitions.error} retry={() => void acquisitions.refetch()} />}
          {acquisitions.data && acquisitions.data.length === 0 && <Empty>No acquisitions yet.</Empty>}
          {acquisitions.data && acquisitions.data.length > 0 && (
            <ul className="child-list" aria-label="Acquisitions">
              {[...acquisitions.data]
                .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }))
                .map((a) => (
                  <li key={a._id} data-acquisition={a._id}>
                    <Link to={`/acquisitions/${a._id}`}>{a.label}</Link>{' '}
                    <span className="muted">
                      {a.files.length} {a.files.length === 1 ? 'file' : 'files'} · {formatDate(a.timestamp)}
                    </span>
                  </li>
                ))}
            </ul>
          )}
        </section>
      )}
      {type !== 'analysis' && (
        <section className="card" aria-labelledby="an-h">
          <div className="card-head">
            <h2 id="an-h">Analyses</h2>
          </div>
          {analyses.isPending && <Loading />}
          {analyses.error && <ErrorNote error={analyses.error} retry={() => void analyses.refetch()} />}
          {analyses.data && <AnalysesTable analyses={analyses.data} />}
        </section>
      )}
    </>
  );
}

/** The open viewer, kept in the URL (`?view=<file>`) so a reload or a shared link shows the same file. */
export function useViewer() {
  const [params, setParams] = useSearchParams();
  const view = params.get('view') ?? undefined;
  const set = (name: string | undefined) =>
    setParams(
      (p) => {
        if (name) p.set('view', name);
        else p.delete('view');
        return p;
      },
      { replace: !name },
    );
  return [view, set] as const;
}

/** Files of any container with the viewer above them. */
export function FilesSection({ type, id, files }: { type: PageType; id: string; files: StoredFile[] }) {
  const [view, setView] = useViewer();
  const viewing = view ? files.find((f) => f.name === view) : undefined;
  const kind = viewing && viewerKind(viewing);
  return (
    <>
      {view && !viewing && <ErrorNote error={new Error(`There is no file '${view}' here.`)} retry={() => setView(undefined)} />}
      {viewing && kind && (
        <ViewerPanel
          key={viewing.name}
          url={fileUrl(type, id, viewing.name, { view: kind === 'html' || kind === 'image' })}
          name={viewing.name}
          kind={kind}
          onClose={() => setView(undefined)}
        />
      )}
      <section className="card" aria-labelledby="files-h">
        <div className="card-head">
          <h2 id="files-h">Files</h2>
          <span className="muted" data-testid="file-count">
            {files.length} {files.length === 1 ? 'file' : 'files'}
          </span>
        </div>
        <FilesTable type={type} id={id} files={files} onView={setView} />
        <UploadZone type={type} id={id} />
      </section>
      <details className="info-details">
        <summary>Information, tags and notes</summary>
        <Suspense fallback={<Loading />}>
          <ContainerInfo path={`/${PLURAL[type]}/${id}`} queryKey={['container', type, id]} />
        </Suspense>
      </details>
    </>
  );
}

/**
 * A session, acquisition or analysis (subjects too): where it sits, its files with their origins
 * and versions, downloads of one file or all of it, its children, and uploads onto it.
 */
export function ContainerPage({ type }: { type: PageType }) {
  const { id = '' } = useParams();
  const doc = useContainer<Doc>(type, id);
  const d = doc.data;
  return (
    <div className="page container-page" data-container={type}>
      <Crumbs doc={d} type={type} />
      {doc.error && <ErrorNote error={doc.error} retry={() => void doc.refetch()} />}
      <div className="page-head">
        <h1 aria-busy={doc.isPending}>
          <span className="muted kind">{type}</span> {d?.label ?? '\u00a0'}
        </h1>
        <div className="tags">
          {d?.tags?.map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
        </div>
        {d && (
          <div className="actions">
            <a className="btn btn-small" href={`/api/${PLURAL[type]}/${id}/download?format=tar`} download>
              Download all (tar)
            </a>
            <a className="btn btn-small" href={`/api/${PLURAL[type]}/${id}/download?format=zip`} download>
              Download all (zip)
            </a>
          </div>
        )}
      </div>
      {type === 'analysis' && d && <AnalysisFacts doc={d as unknown as Analysis} />}
      {doc.isPending && <Loading />}
      {d && (
        <>
          <FilesSection type={type} id={id} files={d.files} />
          <Children type={type} id={id} />
        </>
      )}
    </div>
  );
}

function AnalysisFacts({ doc }: { doc: Analysis }) {
  const job = typeof doc.job === 'string' ? doc.job : doc.job?.id;
  const parentPath =
    doc.parent.type === 'project' ? `/projects/${doc.parent.id}/analyses` : `/${PLURAL[doc.parent.type as PageType]}/${doc.parent.id}`;
  return (
    <p className="facts">
      On <Link to={parentPath}>this {doc.parent.type}</Link>
      {job ? (
        <>
          {' '}
          · made by <Link to={`/jobs/${job}`}>job {job.slice(-6)}</Link>
        </>
      ) : null}
      {doc.description ? <> · {doc.description}</> : null}
    </p>
  );
}
