import { randomBytes } from 'node:crypto';
import type { ContainersTable, Database, FilesTable } from '@sprocket/server/db/schema';
import { newId } from '@sprocket/server/ids';
import { guessFileType, guessMimetype } from '@sprocket/types';
import type { Kysely, Transaction } from 'kysely';
import { elapsedMs } from './stats.js';

/**
 * Puts a realistic project straight into the metadata tables: going through the API would take
 * hours for a million file records, and the point here is how the API reads them back.
 */
export interface FillOptions {
  acquisitions: number;
  filesPerAcquisition: number;
  acquisitionsPerSession: number;
  sessionsPerSubject: number;
}

/** What the latency part needs to know about the data it queries. */
export interface FilledProject {
  groupId: string;
  projectId: string;
  projectLabel: string;
  /** One session in the middle of the project, with its subject and acquisitions. */
  sample: {
    subjectId: string;
    subjectLabel: string;
    sessionId: string;
    sessionLabel: string;
    acquisitionIds: string[];
    acquisitionLabel: string;
    fileName: string;
  };
  /** A label carried by ~1/PROTOCOLS of the acquisitions, and one carried by a single acquisition. */
  commonLabel: string;
  rareLabel: string;
  /** Every acquisition id, in id order (what after_id paging walks). */
  acquisitionIds: string[];
  counts: { subjects: number; sessions: number; acquisitions: number; files: number };
}

// Series as an MR scanner names them; labels repeat across sessions, as in real projects.
const PROTOCOLS: { name: string; intent: string; measurement: string; te: number; tr: number }[] = [
  { name: 'localizer', intent: 'Localizer', measurement: 'T2', te: 0.005, tr: 0.0086 },
  { name: 'T1w_MPRAGE', intent: 'Structural', measurement: 'T1', te: 0.00293, tr: 2.3 },
  { name: 'T2w_SPACE', intent: 'Structural', measurement: 'T2', te: 0.564, tr: 3.2 },
  { name: 'FLAIR', intent: 'Structural', measurement: 'T2', te: 0.388, tr: 5.0 },
  { name: 'fMRI_rest_AP', intent: 'Functional', measurement: 'T2*', te: 0.03, tr: 0.8 },
  { name: 'fMRI_rest_PA', intent: 'Functional', measurement: 'T2*', te: 0.03, tr: 0.8 },
  { name: 'fMRI_task_nback_run-1', intent: 'Functional', measurement: 'T2*', te: 0.03, tr: 0.8 },
  { name: 'fMRI_task_nback_run-2', intent: 'Functional', measurement: 'T2*', te: 0.03, tr: 0.8 },
  { name: 'SBRef_AP', intent: 'Functional', measurement: 'T2*', te: 0.03, tr: 0.8 },
  { name: 'SpinEchoFieldMap_AP', intent: 'Fieldmap', measurement: 'T2', te: 0.066, tr: 8.0 },
  { name: 'SpinEchoFieldMap_PA', intent: 'Fieldmap', measurement: 'T2', te: 0.066, tr: 8.0 },
  { name: 'dMRI_dir98_AP', intent: 'Structural', measurement: 'Diffusion', te: 0.0895, tr: 3.23 },
  { name: 'dMRI_dir98_PA', intent: 'Structural', measurement: 'Diffusion', te: 0.0895, tr: 3.23 },
  { name: 'dMRI_dir99_AP', intent: 'Structural', measurement: 'Diffusion', te: 0.0895, tr: 3.23 },
  { name: 'ASL_pCASL', intent: 'Functional', measurement: 'Perfusion', te: 0.0187, tr: 3.58 },
  { name: 'SWI', intent: 'Structural', measurement: 'Susceptibility', te: 0.02, tr: 0.028 },
  { name: 'MRS_PRESS', intent: 'Spectroscopy', measurement: 'MRS', te: 0.03, tr: 2.0 },
  { name: 'B1map', intent: 'Fieldmap', measurement: 'B1', te: 0.002, tr: 5.0 },
  { name: 'T1map_MP2RAGE', intent: 'Structural', measurement: 'T1', te: 0.0029, tr: 5.0 },
  { name: 'QSM_mGRE', intent: 'Structural', measurement: 'Susceptibility', te: 0.004, tr: 0.045 },
];

// What one acquisition holds after conversion and QA: raw DICOM, converted NIfTI + sidecar, QA outputs, derivatives.
const FILE_SUFFIXES = [
  '.dicom.zip',
  '.nii.gz',
  '.json',
  '.qa.png',
  '.qa.json',
  '_mriqc.html',
  '_brain.nii.gz',
  '_mask.nii.gz',
  '.bval',
  '.bvec',
  '_events.tsv',
  '.log',
];

