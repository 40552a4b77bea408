import { GearError } from '../../lib/src/context.js';

/**
 * The gear's config (the scitran-apps dcm2niix keys) mapped to flags of Debian's dcm2niix
 * v1.0.20220720. Values are validated here so a typo fails the job with the key's name instead of
 * dcm2niix silently falling back to its own default.
 */
export interface Plan {
  args: string[];
  /** Keep the BIDS sidecar JSON among the outputs. */
  keepSidecar: boolean;
  coilCombine: boolean;
  decompress: boolean;
  ignoreErrors: boolean;
  removeIncompleteVolumes: boolean;
  notes: string[];
}

/** Config values may arrive as 'y'/'n' strings (the manifest's type) or as booleans (newer gears). */
function yn(config: Record<string, unknown>, key: string, allowed: string[] = ['y', 'n']): string {
  const raw = config[key];
  const value =
    raw === true
      ? 'y'
      : raw === false
        ? 'n'
        : String(raw ?? '')
            .trim()
            .toLowerCase();
  if (!allowed.includes(value)) throw new GearError(`config ${key} = ${JSON.stringify(raw)}: expected one of ${allowed.join(', ')}`);
  return value;
}

function bool(config: Record<string, unknown>, key: string): boolean {
  const raw = config[key];
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === 'y') return true;
  if (raw === 'false' || raw === 'n' || raw === undefined) return false;
  throw new GearError(`config ${key} = ${JSON.stringify(raw)}: expected true or false`);
}

export function planConversion(config: Record<string, unknown>, inputDir: string, outDir: string): Plan {
  const notes: string[] = [];
  const bids = yn(config, 'bids_sidecar', ['y', 'n', 'o']);
  let compress = yn(config, 'compress_nifti', ['y', 'i', 'n', '3', 'o']);
  let filename = String(config.filename ?? '%f').trim() || '%f';
  if (bool(config, 'vol3D')) compress = '3';
  if (compress === '3' && filename !== '%p_%s') {
    notes.push(`3D volumes requested: filename pattern '${filename}' replaced by '%p_%s' so volumes do not overwrite each other`);
    filename = '%p_%s';
  }
  if (/[/\\]/.test(filename)) throw new GearError(`config filename = ${JSON.stringify(filename)}: must not contain path separators`);

  const args = [
    // The sidecar is always produced: its fields become the outputs' info even when it is not kept.
    ['-b', bids === 'o' ? 'o' : 'y'],
    ['-ba', yn(config, 'anonymize_bids')],
    ['-z', compress],
    ['-f', filename],
    ['-m', yn(config, 'merge2d')],
    ['-x', yn(config, 'crop', ['y', 'n', 'i'])],
    ['-i', yn(config, 'ignore_derived')],
    ['-p', yn(config, 'philips_scaling')],
    ['-s', yn(config, 'single_file_mode')],
    ['-l', yn(config, 'lossless_scaling', ['y', 'n', 'o'])],
  ].flat();

  const series = String(config.convert_only_series ?? 'all').trim();
  if (series && series.toLowerCase() !== 'all') {
    const list = series.split(/[\s,]+/).filter(Boolean);
    if (list.length > 16) throw new GearError(`config convert_only_series: at most 16 series, got ${list.length}`);
    for (const s of list) {
      if (!/^\d+$/.test(s)) throw new GearError(`config convert_only_series: '${s}' is not a series number`);
      args.push('-n', s);
    }
  }

  if (yn(config, 'text_notes_private') === 'y') {
    notes.push('text_notes_private: dcm2niix v1.0.20220720 no longer writes text notes; option ignored');
  }
  args.push('-o', outDir, inputDir);
  return {
    args,
    keepSidecar: bids !== 'n',
    coilCombine: bool(config, 'coil_combine'),
    decompress: bool(config, 'decompress_dicoms'),
    ignoreErrors: bool(config, 'ignore_errors'),
    removeIncompleteVolumes: bool(config, 'remove_incomplete_volumes'),
    notes,
  };
}
