import { Link } from 'react-router';
import type { Analysis } from '../api/types.js';
import { Empty, formatTime } from './common.js';

function jobIdOf(a: Analysis): string | undefined {
  return typeof a.job === 'string' ? a.job : (a.job?.id ?? undefined);
}

/** Analyses with their file counts, what they hang on, and the job that made them (if one did). */
export function AnalysesTable({ analyses, showParent }: { analyses: Analysis[]; showParent?: boolean }) {
  if (!analyses.length) return <Empty>No analyses yet.</Empty>;
  return (
    <div className="table-wrap">
      <table className="table" aria-label="Analyses">
        <thead>
          <tr>
            <th scope="col">Analysis</th>
            {showParent && <th scope="col">On</th>}
            <th scope="col" className="num">
              Files
            </th>
            <th scope="col">Job</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {analyses.map((a) => {
            const job = jobIdOf(a);
            return (
              <tr key={a._id} data-analysis={a._id}>
                <td>
                  <Link to={`/analyses/${a._id}`}>{a.label}</Link>
                </td>
                {showParent && (
                  <td>
                    {a.parent.type === 'project' ? (
                      'project'
                    ) : (
                      <Link
                        to={`/${a.parent.type === 'subject' ? 'subjects' : a.parent.type === 'session' ? 'sessions' : 'acquisitions'}/${a.parent.id}`}
                      >
                        {a.parent.type}
                      </Link>
                    )}
                  </td>
                )}
                <td className="num">{a.files.length}</td>
                <td>{job ? <Link to={`/jobs/${job}`}>job {job.slice(-6)}</Link> : <span className="muted">made by hand</span>}</td>
                <td className="nowrap">{formatTime(a.created)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
