import { type ContainerLabel, type Job, launchedBy } from '@sprocket/sdk';
import { type Column, shortDate } from '../output.js';

export const JOB_COLUMNS: Column<Job>[] = [
  { header: 'ID', value: (j) => j.id },
  { header: 'GEAR', value: (j) => (j.gear_info ? `${j.gear_info.name} ${j.gear_info.version}` : j.gear_id) },
  { header: 'STATE', value: (j) => j.state },
  { header: 'CREATED', value: (j) => shortDate(j.created) },
  { header: 'DESTINATION', value: (j) => (j.destination ? `${j.destination.type} ${j.destination.id}` : '') },
];

/** `name@version` of the job's gear (its id when the job carries no gear_info). */
export function gearLabel(j: Job): string {
  return j.gear_info?.name ? `${j.gear_info.name}@${j.gear_info.version}` : j.gear_id;
}

/**
 * The job's destination as a path (group/project/subject/session/acquisition labels) from a
 * listing's containers map; a destination the reader may not see is `(hidden <type>)`.
 */
export function destinationPath(j: Job, containers: Record<string, ContainerLabel>): string {
  const d = j.destination as { type?: string; id?: string; redacted?: boolean } | undefined;
  if (!d) return '';
  if (d.redacted || !d.id) return `(hidden ${d.type ?? 'container'})`;
  return containers[d.id]?.path ?? `${d.type} ${d.id}`;
}

/** Columns of `job ls` with a listing's containers map: where each job ran and who launched it. */
export function listingColumns(containers: Record<string, ContainerLabel>): Column<Job>[] {
  return [
    { header: 'ID', value: (j) => j.id },
    { header: 'STATE', value: (j) => j.state },
    { header: 'GEAR', value: gearLabel },
    { header: 'DESTINATION', value: (j) => destinationPath(j, containers) },
    { header: 'LAUNCHED BY', value: (j) => launchedBy(j.origin) },
    { header: 'QUEUED', value: (j) => shortDate(j.created) },
    { header: 'ELAPSED', value: (j) => runTime(j) },
  ];
}

/** How long a job ran (or has been running), from its transitions. */
export function runTime(j: Job): string {
  const start = j.transitions?.running;
  if (!start) return '';
  const end = j.transitions?.complete ?? j.transitions?.failed ?? j.transitions?.cancelled;
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  return ms >= 0 ? `${(ms / 1000).toFixed(1)}s` : '';
}

/** The job as a short report for people. */
export function describeJob(j: Job, containers: Record<string, ContainerLabel> = {}): string {
  const dest = j.destination as { type?: string; id?: string } | undefined;
  const path = dest?.id ? containers[dest.id]?.path : undefined;
  const lines = [
    `Job ${j.id}: ${j.state}${j.state === 'failed' && j.failure_reason ? ` (${j.failure_reason})` : ''}`,
    `  gear         ${j.gear_info ? `${j.gear_info.name} ${j.gear_info.version} (${j.gear_info.category})` : j.gear_id}`,
    `  destination  ${j.destination ? `${path ? `${path} (${dest?.type} ${dest?.id})` : `${j.destination.type} ${j.destination.id}`}` : '-'}`,
    `  launched by  ${launchedBy(j.origin) || '-'}`,
  ];
  for (const [name, ref] of Object.entries(j.inputs ?? {})) lines.push(`  input        ${name}: ${ref.name ?? ''} (${ref.type} ${ref.id})`);
  const config = (j.config as { config?: Record<string, unknown> } | undefined)?.config ?? {};
  for (const [k, v] of Object.entries(config)) lines.push(`  config       ${k} = ${JSON.stringify(v)}`);
  lines.push(`  created      ${shortDate(j.created)}${j.attempt > 1 ? `  (attempt ${j.attempt}, retry of ${j.previous_job_id})` : ''}`);
  // A job run on a batch cluster: the scheduler's job id and where it stands there.
  if (j.cluster) lines.push(`  cluster      ${j.cluster.summary} (${j.cluster.scheduler} job ${j.cluster.job_id})`);
  const ran = runTime(j);
  if (ran) lines.push(`  ran          ${ran}`);
  if (j.exit_code !== undefined && j.exit_code !== null) lines.push(`  exit code    ${j.exit_code}`);
  if (j.saved_files?.length) lines.push(`  outputs      ${j.saved_files.join(', ')}`);
  if (j.tags?.length) lines.push(`  tags         ${j.tags.join(', ')}`);
  return lines.join('\n');
}
