import { useParams } from 'react-router';
import type { StoredFile } from '../api/types.js';
import { ErrorNote, Loading } from '../components/common.js';
import { FilesSection } from './Container.js';
import { useProject } from './Project.js';

/** The project's own files (attachments), with viewers and uploads as on any container page. */
export function ProjectFiles() {
  const { projectId = '' } = useParams();
  const project = useProject(projectId);
  return (
    <div className="tab-body">
      {project.isPending && <Loading label="Loading files…" />}
      {project.error && <ErrorNote error={project.error} retry={() => void project.refetch()} />}
      {project.data && <FilesSection type="project" id={projectId} files={project.data.files as StoredFile[]} />}
    </div>
  );
}