const BATCH_ROWS = 1000; // 22 columns × 1000 stays under SQLite's 32766 and PostgreSQL's 65535 bind parameters
const ACQ_PER_TRANSACTION = 2000;

function isoAt(base: number, offsetSeconds: number): string {
  return new Date(base + offsetSeconds * 1000).toISOString();
}

async function insertBatches<T extends 'containers' | 'files'>(
  trx: Transaction<Database>,
  table: T,
  rows: (T extends 'containers' ? ContainersTable : FilesTable)[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    // The row type is checked by this function's signature; Kysely cannot narrow a generic table name.
    await trx
      .insertInto(table)
      .values(rows.slice(i, i + BATCH_ROWS) as any)
      .execute();
  }
}

export async function fillProject(db: Kysely<Database>, opts: FillOptions, log: (line: string) => void): Promise<FilledProject> {
  const start = process.hrtime.bigint();
  const base = Date.parse('2019-03-01T08:00:00Z');
  const stamp = new Date().toISOString();
  const groupId = `bench${Date.now().toString(36)}`;
  const projectId = newId();
  const projectLabel = 'Aging Brain Cohort';
  const perSubject = opts.acquisitionsPerSession * opts.sessionsPerSubject;
  const subjects = Math.ceil(opts.acquisitions / perSubject);
  const chainGroup = { group_id: groupId, project_id: projectId };
  const common = { notes: '[]', created: stamp, modified: stamp, acquisition_id: null };

  await db
    .insertInto('groups')
    .values({ id: groupId, label: 'Benchmark lab', info: '{}', tags: '[]', created: stamp, modified: stamp })
    .execute();
  await db
    .insertInto('containers')
    .values({
      ...common,
      ...chainGroup,
      id: projectId,
      type: 'project',
      label: projectLabel,
      subject_id: null,
      session_id: null,
      parent_type: 'group',
      parent_id: groupId,
      info: JSON.stringify({ IRB: 'STUDY-2019-0117', funding: 'R01AG000000', site: 'main 3T' }),
      tags: '[]',
      fields: JSON.stringify({ description: 'Longitudinal MRI of healthy ageing' }),
      uid: null,
      timestamp: null,
    })
    .execute();

  const acquisitionIds: string[] = [];
  const counts = { subjects: 0, sessions: 0, acquisitions: 0, files: 0 };
  const sampleSubject = Math.floor(subjects / 2);
  let sample: FilledProject['sample'] | undefined;
  let rareLabel = '';
  let containers: ContainersTable[] = [];
  let files: FilesTable[] = [];
  let pendingAcq = 0;
  let lastReport = process.hrtime.bigint();

  const flush = async () => {
    const c = containers;
    const f = files;
    containers = [];
    files = [];
    pendingAcq = 0;
    await db.transaction().execute(async (trx) => {
      await insertBatches(trx, 'containers', c);
      await insertBatches(trx, 'files', f);
    });
    if (elapsedMs(lastReport) > 10_000) {
      lastReport = process.hrtime.bigint();
      const s = elapsedMs(start) / 1000;
      log(`  … ${counts.acquisitions} acquisitions, ${counts.files} files (${Math.round(counts.files / s)} files/s)`);
    }
  };

  for (let s = 0; s < subjects && counts.acquisitions < opts.acquisitions; s++) {
    const subjectId = newId();
    const subjectLabel = `sub-${String(s + 1).padStart(5, '0')}`;
    const age = 55 + (s % 30);
    containers.push({
      ...common,
      ...chainGroup,
      id: subjectId,
      type: 'subject',
      label: subjectLabel,
      subject_id: null,
      session_id: null,
      parent_type: 'project',
      parent_id: projectId,
      info: JSON.stringify({ handedness: s % 9 ? 'right' : 'left', site: s % 3 ? 'A' : 'B', education_years: 12 + (s % 8) }),
      tags: '[]',
      fields: JSON.stringify({ sex: s % 2 ? 'female' : 'male', type: 'human', species: 'human', cohort: 'Study', age: age * 31_557_600 }),
      uid: null,
      timestamp: null,
    });
    counts.subjects++;
    for (let v = 0; v < opts.sessionsPerSubject && counts.acquisitions < opts.acquisitions; v++) {
      const sessionId = newId();
      const sessionLabel = `ses-${String(v + 1).padStart(2, '0')}`;
      const when = (s * opts.sessionsPerSubject + v) * 3600 * 7;
      containers.push({
        ...common,
        ...chainGroup,
        id: sessionId,
        type: 'session',
        label: sessionLabel,
        subject_id: subjectId,
        session_id: null,
        parent_type: 'subject',
        parent_id: subjectId,
        info: JSON.stringify({ scanner: 'Prisma_fit', StationName: 'MRC35', visit: v + 1 }),
        tags: v === 0 ? '["baseline"]' : '[]',
        fields: JSON.stringify({ operator: 'rt', weight: 60 + (s % 40), timezone: 'Europe/London' }),
        uid: `1.3.12.2.1107.5.2.43.${s}.${v}`,
        timestamp: isoAt(base, when),
      });
      counts.sessions++;
      const acqIds: string[] = [];
      const acqLabels: string[] = [];
      for (let a = 0; a < opts.acquisitionsPerSession && counts.acquisitions < opts.acquisitions; a++) {
        const proto = PROTOCOLS[a % PROTOCOLS.length]!;
        const series = a + 1;
        // About 1% of series are repeats, which get a label no other acquisition has.
        const repeat = (s * 31 + v * 7 + a) % 97 === 0;
        const label = repeat ? `${series} - ${proto.name} (repeat s${s}v${v})` : `${series} - ${proto.name}`;
        if (repeat && !rareLabel) rareLabel = label;
        const acqId = newId();
        acqIds.push(acqId);
        acqLabels.push(label);
        acquisitionIds.push(acqId);
        containers.push({
          ...common,
          ...chainGroup,
          id: acqId,
          type: 'acquisition',
          label,
          subject_id: subjectId,
          session_id: sessionId,
          parent_type: 'session',
          parent_id: sessionId,
          info: JSON.stringify({ SeriesNumber: series, SeriesDescription: proto.name, Manufacturer: 'SIEMENS', MagneticFieldStrength: 3 }),
          tags: '[]',
          fields: JSON.stringify({ timezone: 'Europe/London' }),
          uid: `1.3.12.2.1107.5.2.43.${s}.${v}.${series}`,
          timestamp: isoAt(base, when + series * 300),
        });
        counts.acquisitions++;
        const hashes = randomBytes(48 * opts.filesPerAcquisition).toString('hex');
        const stem = proto.name;
        for (let k = 0; k < opts.filesPerAcquisition; k++) {
          const suffix = FILE_SUFFIXES[k % FILE_SUFFIXES.length]!;
          const name = k < FILE_SUFFIXES.length ? `${stem}${suffix}` : `${stem}_${k}${suffix}`;
          const type = guessFileType(name);
          const imaging = type === 'dicom' || type === 'nifti';
          files.push({
            id: newId(),
            file_id: newId(),
            container_type: 'acquisition',
            container_id: acqId,
            project_id: projectId,
            name,
            version: 1,
            current: 1,
            type,
            mimetype: guessMimetype(name),
            size: imaging ? 2_000_000 + ((s * 7919 + a * 104_729 + k) % 60_000_000) : 1_000 + ((a * 37 + k) % 90_000),
            hash: hashes.slice(k * 96, k * 96 + 96),
            modality: imaging ? 'MR' : null,
            classification: imaging ? JSON.stringify({ Intent: [proto.intent], Measurement: [proto.measurement] }) : '{}',
            info: imaging
              ? JSON.stringify({
                  EchoTime: proto.te,
                  RepetitionTime: proto.tr,
                  SeriesNumber: series,
                  ImageType: ['ORIGINAL', 'PRIMARY', 'M', 'ND'],
                })
              : JSON.stringify({ generator: type === 'qa' ? 'mriqc 23.1' : 'dcm2niix v1.0.20230411' }),
            tags: '[]',
            origin: JSON.stringify({
              type: type === 'dicom' ? 'device' : 'job',
              id: type === 'dicom' ? 'MRC35' : '65f0c0ffee0000000000abcd',
            }),
            zip_member_count: type === 'dicom' ? 176 + (a % 50) : null,
            from_failed_job: 0,
            created: stamp,
            modified: stamp,
            replaced: null,
          });
          counts.files++;
        }
        if (++pendingAcq >= ACQ_PER_TRANSACTION) await flush();
      }
      if (!sample && s === sampleSubject) {
        sample = {
          subjectId,
          subjectLabel,
          sessionId,
          sessionLabel,
          acquisitionIds: acqIds,
          acquisitionLabel: acqLabels[Math.min(1, acqLabels.length - 1)]!,
          fileName: `${PROTOCOLS[1]!.name}${FILE_SUFFIXES[opts.filesPerAcquisition > 1 ? 1 : 0]}`,
        };
      }
    }
  }
  await flush();
  const secs = elapsedMs(start) / 1000;
  log(
    `  filled ${counts.subjects} subjects, ${counts.sessions} sessions, ${counts.acquisitions} acquisitions, ${counts.files} files in ${secs.toFixed(1)} s`,
  );
  acquisitionIds.sort();
  return {
    groupId,
    projectId,
    projectLabel,
    sample: sample!,
    commonLabel: `2 - ${PROTOCOLS[1]!.name}`,
    rareLabel,
    acquisitionIds,
    counts,
  };
}
