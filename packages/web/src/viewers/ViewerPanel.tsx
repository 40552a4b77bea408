import { type ComponentType, lazy, Suspense } from 'react';
import { Loading } from '../components/common.js';
import type { ViewerKind } from './kinds.js';

export interface ViewerProps {
  url: string;
  name: string;
  kind: ViewerKind;
}

/**
 * Each viewer is its own chunk, fetched the first time a file of its kind is opened: NiiVue alone
 * outweighs the rest of the app, and most pages never show an image.
 */
const VIEWERS: Record<ViewerKind, ComponentType<ViewerProps>> = {
  nifti: lazy(() => import('./NiftiViewer.js')),
  dicom: lazy(() => import('./DicomViewer.js')),
  html: lazy(() => import('./HtmlViewer.js')),
  image: lazy(() => import('./ImageViewer.js')),
  csv: lazy(() => import('./CsvViewer.js')),
  json: lazy(() => import('./TextViewer.js')),
  text: lazy(() => import('./TextViewer.js')),
};

export function ViewerPanel({ url, name, kind, onClose }: ViewerProps & { onClose: () => void }) {
  const View = VIEWERS[kind];
  return (
    <section className="card viewer" aria-label={`Viewer: ${name}`} data-viewer={kind}>
      <div className="card-head">
        <h2 className="truncate">{name}</h2>
        <a className="btn btn-small" href={url.replace(/[?&]view=true/, '')} download={name}>
          Download
        </a>
        <button type="button" className="btn btn-small btn-ghost" onClick={onClose} aria-label="Close viewer">
          Close
        </button>
      </div>
      <Suspense fallback={<Loading label="Loading the viewer…" />}>
        <View url={url} name={name} kind={kind} />
      </Suspense>
    </section>
  );
}
