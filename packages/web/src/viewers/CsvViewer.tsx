import { useQuery } from '@tanstack/react-query';
import Papa from 'papaparse';
import { ErrorNote, formatBytes, Loading } from '../components/common.js';
import { fetchHead, MAX_BYTES } from './bounded.js';
import type { ViewerProps } from './ViewerPanel.js';

const MAX_ROWS = 500;

/** A CSV or TSV as a table: the header row and the first MAX_ROWS rows of the first MAX_BYTES. */
export default function CsvViewer({ url, name }: ViewerProps) {
  const head = useQuery({
    queryKey: ['file-head', url],
    queryFn: ({ signal }) => fetchHead(url, signal),
    staleTime: Number.POSITIVE_INFINITY,
  });
  if (head.isPending) return <Loading label="Reading the file…" />;
  if (head.error) return <ErrorNote error={head.error} retry={() => void head.refetch()} />;
  const parsed = Papa.parse<string[]>(head.data.text, {
    delimiter: name.toLowerCase().endsWith('.tsv') ? '\t' : '',
    skipEmptyLines: true,
    preview: MAX_ROWS + 1,
  });
  const rows = parsed.data;
  // A row cut by the byte bound is incomplete; leave it out.
  if (head.data.truncated && rows.length <= MAX_ROWS) rows.pop();
  const [header = [], ...body] = rows;
  return (
    <div>
      {(head.data.truncated || body.length >= MAX_ROWS) && (
        <p className="muted" role="note">
          Showing the first {body.length.toLocaleString()} rows
          {head.data.truncated ? ` (of the first ${formatBytes(MAX_BYTES)} of ${formatBytes(head.data.size)})` : ''}. Download the file for
          all of it.
        </p>
      )}
      <div className="table-wrap csv-viewer">
        <table className="table" aria-label={`Contents of ${name}`} data-testid="csv-table">
          <thead>
            <tr>
              {header.map((h, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional
                <th key={i} scope="col">
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {body.map((r, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional
              <tr key={i}>
                {r.map((c, j) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: cells are positional
                  <td key={j}>{c}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
