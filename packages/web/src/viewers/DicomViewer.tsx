import { useQuery } from '@tanstack/react-query';
import dicomParser from 'dicom-parser';
import { useEffect, useRef, useState } from 'react';
import { ErrorNote, Loading } from '../components/common.js';
import { type Slice, sliceOf, toRgba } from './dicom-pixels.js';
import type { ViewerProps } from './ViewerPanel.js';

interface ZipInfo {
  members: { path: string; size: number }[];
}

async function getOk(url: string, signal: AbortSignal): Promise<Response> {
  const res = await fetch(url, { credentials: 'same-origin', signal });
  if (!res.ok) {
    const body = (await res.json().catch(() => undefined)) as { message?: string } | undefined;
    throw new Error(body?.message ?? `the server answered ${res.status} ${res.statusText}`);
  }
  return res;
}

/**
 * A DICOM series preview: a zipped series (as the import uploads it) slice by slice, each slice
 * fetched on its own from the zip on the server (`?member=`), or a single .dcm file. Raw greyscale
 * pixel data only; a compressed series says so instead of showing noise.
 */
export default function DicomViewer({ url, name }: ViewerProps) {
  const isZip = /\.zip$/i.test(name);
  const base = url.split('?')[0]!;
  const members = useQuery({
    queryKey: ['zip-members', base],
    queryFn: async ({ signal }) =>
      isZip
        ? ((await (await getOk(`${base}?info=true`, signal)).json()) as ZipInfo).members.filter((m) => !m.path.endsWith('/') && m.size > 0)
        : [{ path: '', size: 0 }],
    staleTime: Number.POSITIVE_INFINITY,
  });
  const list = members.data ?? [];
  const [index, setIndex] = useState<number>();
  const at = index ?? Math.floor(list.length / 2);
  const member = list[at];
  const slice = useQuery({
    queryKey: ['dicom-slice', base, member?.path],
    enabled: !!member,
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async ({ signal }): Promise<Slice> => {
      const src = isZip ? `${base}?member=${encodeURIComponent(member!.path)}` : base;
      const bytes = new Uint8Array(await (await getOk(src, signal)).arrayBuffer());
      const s = sliceOf(dicomParser.parseDicom(bytes));
      if (typeof s === 'string') throw new Error(s);
      return s;
    },
  });
  const [windowing, setWindowing] = useState<{ center: number; width: number }>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const s = slice.data;
  const win = windowing ?? (s ? { center: s.center, width: s.width_ } : undefined);
  useEffect(() => {
    if (!s || !win || !canvas.current) return;
    canvas.current.width = s.width;
    canvas.current.height = s.height;
    canvas.current.getContext('2d')?.putImageData(new ImageData(toRgba(s, win.center, win.width), s.width, s.height), 0, 0);
  }, [s, win]);

  if (members.isPending) return <Loading label="Reading the series…" />;
  if (members.error) return <ErrorNote error={members.error} retry={() => void members.refetch()} />;
  if (!list.length) return <p className="muted">The zip holds no files.</p>;
  return (
    <div className="dicom-viewer">
      {slice.error && <ErrorNote error={slice.error} />}
      <div className="dicom-canvas">
        <canvas ref={canvas} data-testid="dicom-canvas" aria-label={`DICOM slice ${at + 1} of ${list.length}: ${name}`} />
        {slice.isFetching && !s && <Loading label="Loading the slice…" />}
      </div>
      <div className="viewer-controls" data-testid={s ? 'dicom-ready' : undefined}>
        {list.length > 1 && (
          <label>
            Slice {at + 1} of {list.length}
            <input type="range" min={0} max={list.length - 1} value={at} onChange={(e) => setIndex(Number(e.target.value))} />
          </label>
        )}
        {s && win && (
          <>
            <label>
              Window width
              <input
                type="range"
                min={1}
                max={Math.max(2, s.width_ * 4)}
                value={win.width}
                onChange={(e) => setWindowing({ ...win, width: Number(e.target.value) })}
              />
            </label>
            <label>
              Window level
              <input
                type="range"
                min={s.center - s.width_ * 2}
                max={s.center + s.width_ * 2}
                value={win.center}
                onChange={(e) => setWindowing({ ...win, center: Number(e.target.value) })}
              />
            </label>
            <span className="muted">
              {s.width} × {s.height} · {member?.path || name}
            </span>
          </>
        )}
      </div>
    </div>
  );
}
