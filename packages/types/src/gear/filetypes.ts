/**
 * Flywheel's extension → file type map. Longest suffix wins, so `x.dicom.zip` is dicom, not archive,
 * and `x.qa.json` is qa, not source code.
 */
const TYPES: Record<string, string[]> = {
  dicom: ['.dcm', '.dcm.zip', '.dicom.zip', '.dicom', '.dcm.gz'],
  nifti: ['.nii.gz', '.nii', '.nifti'],
  bval: ['.bval', '.bvals'],
  bvec: ['.bvec', '.bvecs'],
  parrec: ['.parrec.zip', '.par-rec.zip', '.par', '.rec'],
  pfile: ['.7.gz', '.7', '.7.zip'],
  qa: ['.qa.png', '.qa.json', '.qa.html'],
  eeg: ['.eeg.zip'],
  gephysio: ['.gephysio.zip'],
  ismrmrd: ['.h5', '.hdf5'],
  'MATLAB data': ['.mat'],
  'MGH data': ['.mgh', '.mgz', '.mgh.gz'],
  'PsychoPy data': ['.psydat'],
  archive: ['.zip', '.tbz2', '.tar.gz', '.tbz', '.tar.bz2', '.tgz', '.tar', '.txz', '.tar.xz', '.gz', '.bz2'],
  document: ['.docx', '.doc', '.odt'],
  image: ['.jpg', '.tif', '.jpeg', '.gif', '.bmp', '.png', '.tiff', '.svg'],
  markup: ['.html', '.htm', '.xml'],
  markdown: ['.md', '.markdown'],
  log: ['.log'],
  pdf: ['.pdf'],
  presentation: ['.ppt', '.pptx', '.odp'],
  'source code': ['.c', '.py', '.cpp', '.js', '.m', '.json', '.java', '.php', '.css', '.toml', '.yaml', '.yml', '.ts', '.sh'],
  spreadsheet: ['.xls', '.xlsx', '.ods'],
  'tabular data': ['.csv.gz', '.csv', '.tsv.gz', '.tsv'],
  text: ['.txt'],
  video: ['.mpeg', '.mpg', '.mov', '.mp4', '.m4v', '.mts'],
};

const SUFFIXES: [string, string][] = Object.entries(TYPES)
  .flatMap(([type, exts]) => exts.map((e) => [e, type] as [string, string]))
  .sort((a, b) => b[0].length - a[0].length);

export function guessFileType(name: string): string | null {
  const lower = name.toLowerCase();
  for (const [suffix, type] of SUFFIXES) if (lower.endsWith(suffix)) return type;
  return null;
}

const MIME: [string, string][] = (
  [
    ['.nii.gz', 'application/gzip'],
    ['.gz', 'application/gzip'],
    ['.tgz', 'application/gzip'],
    ['.zip', 'application/zip'],
    ['.tar', 'application/x-tar'],
    ['.dcm', 'application/dicom'],
    ['.nii', 'application/octet-stream'],
    ['.json', 'application/json'],
    ['.html', 'text/html'],
    ['.htm', 'text/html'],
    ['.txt', 'text/plain'],
    ['.log', 'text/plain'],
    ['.md', 'text/markdown'],
    ['.csv', 'text/csv'],
    ['.tsv', 'text/tab-separated-values'],
    ['.xml', 'application/xml'],
    ['.pdf', 'application/pdf'],
    ['.png', 'image/png'],
    ['.jpg', 'image/jpeg'],
    ['.jpeg', 'image/jpeg'],
    ['.gif', 'image/gif'],
    ['.svg', 'image/svg+xml'],
    ['.py', 'text/x-python'],
    ['.sh', 'application/x-sh'],
    ['.mp4', 'video/mp4'],
  ] as [string, string][]
).sort((a, b) => b[0].length - a[0].length);

export function guessMimetype(name: string): string {
  const lower = name.toLowerCase();
  for (const [suffix, mime] of MIME) if (lower.endsWith(suffix)) return mime;
  return 'application/octet-stream';
}

/** File names are path segments: no separators, no parent references, no control characters. */
export function fileNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 512) return 'is longer than 512 characters';
  if (name.includes('/') || name.includes('\\')) return "contains a path separator ('/' or '\\')";
  if (name === '.' || name === '..') return `is '${name}'`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a NUL or control character';
  return undefined;
}
