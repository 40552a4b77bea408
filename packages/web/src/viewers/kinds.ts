/** Which viewer can show a file, decided from its name, type and MIME type (no bytes read). */
export type ViewerKind = 'nifti' | 'dicom' | 'html' | 'image' | 'csv' | 'json' | 'text';

export function viewerKind(f: { name: string; type?: string | null; mimetype?: string }): ViewerKind | undefined {
  const name = f.name.toLowerCase();
  const mime = (f.mimetype ?? '').split(';')[0]!.trim().toLowerCase();
  if (f.type === 'nifti' || /\.nii(\.gz)?$/.test(name)) return 'nifti';
  if (/\.dcm$/.test(name) || (f.type === 'dicom' && /\.zip$/.test(name)) || /\.dicom\.zip$/.test(name)) return 'dicom';
  if (mime === 'text/html' || /\.html?$/.test(name)) return 'html';
  if (/\.(png|jpe?g|gif|webp|bmp|svg)$/.test(name) || mime.startsWith('image/')) return 'image';
  if (/\.(csv|tsv)$/.test(name) || mime === 'text/csv' || mime === 'text/tab-separated-values') return 'csv';
  if (/\.json$/.test(name) || mime === 'application/json') return 'json';
  if (/\.(txt|log|md|py|sh|ya?ml|xml|bvec|bval)$/.test(name) || mime.startsWith('text/')) return 'text';
  return undefined;
}
