import type { Header, HeaderValue } from './header.js';

/**
 * Flywheel-style MR classification ({Intent, Measurement, Features}) of a DICOM series, from the same
 * evidence Flywheel's dicom-mr-classifier looks at, in this order:
 *   1. what the header states outright (ImageType LOCALIZER/DIFFUSION/ASL/FIELD_MAP, diffusion
 *      b-values, temporal positions of an EPI series, sequence names like `ep_b…`/`fm2d`);
 *   2. the series description, then the protocol name, matched against the usual naming habits
 *      (first matching rule wins), plus any vocabulary words they contain ("PD", "FLAIR", "EPI" …);
 *   3. the contrast the timing implies (TR/TE/TI), for series whose names say nothing.
 * Earlier evidence wins per key; Features accumulate from all three. Non-MR series get no
 * classification (as in Flywheel), except that objects without pixel data are Intent Non-Image.
 */
export interface Classification {
  Intent?: string[];
  Measurement?: string[];
  Features?: string[];
  Custom?: string[];
}

export interface SeriesFacts {
  /** Number of image files in the series (zip members), when known. */
  sliceCount?: number;
  /** Number of distinct ImageOrientationPatient values across the series, when known. */
  orientations?: number;
  hasPixelData?: boolean;
}

// Controlled vocabulary words that, appearing as a token in a label, add themselves to the key.
const FEATURE_WORDS = [
  '2D',
  '3D',
  'AAscout',
  'Spin-Echo',
  'Gradient-Echo',
  'EPI',
  'WASSR',
  'FAIR',
  'FAIREST',
  'PASL',
  'EPISTAR',
  'PICORE',
  'pCASL',
  'MPRAGE',
  'MP2RAGE',
  'FLAIR',
  'SWI',
  'QSM',
  'RMS',
  'DTI',
  'DSI',
  'DKI',
  'HARDI',
  'NODDI',
  'Water-Reference',
  'Transmit-Reference',
  'SBRef',
  'Uniform',
  'Singlerep',
  'QC',
  'TRACE',
  'FA',
  'MIP',
  'Navigator',
  'Contrast-Agent',
  'Phase-Contrast',
  'TOF',
  'VASO',
  'iVASO',
  'DSC',
  'DCE',
  'Task',
  'Resting-State',
  'PRESS',
  'STEAM',
  'M0',
  'Phase-Reversed',
  'Spiral',
  'SPGR',
  'Quantitative',
  'Multi-Shell',
  'Multi-Echo',
  'Multi-Flip',
  'Multi-Band',
  'Steady-State',
  'Compressed-Sensing',
  'Eddy-Current-Corrected',
  'Fieldmap-Corrected',
  'Gradient-Unwarped',
  'Motion-Corrected',
  'Physio-Corrected',
  'Derived',
  'In-Plane',
  'Phase',
  'Magnitude',
];
const MEASUREMENT_WORDS = [
  'MRA',
  'CEST',
  'T1rho',
  'SVS',
  'CSI',
  'EPSI',
  'BOLD',
  'Phoenix',
  'B0',
  'B1',
  'T1',
  'T2',
  'T2*',
  'PD',
  'MT',
  'Perfusion',
  'Diffusion',
  'Susceptibility',
  'Fingerprinting',
];
const INTENT_WORDS = [
  'Localizer',
  'Shim',
  'Calibration',
  'Fieldmap',
  'Structural',
  'Functional',
  'Screenshot',
  'Non-Image',
  'Spectroscopy',
];

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A vocabulary word as a token: delimited by anything that is not a letter or digit (incl. `_`). */
function tokenRegex(word: string): RegExp {
  if (word === 'T2*') return /(?:^|[^a-z0-9])(?:t2\*|t2star)(?:$|[^a-z0-9])/i;
  const tail = word === 'T2' ? '(?:$|[^a-z0-9*])' : '(?:$|[^a-z0-9])';
  return new RegExp(`(?:^|[^a-z0-9])${escapeRegex(word)}${tail}`, 'i');
}
const vocab = (words: string[]) => words.map((w) => ({ word: w, re: tokenRegex(w) }));
const FEATURES = vocab(FEATURE_WORDS);
const MEASUREMENTS = vocab(MEASUREMENT_WORDS);
const INTENTS = vocab(INTENT_WORDS);

type Rule = { any: RegExp[]; set: Classification };

