/**
 * Batch-run gears with the SDK: Flywheel's tutorial "Batch Run Flywheel Gears with SDK"
 * (flywheel-tutorials python/batch-run-gears.ipynb), step by step, with @sprocket/sdk.
 *
 * Over a project holding DICOM acquisitions (as the tutorial's upload-data notebook makes it), it
 *   1. checks who you are, the site, and that you may run gears in the project;
 *   2. runs dcm2niix on every DICOM file of the first acquisitions of each session;
 *   3. runs the QA gear (MRIQC in the tutorial; Sprocket ships `nifti-qa`, which computes MRIQC's
 *      metrics) on every NIfTI file those jobs wrote;
 *   4. downloads the QA outputs per subject/session and writes a table of the metrics as CSV.
 *
 *   npx tsx examples/batch-run-gears.ts --project "<label>" [--key <API key>] [--results results]
 *       [--qa-gear nifti-qa] [--max-acquisitions 6]
 *
 * Without --key it uses $FW_KEY, else the key `sprocket login` stored. The gears must be on the
 * site already (`sprocket gear upload` in each gear's folder; the tutorial uses `fw gear upload`).
 * Unlike the notebook, where a person waits between cells, the script waits for the conversions to
 * finish before it looks for NIfTI files, and for the QA jobs before it downloads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiError, Client, type Container, type FileEntry, type Gear, type Project, type WaitProgress } from '@sprocket/sdk';

export interface TutorialOptions {
  apiKey?: string;
  projectLabel: string;
  /** Where QA outputs and the CSV go (the tutorial's PATH_TO_DOWNLOAD). */
  results: string;
  qaGear?: string;
  /** The tutorial processes only the first few acquisitions of each session (`if i > 5: break`). */
  maxAcquisitions?: number;
  /** Between job status polls. */
  pollMs?: number;
  log?: (msg: string) => void;
}

export interface TutorialResult {
  dcm2niixJobs: string[];
  qaJobs: string[];
  jobStates: Record<string, string>;
  downloaded: string[];
  csvPath: string;
  rows: Record<string, unknown>[];
}

// --- permission.py: can this user run gears in this project? --------------------------------

const SITE_PERM_ORDER = ['user', 'developer', 'site_admin'];
const GROUP_PERM_ORDER = ['ro', 'rw', 'admin'];
const PROJECT_MIN_PERM = [
  'containers_view_metadata',
  'analyses_view_metadata',
  'files_view_metadata',
  'files_view_contents',
  'files_download',
  'tags_view',
  'notes_view',
  'project_permissions_view',
  'gear_rules_view',
  'data_views_view',
  'session_templates_view',
  'jobs_view',
];

interface MinRequirements {
  site: string;
  group: string;
  project: string[];
}

