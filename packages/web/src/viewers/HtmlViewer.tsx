import type { ViewerProps } from './ViewerPanel.js';

/**
 * An HTML file (the QA gear's report) inline. Two locks, each enough alone: the file route answers
 * with `Content-Security-Policy: sandbox` (an opaque origin, no scripts), and the frame's own
 * `sandbox` attribute grants nothing, so the page cannot reach the app, its cookies or its API.
 */
export default function HtmlViewer({ url, name }: ViewerProps) {
  return (
    <iframe className="html-viewer" title={`Report: ${name}`} src={url} sandbox="" referrerPolicy="no-referrer" data-testid="html-frame" />
  );
}