/** Naming habits, most specific first; the first rule with a matching pattern decides. */
const LABEL_RULES: Rule[] = [
  { any: [/inplane/i], set: { Intent: ['Structural'], Measurement: ['T1'], Features: ['In-Plane'] } },
  {
    any: [/field.*map/i, /bias.*ch/i, /field/i, /fmap/i, /topup/i, /distortion/i, /b0.?map/i, /(^|[^a-z])se[-_][aprl]{2}$/i],
    set: { Intent: ['Fieldmap'], Measurement: ['B0'] },
  },
  { any: [/_(adc|tracew|colfa|fa|exp)$/i], set: { Intent: ['Structural'], Measurement: ['Diffusion'], Features: ['Derived'] } },
  {
    any: [/^dmri_/i, /_dmri$/i, /dti/i, /dwi/i, /diff_/i, /diffusion/i, /diff.*dir/i, /hardi/i],
    set: { Intent: ['Structural'], Measurement: ['Diffusion'] },
  },
  { any: [/mocoseries/i, /glm$/i, /t-map/i, /design/i, /startfmri/i], set: { Intent: ['Functional'], Features: ['Derived'] } },
  {
    any: [/functional/i, /fmri/i, /func/i, /bold/i, /rest/i, /task/i, /ep2d/i, /fbirn/i, /retinotopy/i, /go-no-go/i, /checkers/i, /faces/i],
    set: { Intent: ['Functional'], Measurement: ['T2*'] },
  },
  { any: [/t2[^*]*$/i], set: { Intent: ['Structural'], Measurement: ['T2'] } },
  {
    any: [/t1/i, /3d anat/i, /3d.*bravo/i, /spgr/i, /tfl/i, /mprage/i, /mp.?rage/i, /mm.*iso/i],
    set: { Intent: ['Structural'], Measurement: ['T1'] },
  },
  { any: [/flair/i, /(?=.*ir)(?=.*epi)/i], set: { Intent: ['Structural'] } },
  {
    any: [/locali[sz]er/i, /survey/i, /scout/i, /3-plane/i, /plane.*loc/i, /^loc/i, /aahead/i, /adjgre/i, /pilot/i],
    set: { Intent: ['Localizer'], Measurement: ['T2'] },
  },
  { any: [/ho.*shim/i, /\bhos\b/i, /_hos_/i, /shim/i], set: { Intent: ['Shim'] } },
  { any: [/asset.*cal/i, /^asset$/i, /calibration/i], set: { Intent: ['Calibration'] } },
  { any: [/coil.*survey/i], set: { Intent: ['Calibration'], Measurement: ['B1'] } },
  { any: [/^PD$/, /proton.*density/i, /pd_/, /_pd/], set: { Intent: ['Structural'], Measurement: ['PD'] } },
  { any: [/asl/i, /blood.*flow/i, /art.*spin/i, /perfusion/i], set: { Measurement: ['Perfusion'] } },
  { any: [/tof/i, /angio/i], set: { Intent: ['Structural'], Measurement: ['MRA'] } },
  { any: [/swi/i, /mag_images/i, /pha_images/i, /megre/i], set: { Measurement: ['Susceptibility'] } },
  { any: [/mrs/i, /svs/i, /gaba/i, /csi/i, /mega/i, /press/i, /spect/i], set: { Intent: ['Spectroscopy'] } },
  { any: [/phase.*map/i, /^phase$/i], set: { Custom: ['Phase Map'] } },
  { any: [/screen.*save/i, /screenshot/i, /screensave/i], set: { Intent: ['Screenshot'] } },
];

export function classifyLabel(label: string): Classification {
  const text = label.trim();
  if (!text) return {};
  const out: Classification = {};
  const rule = LABEL_RULES.find((r) => r.any.some((re) => re.test(text)));
  if (rule) for (const [k, v] of Object.entries(rule.set)) out[k as keyof Classification] = [...(v as string[])];
  const add = (key: keyof Classification, words: { word: string; re: RegExp }[]) => {
    for (const { word, re } of words) if (re.test(text)) out[key] = union(out[key], [word]);
  };
  add('Features', FEATURES);
  add('Measurement', MEASUREMENTS);
  add('Intent', INTENTS);
  return out;
}

function union(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (!b?.length) return a;
  const out = [...(a ?? [])];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

function list(v: HeaderValue | undefined): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.filter((x) => x !== null && typeof x !== 'object').map((x) => String(x).toUpperCase());
  if (typeof v === 'object') return [];
  return [String(v).toUpperCase()];
}

function num(v: HeaderValue | undefined): number | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** b-values stated anywhere the vendors put them: standard attribute or the enhanced MR sequence. */
function maxBValue(h: Header): number | undefined {
  const direct = num(h.DiffusionBValue);
  if (direct !== undefined) return direct;
  const seq = h.MRDiffusionSequence;
  if (Array.isArray(seq)) {
    const bs = seq.map((item) => (item && typeof item === 'object' && !Array.isArray(item) ? num(item.DiffusionBValue) : undefined));
    const defined = bs.filter((b): b is number => b !== undefined);
    if (defined.length) return Math.max(...defined);
  }
  return undefined;
}