async function checkUserPermission(
  fw: Client,
  minReqs: MinRequirements,
  groupId: string,
  project: Project,
  log: (m: string) => void,
): Promise<boolean> {
  const user = await fw.getCurrentUser();
  const site = Math.max(...user.roles.map((r) => SITE_PERM_ORDER.indexOf(r)));
  if (site < SITE_PERM_ORDER.indexOf(minReqs.site)) {
    log(`WARNING Please contact your site admin to get at least ${minReqs.site} permission on the site`);
    return false;
  }
  const group = await fw.lookup(groupId);
  let groupAccess: string | undefined;
  try {
    groupAccess = (await fw.getGroupUserPermission(group.id, user.id)).access;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  if (!user.roles.includes('site_admin') && GROUP_PERM_ORDER.indexOf(groupAccess ?? '') < GROUP_PERM_ORDER.indexOf(minReqs.group)) {
    log(`WARNING You need at least '${minReqs.group}' access on group ${group.id} (you have ${groupAccess ?? 'none'})`);
    return false;
  }
  // Project roles; without any, the group access applies to the group's projects (its built-in role).
  let roleIds: string[];
  try {
    roleIds = (await fw.getProjectUserPermission(project.id, user.id)).role_ids;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    roleIds = groupAccess ? [groupAccess] : user.roles.includes('site_admin') ? ['admin'] : [];
  }
  const actions = new Set<string>();
  for (const roleId of roleIds) for (const a of (await fw.getRole(roleId)).actions) actions.add(a);
  const missing = [...new Set([...minReqs.project, ...PROJECT_MIN_PERM])].filter((a) => !actions.has(a));
  if (missing.length) {
    log(`WARNING Your roles on project ${project.label} lack: ${missing.join(', ')}`);
    return false;
  }
  return true;
}

// --- the tutorial ------------------------------------------------------------------------------

export async function batchRunGears(opts: TutorialOptions): Promise<TutorialResult> {
  const log = opts.log ?? ((m: string) => console.log(`${new Date().toISOString()} INFO ${m}`));
  const qaGearName = opts.qaGear ?? 'nifti-qa';
  const maxAcquisitions = opts.maxAcquisitions ?? 6;

  // Flywheel API Key and Client
  const fw = new Client(opts.apiKey);
  log(`You are now logged in as ${(await fw.getCurrentUser()).email} to ${(await fw.getConfig()).site.api_url}`);

  // The tutorial fetches the matching CLI build; Sprocket's CLI is this repository's `sprocket`.
  const LATEST_CLI_VERSION = (await fw.getVersion()).cli_version;
  log(`CLI version of this site: ${LATEST_CLI_VERSION}`);

  // Initialize a few values
  const project = await fw.projects.findFirst(`label=${opts.projectLabel}`);
  if (!project) throw new Error(`no project labelled '${opts.projectLabel}' is visible to you`);
  if (!(await checkUserPermission(fw, { site: 'user', group: 'ro', project: ['jobs_run_cancel'] }, project.group, project, log))) {
    throw new Error(`you may not run gears in project '${project.label}'`);
  }
  // Requirement: no gear rules in the test project (they would run the same gears on their own).
  try {
    const active = (await fw.getProjectRules(project.id)).filter((r) => !r.disabled);
    if (active.length) log(`WARNING project ${project.label} has ${active.length} enabled gear rule(s); they may launch jobs too`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }

  // Useful function
  async function runGear(gear: Gear, inputs: Record<string, FileEntry>, dest: Container): Promise<string | undefined> {
    try {
      // Run the gear on the inputs provided, store output in dest container and return the job ID
      const gearJobId = await gear.run({ inputs, destination: dest });
      log(`Submitted job ${gearJobId}`);
      return gearJobId;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      log(`ERROR An exception was raised when attempting to submit a job for ${Object.values(inputs)[0]?.name}: ${e.message}`);
      return undefined;
    }
  }
  const progress = (what: string) => (p: WaitProgress) =>
    log(
      `${what}: ${p.done}/${p.total} finished (${Object.entries(p.counts)
        .filter(([, n]) => n)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ')})`,
    );

  // Run DICOM-2-NIfTI Gear
  const dcm2niftiGear = await fw.lookup<Gear>('gears/dcm2niix');
  const dcm2niftiJobList: string[] = [];
  for await (const session of project.sessions.iter()) {
    let i = 0;
    for await (const acq of session.acquisitions.iter()) {
      for (const fileObj of acq.files) {
        // We only want DICOMs
        if (fileObj.type === 'dicom') {
          const jobId = await runGear(dcm2niftiGear, { dcm2niix_input: fileObj }, fileObj.parent);
          if (jobId) dcm2niftiJobList.push(jobId);
        }
      }
      // we process only the first acquisitions of each session
      if (++i >= maxAcquisitions) break;
    }
  }
  await fw.waitForJobs(dcm2niftiJobList, { onProgress: progress('dcm2niix'), pollMs: opts.pollMs });

  // Run the QA gear (MRIQC in the tutorial)
  const qaGear = await fw.lookup<Gear>(`gears/${qaGearName}`);
  const qaJobList: string[] = [];
  for await (const session of project.sessions.iter()) {
    let i = 0;
    for await (const acq of session.acquisitions.iter()) {
      for (const fileObj of acq.files) {
        if (fileObj.type === 'nifti') {
          const jobId = await runGear(qaGear, { nifti: fileObj }, fileObj.parent);
          if (jobId) qaJobList.push(jobId);
        }
      }
      if (++i >= maxAcquisitions) break;
    }
  }

  // Checking job status
  const jobStates: Record<string, string> = {};
  for (const job of qaJobList) {
    const jobInfo = await fw.getJob(job);
    log(`Submitted Job Status: ${jobInfo.state}`);
  }
  for (const job of await fw.waitForJobs([...dcm2niftiJobList, ...qaJobList], { onProgress: progress('all jobs'), pollMs: opts.pollMs })) {
    jobStates[job.id] = job.state;
  }

  // Download/View Output with SDK
  const PATH_TO_DOWNLOAD = path.resolve(opts.results);
  fs.mkdirSync(PATH_TO_DOWNLOAD, { recursive: true });
  const downloaded: string[] = [];
  for await (let session of project.sessions.iter()) {
    session = await session.reload();
    // A directory per session (under its subject: BIDS-style data labels every subject's first session alike)
    const sessionPath = path.join(PATH_TO_DOWNLOAD, session.subject.label, session.label);
    fs.mkdirSync(sessionPath, { recursive: true });
    for await (const acq of session.acquisitions.iter()) {
      for (const fileObj of acq.files) {
        // We only want QA
        if (fileObj.type === 'qa') {
          const destPath = path.join(sessionPath, fileObj.name);
          // Download the file if it is not there yet
          if (!fs.existsSync(destPath)) downloaded.push(await fileObj.download(destPath));
          else log('File exists!');
        }
      }
    }
  }

  // A summary table of the QC values of each output file
  const rows: Record<string, unknown>[] = [];
  for await (let session of project.sessions.iter()) {
    session = await session.reload();
    for await (let acq of session.acquisitions.iter()) {
      // Lists leave out file info; a reload brings it
      acq = await acq.reload();
      for (const fileObj of acq.files) {
        if (fileObj.type !== 'qa') continue;
        const tmp: Record<string, unknown> = {};
        for (const [info, value] of Object.entries(fileObj.info ?? {})) {
          // bids_meta's fields become columns; other nested values are left out
          if (info === 'bids_meta' && value && typeof value === 'object') Object.assign(tmp, value);
          else if (value === null || typeof value !== 'object') tmp[info] = value;
        }
        delete tmp.dataset;
        // Reports carry no metrics of their own: a row per file that has numbers
        if (Object.values(tmp).some((v) => typeof v === 'number')) {
          rows.push({ subject: session.subject.label, session: session.label, acquisition: acq.label, file: fileObj.name, ...tmp });
        }
      }
    }
  }
  const csvPath = path.join(PATH_TO_DOWNLOAD, 'mriqc_output.csv');
  fs.writeFileSync(csvPath, toCsv(rows));
  log(`Wrote ${rows.length} row(s) of QA metrics to ${csvPath}`);
  return { dcm2niixJobs: dcm2niftiJobList, qaJobs: qaJobList, jobStates, downloaded, csvPath, rows };
}

function toCsv(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => {
    if (v === undefined || v === null) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

// Run as a script
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      key: { type: 'string' },
      project: { type: 'string' },
      results: { type: 'string', default: 'results' },
      'qa-gear': { type: 'string', default: 'nifti-qa' },
      'max-acquisitions': { type: 'string', default: '6' },
    },
  });
  if (!values.project) {
    console.error('usage: npx tsx examples/batch-run-gears.ts --project <label> [--key <API key>] [--results <dir>] [--qa-gear <name>]');
    process.exit(2);
  }
  batchRunGears({
    apiKey: values.key ?? process.env.FW_KEY,
    projectLabel: values.project,
    results: values.results!,
    qaGear: values['qa-gear'],
    maxAcquisitions: Number(values['max-acquisitions']),
  }).then(
    (r) =>
      console.log(
        `Done: ${r.dcm2niixJobs.length} conversion job(s), ${r.qaJobs.length} QA job(s), ${r.downloaded.length} file(s) downloaded, ${r.csvPath}`,
      ),
    (e) => {
      console.error(e instanceof ApiError ? `error: ${e.message} (${e.method} ${e.url})` : `error: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
