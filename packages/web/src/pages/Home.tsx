import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, countOf } from '../api/client.js';
import type { Group, JobListing, Project } from '../api/types.js';
import { useAuth } from '../auth.js';
import { Empty, ErrorNote, InlineError, Loading } from '../components/common.js';
import { JobsTable } from '../components/JobsTable.js';

function ProjectCounts({ project }: { project: Project }) {
  const [subjects, sessions] = useQueries({
    queries: (['subjects', 'sessions'] as const).map((level) => ({
      queryKey: ['project', project._id, 'count', level],
      queryFn: () => countOf(`/projects/${project._id}/${level}`),
    })),
  });
  const n = (q: typeof subjects) => (q?.data === undefined ? '…' : q.data.toLocaleString());
  return (
    <span className="counts">
      <span>
        <strong>{n(subjects)}</strong> subjects
      </span>
      <span>
        <strong>{n(sessions)}</strong> sessions
      </span>
      <span>
        <strong>{project.files.length}</strong> files
      </span>
    </span>
  );
}

/** A project made in a group, then opened: for users with read-write access to the group. */
function NewProject({ group }: { group: Group }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [label, setLabel] = useState('');
  const create = useMutation({
    mutationFn: () => api.post<{ _id: string }>('/projects', { group: group._id, label: label.trim() }),
    onSuccess: async (r) => {
      await qc.invalidateQueries({ queryKey: ['projects'] });
      navigate(`/projects/${r._id}/sessions`);
    },
  });
  if (!open)
    return (
      <button
        type="button"
        className="btn btn-small"
        onClick={() => setOpen(true)}
        aria-label={`New project in ${group.label || group._id}`}
      >
        New project
      </button>
    );
  return (
    <form
      className="actions"
      aria-label={`New project in ${group.label || group._id}`}
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <label className="select">
        <span>Label</span>
        {/* biome-ignore lint/a11y/noAutofocus: the form opens on request, to type the label at once */}
        <input type="text" required maxLength={256} autoFocus value={label} onChange={(e) => setLabel(e.target.value)} />
      </label>
      <button type="submit" className="btn btn-small btn-primary" disabled={create.isPending || !label.trim()}>
        Create
      </button>
      <button type="button" className="btn btn-small btn-ghost" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <InlineError error={create.error} />
    </form>
  );
}

/** Home: every group with its projects (and their counts), a label filter kept in the URL, my recent jobs. */
export function Home() {
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const filter = params.get('q') ?? '';
  const groups = useQuery({ queryKey: ['groups'], queryFn: () => api.get<Group[]>('/groups') });
  const projects = useQuery({ queryKey: ['projects'], queryFn: () => api.get<Project[]>('/projects') });
  const recent = useQuery({
    queryKey: ['jobs', 'mine', user?._id],
    queryFn: () =>
      api.get<JobListing>('/jobs', { filter: `origin.id=${user!._id}`, sort: 'created:desc', limit: 8, include: 'containers' }),
    enabled: !!user,
  });

  const byGroup = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const match = (p: Project) => !needle || p.label.toLowerCase().includes(needle) || p.tags.some((t) => t.toLowerCase().includes(needle));
    const m = new Map<string, Project[]>();
    for (const p of (projects.data ?? []).filter(match)) m.set(p.group, [...(m.get(p.group) ?? []), p]);
    for (const list of m.values()) list.sort((a, b) => a.label.localeCompare(b.label));
    return m;
  }, [projects.data, filter]);

  return (
    <div className="page home">
      <div className="page-head">
        <h1>Projects</h1>
        <label className="search">
          <span className="sr-only">Filter projects by label or tag</span>
          <input
            type="search"
            placeholder="Filter by label or tag"
            value={filter}
            onChange={(e) => setParams(e.target.value ? { q: e.target.value } : {}, { replace: true })}
          />
        </label>
      </div>
      <div className="home-grid">
        <section aria-labelledby="groups-h">
          <h2 id="groups-h" className="sr-only">
            Groups
          </h2>
          {(groups.isPending || projects.isPending) && <Loading />}
          {groups.error && <ErrorNote error={groups.error} retry={() => void groups.refetch()} />}
          {projects.error && <ErrorNote error={projects.error} retry={() => void projects.refetch()} />}
          {groups.data && projects.data && byGroup.size === 0 && (filter || groups.data.length === 0) && (
            <Empty>{filter ? `No project matches “${filter}”.` : 'No projects you can see yet.'}</Empty>
          )}
          {(groups.data ?? [])
            // A group with no project yet is shown too (to start one), unless a filter is on.
            .filter((g) => byGroup.has(g._id) || !filter)
            .map((g) => (
              <div key={g._id} className="card group-card">
                <div className="group-head">
                  <h3>{g.label || g._id}</h3>
                  <span className="muted mono">{g._id}</span>
                  <NewProject group={g} />
                </div>
                {!byGroup.has(g._id) && <p className="muted">No projects yet.</p>}
                <ul className="project-list">
                  {(byGroup.get(g._id) ?? []).map((p) => (
                    <li key={p._id}>
                      <Link to={`/projects/${p._id}/sessions`} className="project-link">
                        <span className="project-label">{p.label}</span>
                        {p.tags.length > 0 && (
                          <span className="tags">
                            {p.tags.map((t) => (
                              <span key={t} className="tag">
                                {t}
                              </span>
                            ))}
                          </span>
                        )}
                      </Link>
                      <ProjectCounts project={p} />
                    </li>
                  ))}
                </ul>
              </div>
            ))}
        </section>
        <section aria-labelledby="recent-h" className="card">
          <h2 id="recent-h">My recent jobs</h2>
          {recent.isPending && <Loading />}
          {recent.error && <ErrorNote error={recent.error} retry={() => void recent.refetch()} />}
          {recent.data && <JobsTable jobs={recent.data.jobs} containers={recent.data.containers} compact />}
        </section>
      </div>
    </div>
  );
}
