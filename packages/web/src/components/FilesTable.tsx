import { useQuery } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { api } from '../api/client.js';
import type { StoredFile } from '../api/types.js';
import { viewerKind } from '../viewers/kinds.js';
import { Empty, ErrorNote, formatBytes, formatTime, Loading } from './common.js';
import { fileUrl, type PageType, PLURAL } from './containers.js';
import { OriginBadge } from './OriginBadge.js';
import './data.css';

function classificationText(c: Record<string, string[]> | undefined): string {
  const parts = Object.entries(c ?? {}).flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}`));
  return parts.join(', ') || '—';
}

/** Every stored version of one file, oldest first, each downloadable and with its own origin. */
function Versions({ type, id, name }: { type: PageType; id: string; name: string }) {
  const versions = useQuery({
    queryKey: ['container', type, id, 'versions', name],
    queryFn: ({ signal }) => api.get<StoredFile[]>(`/${PLURAL[type]}/${id}/files/${encodeURIComponent(name)}/versions`, undefined, signal),
  });
  if (versions.isPending) return <Loading label="Loading versions…" />;
  if (versions.error) return <ErrorNote error={versions.error} retry={() => void versions.refetch()} />;
  return (
    <ol className="versions" aria-label={`Versions of ${name}`}>
      {versions.data.map((v) => (
        <li key={v.version} data-version={v.version}>
          <span className="strong">v{v.version}</span> <span className="muted">{formatTime(v.created)}</span> · {formatBytes(v.size)} ·{' '}
          <OriginBadge origin={v.origin} /> ·{' '}
          <a href={fileUrl(type, id, name, { version: v.version })} download={name}>
            Download v{v.version}
          </a>
        </li>
      ))}
    </ol>
  );
}

/**
 * A container's files: name, type, size, modality, classification, created and where each came
 * from; a View button for the kinds a viewer can show, a download link, and the version history.
 * Names and every field are rendered as text (React escapes them), never as markup.
 */
export function FilesTable({
  type,
  id,
  files,
  onView,
}: {
  type: PageType;
  id: string;
  files: StoredFile[];
  onView: (name: string) => void;
}) {
  const [open, setOpen] = useState<string>();
  if (!files.length) return <Empty>No files here yet.</Empty>;
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  return (
    <div className="table-wrap">
      <table className="table files-table" aria-label="Files">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Modality</th>
            <th scope="col">Classification</th>
            <th scope="col">Created</th>
            <th scope="col">Origin</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((f) => {
            const kind = viewerKind(f);
            return (
              <Fragment key={f.name}>
                <tr data-file={f.name}>
                  <td className="file-name">
                    {kind ? (
                      <button type="button" className="linkish" onClick={() => onView(f.name)} title={`View ${f.name}`}>
                        {f.name}
                      </button>
                    ) : (
                      f.name
                    )}
                    {f.from_failed_job && <span className="tag tag-warn">from a failed job</span>}
                  </td>
                  <td>{f.type ?? '—'}</td>
                  <td className="num nowrap">{formatBytes(f.size)}</td>
                  <td>{f.modality ?? '—'}</td>
                  <td className="truncate">{classificationText(f.classification)}</td>
                  <td className="nowrap">{formatTime(f.created)}</td>
                  <td>
                    <OriginBadge origin={f.origin} />
                  </td>
                  <td className="nowrap actions-cell">
                    {kind && (
                      <button type="button" className="btn btn-small" onClick={() => onView(f.name)} aria-label={`View ${f.name}`}>
                        View
                      </button>
                    )}
                    <a className="btn btn-small" href={fileUrl(type, id, f.name)} download={f.name} aria-label={`Download ${f.name}`}>
                      Download
                    </a>
                    <button
                      type="button"
                      className="btn btn-small btn-ghost"
                      aria-expanded={open === f.name}
                      aria-label={`Versions of ${f.name}`}
                      onClick={() => setOpen(open === f.name ? undefined : f.name)}
                    >
                      v{f.version}
                    </button>
                  </td>
                </tr>
                {open === f.name && (
                  <tr className="versions-row">
                    <td colSpan={8}>
                      <Versions type={type} id={id} name={f.name} />
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
