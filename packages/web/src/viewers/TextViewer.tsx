import { useQuery } from '@tanstack/react-query';
import { ErrorNote, formatBytes, Loading } from '../components/common.js';
import { fetchHead, MAX_BYTES } from './bounded.js';
import type { ViewerProps } from './ViewerPanel.js';

/** Plain text, or JSON pretty-printed when the whole file was read and parses. */
export default function TextViewer({ url, kind }: ViewerProps) {
  const head = useQuery({
    queryKey: ['file-head', url],
    queryFn: ({ signal }) => fetchHead(url, signal),
    staleTime: Number.POSITIVE_INFINITY,
  });
  if (head.isPending) return <Loading label="Reading the file…" />;
  if (head.error) return <ErrorNote error={head.error} retry={() => void head.refetch()} />;
  let text = head.data.text;
  if (kind === 'json' && !head.data.truncated) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not valid JSON: shown as it is.
    }
  }
  return (
    <div>
      {head.data.truncated && (
        <p className="muted" role="note">
          Showing the first {formatBytes(MAX_BYTES)} of {formatBytes(head.data.size)}. Download the file for all of it.
        </p>
      )}
      <pre className="text-viewer" data-testid="text-view">
        {text}
      </pre>
    </div>
  );
}
