import { useQuery } from '@tanstack/react-query';
import { Link, NavLink, Outlet, useParams } from 'react-router';
import { api } from '../api/client.js';
import type { Project } from '../api/types.js';
import { ErrorNote } from '../components/common.js';
import { moveAlongRow } from '../components/keys.js';

export function useProject(id: string) {
  return useQuery({ queryKey: ['project', id], queryFn: () => api.get<Project>(`/projects/${id}`) });
}

/** A project: its header and the tabs below it (each tab a child route, so it survives reloads). */
export function ProjectPage() {
  const { projectId = '' } = useParams();
  const project = useProject(projectId);
  return (
    <div className="page project">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Projects</Link>
        <span aria-hidden="true">/</span>
        <span>{project.data?.group ?? '…'}</span>
      </nav>
      {project.error && <ErrorNote error={project.error} retry={() => void project.refetch()} />}
      <div className="page-head">
        <h1 aria-busy={project.isPending}>{project.data?.label ?? '\u00a0'}</h1>
        <div className="tags">
          {project.data?.tags.map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
        </div>
      </div>
      {/* The tabs load in parallel with the project document, not after it. */}
      {!project.error && (
        <>
          {/* Links, so each section has its own address; arrows move along them as along tabs. */}
          <nav className="tabs" aria-label="Project sections" onKeyDown={(e) => moveAlongRow(e)}>
            <NavLink to="sessions">Sessions</NavLink>
            <NavLink to="jobs">Jobs / Provenance</NavLink>
            <NavLink to="analyses">Analyses</NavLink>
            <NavLink to="files">Files</NavLink>
            <NavLink to="views">Data views</NavLink>
            <NavLink to="rules">Gear rules</NavLink>
            <NavLink to="info">Information</NavLink>
            <NavLink to="permissions">Permissions</NavLink>
          </nav>
          <Outlet />
        </>
      )}
    </div>
  );
}
