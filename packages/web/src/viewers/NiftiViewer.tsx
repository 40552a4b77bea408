import { Niivue, type NVImage, SLICE_TYPE } from '@niivue/niivue';
import { useEffect, useRef, useState } from 'react';
import type { ViewerProps } from './ViewerPanel.js';

/** NiiVue's "show the render tile in the multiplanar layout" (its SHOW_RENDER.ALWAYS, not exported). */
const SHOW_RENDER_ALWAYS = 1;

const COLORMAPS = ['gray', 'hot', 'winter', 'plasma', 'viridis', 'inferno', 'cool', 'warm'];

/**
 * A NIfTI volume in NiiVue: axial, coronal and sagittal planes plus a 3-D render, window/level
 * (the display range), a colour map, and a frame slider for 4-D series. NiiVue fetches the file
 * itself from the file route, with the page's session cookie.
 */
export default function NiftiViewer({ url, name }: ViewerProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const nvRef = useRef<Niivue>(undefined);
  const [vol, setVol] = useState<NVImage>();
  const [error, setError] = useState<string>();
  const [range, setRange] = useState<{ min: number; max: number; lo: number; hi: number }>();
  const [colormap, setColormap] = useState('gray');
  const [frame, setFrame] = useState(0);

  useEffect(() => {
    const nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, dragAndDropEnabled: false, isResizeCanvas: true });
    nvRef.current = nv;
    let live = true;
    (async () => {
      await nv.attachToCanvas(canvas.current!);
      nv.opts.multiplanarShowRender = SHOW_RENDER_ALWAYS;
      nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
      await nv.loadVolumes([{ url, name }]);
      if (!live) return;
      const v = nv.volumes[0];
      if (!v) throw new Error('the file holds no volume NiiVue can read');
      setVol(v);
      const lo = v.cal_min ?? 0;
      const hi = v.cal_max ?? 1;
      setRange({ min: Math.min(v.global_min ?? lo, lo), max: Math.max(v.global_max ?? hi, hi), lo, hi });
    })().catch((e: unknown) => live && setError(`Cannot show ${name}: ${(e as Error)?.message ?? String(e)}`));
    return () => {
      live = false;
      nvRef.current = undefined;
      // Frees the WebGL context: browsers allow only a few at once.
      canvas.current?.getContext('webgl2')?.getExtension('WEBGL_lose_context')?.loseContext();
    };
  }, [url, name]);

  const nv = nvRef.current;
  const applyRange = (lo: number, hi: number) => {
    if (!nv || !vol || !range) return;
    vol.cal_min = Math.min(lo, hi);
    vol.cal_max = Math.max(lo, hi);
    nv.updateGLVolume();
    setRange({ ...range, lo: Math.min(lo, hi), hi: Math.max(lo, hi) });
  };
  const frames = vol?.nFrame4D ?? 1;
  const step = range ? (range.max - range.min) / 200 || 1 : 1;

  return (
    <div className="nifti-viewer">
      {error && (
        <div className="banner banner-error" role="alert">
          {error}
        </div>
      )}
      <div className="nifti-canvas">
        <canvas ref={canvas} data-testid="nifti-canvas" aria-label={`NIfTI viewer: ${name}`} />
      </div>
      {vol && range && nv && (
        <div className="viewer-controls" data-testid="nifti-ready">
          <label>
            Window min
            <input
              type="range"
              min={range.min}
              max={range.max}
              step={step}
              value={range.lo}
              onChange={(e) => applyRange(Number(e.target.value), range.hi)}
            />
          </label>
          <label>
            Window max
            <input
              type="range"
              min={range.min}
              max={range.max}
              step={step}
              value={range.hi}
              onChange={(e) => applyRange(range.lo, Number(e.target.value))}
            />
          </label>
          <label>
            Colour map
            <select
              className="select"
              value={colormap}
              onChange={(e) => {
                setColormap(e.target.value);
                nv.setColormap(vol.id, e.target.value);
              }}
            >
              {COLORMAPS.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          {frames > 1 && (
            <label>
              Frame {frame + 1} of {frames}
              <input
                type="range"
                min={0}
                max={frames - 1}
                value={frame}
                onChange={(e) => {
                  setFrame(Number(e.target.value));
                  nv.setFrame4D(vol.id, Number(e.target.value));
                }}
              />
            </label>
          )}
          <span className="muted">
            {vol.dims?.slice(1, 1 + (vol.dims[0] ?? 3)).join(' × ')} · {range.lo.toFixed(1)} – {range.hi.toFixed(1)}
          </span>
        </div>
      )}
    </div>
  );
}
