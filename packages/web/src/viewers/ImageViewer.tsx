import type { ViewerProps } from './ViewerPanel.js';

/** A picture; an <img> never runs what an SVG may carry. */
export default function ImageViewer({ url, name }: ViewerProps) {
  return <img className="image-viewer" src={url} alt={name} data-testid="image-view" />;
}
