/**
 * How DICOM files are sorted into series, shared by the CLI's `import dicom` (files on disk) and the
 * web UI's drag-and-drop upload (files in the browser): pure, so both sort the same files the same way.
 */

/** The header fields the sorting reads; `file` names the file however the caller knows it. */
export interface DicomHeader {
  file: string;
  size: number;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  studyDescription: string;
  studyDate: string;
  seriesNumber: string;
  seriesDescription: string;
  instanceNumber: number;
}

/** The DICOM tags (dicom-parser's `xGGGGEEEE` spelling) the header fields come from. */
export const DICOM_SORT_TAGS = {
  patientId: 'x00100020',
  studyUid: 'x0020000d',
  seriesUid: 'x0020000e',
  studyDescription: 'x00081030',
  studyDate: 'x00080020',
  studyTime: 'x00080030',
  seriesNumber: 'x00200011',
  seriesDescription: 'x0008103e',
  instanceNumber: 'x00200013',
  mediaStorageSopClass: 'x00020002',
} as const;

/** A DICOMDIR (Media Storage Directory) indexes other files; it is no image of its own. */
export const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';

/** One series as it will land: subject / session / acquisition and the zip holding its files. */
export interface SeriesPlan<T extends DicomHeader = DicomHeader> {
  subject: string;
  session: { label: string; uid: string };
  acquisition: { label: string; uid: string };
  zipName: string;
  files: T[];
  bytes: number;
}

/** `20030505` → `2003-05-05`; anything else unchanged. */
function isoDate(d: string): string {
  return /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : d;
}

/** A label usable as a file name: no slashes or control characters. */
export function fileSafe(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: labels may hold anything; file names may not
  const cleaned = s.replace(/[/\\\u0000-\u001f]/g, '_').trim();
  return cleaned && cleaned !== '.' && cleaned !== '..' ? cleaned : '_';
}

/** Whitespace runs collapsed, slashes replaced: a label that works as a path element. */
export function pathSafe(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/\//g, '_').trim();
}

export interface PlanOptions {
  /** Put every series under this subject instead of its PatientID. */
  subject?: string;
  /** Label every session this instead of its StudyDescription. */
  session?: string;
}

/**
 * Sorts DICOM files into series: subject = PatientID, session = StudyInstanceUID (labelled with the
 * StudyDescription, else the study date, else the UID), acquisition = SeriesInstanceUID (labelled
 * "<SeriesNumber> - <SeriesDescription>"). Files keep InstanceNumber order inside each zip.
 */
export function planSeries<T extends DicomHeader>(infos: T[], opts: PlanOptions = {}): SeriesPlan<T>[] {
  const bySeries = new Map<string, T[]>();
  for (const i of infos) {
    const key = `${i.studyUid}\u0000${i.seriesUid}`;
    const list = bySeries.get(key);
    if (list) list.push(i);
    else bySeries.set(key, [i]);
  }
  const plans: SeriesPlan<T>[] = [];
  for (const files of bySeries.values()) {
    files.sort((a, b) => a.instanceNumber - b.instanceNumber || a.file.localeCompare(b.file));
    // The first file that names a field speaks for the series. Labels are path elements, so a
    // slash in a description would make the container unreachable by path.
    const pick = (f: (x: T) => string) => pathSafe(files.map(f).find((v) => v !== '') ?? '');
    const first = files[0]!;
    const subject = opts.subject ?? (pick((x) => x.patientId) || 'unknown');
    const sessionLabel = opts.session ?? (pick((x) => x.studyDescription) || isoDate(pick((x) => x.studyDate)) || first.studyUid);
    const number = pick((x) => x.seriesNumber);
    const description = pick((x) => x.seriesDescription);
    const acqLabel = number && description ? `${number} - ${description}` : description || (number ? `${number}` : first.seriesUid);
    plans.push({
      subject,
      session: { label: sessionLabel, uid: first.studyUid },
      acquisition: { label: acqLabel, uid: first.seriesUid },
      zipName: `${fileSafe(acqLabel)}.dicom.zip`,
      files,
      bytes: files.reduce((n, f) => n + f.size, 0),
    });
  }
  return plans.sort(
    (a, b) =>
      a.subject.localeCompare(b.subject) ||
      a.session.label.localeCompare(b.session.label) ||
      a.acquisition.label.localeCompare(b.acquisition.label, undefined, { numeric: true }),
  );
}