/** What the header itself says the series is, beyond any naming. */
export function classifyHeaderFacts(h: Header, facts: SeriesFacts = {}): Classification {
  const out: Classification = {};
  const imageType = list(h.ImageType);
  const scanning = list(h.ScanningSequence).flatMap((s) => s.split(/[\\ ]+/));
  const seqName = String(h.SequenceName ?? h.PulseSequenceName ?? '').toLowerCase();
  const isEpi = scanning.includes('EP') || /epi|^\*?ep/.test(seqName);
  const b = maxBValue(h);
  const temporal = num(h.NumberOfTemporalPositions) ?? 0;

  if (imageType.includes('LOCALIZER') || (facts.orientations !== undefined && facts.orientations > 1 && (facts.sliceCount ?? 0) < 10)) {
    out.Intent = ['Localizer'];
  } else if (
    imageType.includes('DIFFUSION') ||
    (b !== undefined && b > 0) ||
    /^\*?ep_b\d/.test(seqName) ||
    /(^|_)(dwi|diff)/.test(seqName)
  ) {
    out.Intent = ['Structural'];
    out.Measurement = ['Diffusion'];
    if (['ADC', 'FA', 'TRACEW', 'TRACE', 'EXP'].some((t) => imageType.includes(t))) out.Features = ['Derived'];
  } else if (imageType.includes('ASL') || imageType.includes('PERFUSION') || /asl|pasl|pcasl|tgse_pcasl/.test(seqName)) {
    out.Measurement = ['Perfusion'];
  } else if (
    imageType.includes('FIELD_MAP') ||
    imageType.includes('FIELDMAP') ||
    imageType.includes('B0MAP') ||
    /^\*?fm\d?[23]d/.test(seqName)
  ) {
    out.Intent = ['Fieldmap'];
    out.Measurement = ['B0'];
  } else if (isEpi && (temporal > 1 || imageType.includes('FMRI') || /^\*?epfid/.test(seqName))) {
    out.Intent = ['Functional'];
    out.Measurement = ['T2*'];
  }

  let features: string[] = [];
  const acq = list(h.MRAcquisitionType)[0];
  if (acq === '2D' || acq === '3D') features.push(acq);
  if (isEpi) features.push('EPI');
  else if (scanning.includes('GR')) features.push('Gradient-Echo');
  else if (scanning.includes('SE')) features.push('Spin-Echo');
  if (imageType[0] === 'DERIVED') features.push('Derived');
  if (imageType.includes('MB')) features.push('Multi-Band');
  if (imageType.includes('M') || imageType.includes('MAGNITUDE')) features.push('Magnitude');
  if (imageType.includes('P') || imageType.includes('PHASE')) features.push('Phase');
  if (imageType.includes('MIP')) features.push('MIP');
  if (out.Features) features = union(out.Features, features) ?? features;
  if (features.length) out.Features = features;
  return out;
}

/** The contrast the timing implies (TR/TE/TI in ms), for series nothing else identifies. */
export function classifyTiming(h: Header): Classification {
  const tr = num(h.RepetitionTime);
  const te = num(h.EchoTime);
  const ti = num(h.InversionTime) ?? 0;
  if (tr === undefined || te === undefined) return {};
  if (ti >= 1500 && tr >= 4000) return { Intent: ['Structural'], Measurement: ['T2'], Features: ['FLAIR'] };
  if (ti > 0 && ti < 1500 && te < 15) return { Intent: ['Structural'], Measurement: ['T1'] };
  if (te < 30 && tr < 800) return { Intent: ['Structural'], Measurement: ['T1'] };
  if (te > 50 && tr > 2000 && ti === 0) return { Intent: ['Structural'], Measurement: ['T2'] };
  if (te < 50 && tr > 1000 && ti === 0) return { Intent: ['Structural'], Measurement: ['PD'] };
  return {};
}

const STRUCTURAL_MEASUREMENTS = new Set(['T1', 'T2', 'PD', 'Diffusion', 'MRA', 'Susceptibility', 'T2*']);

export function classify(h: Header, facts: SeriesFacts = {}): Classification {
  if (facts.hasPixelData === false) return { Intent: ['Non-Image'] };
  if (String(h.Modality ?? '').toUpperCase() !== 'MR') return {};
  const sources = [classifyHeaderFacts(h, facts)];
  // The protocol name only fills what the description leaves open ("<MIP Range>" of a TOF protocol).
  sources.push(classifyLabel(String(h.SeriesDescription ?? '')), classifyLabel(String(h.ProtocolName ?? '')));
  const isEpi = list(h.ScanningSequence).includes('EP');
  if (!isEpi) sources.push(classifyTiming(h));

  const out: Classification = {};
  for (const src of sources) {
    for (const key of ['Intent', 'Measurement', 'Custom'] as const) if (!out[key] && src[key]?.length) out[key] = [...src[key]!];
    out.Features = union(out.Features, src.Features);
  }
  if (!out.Intent && out.Measurement?.some((m) => STRUCTURAL_MEASUREMENTS.has(m) && m !== 'T2*')) out.Intent = ['Structural'];
  if (!out.Features?.length) delete out.Features;
  if (!out.Intent && !out.Measurement && !out.Features && !out.Custom) return { Custom: ['N/A'] };
  return out;
}
