import type { Job } from '@sprocket/sdk';
import { type Column, shortDate } from '../output.js';

export const JOB_COLUMNS: Column<Job>[] = [
  { header: 'ID', value: (j) => j.id },
  { header: 'GEAR', value: (j) => (j.gear_info ? `${j.gear_info.name} ${j.gear_info.version}` : j.gear_id) },
  { header: 'STATE', value: (j) => j.state },
  { header: 'CREATED', value: (j) => shortDate(j.created) },
  { header: 'DESTINATION', value: (j) => (j.destination ? `${j.destination.type} ${j.destination.id}` : '') },
];

/** How long a job ran (or has been running), from its transitions. */
export function runTime(j: Job): string {
  const start = j.transitions?.running;
  if (!start) return '';
  const end = j.transitions?.complete ?? j.transitions?.failed ?? j.transitions?.cancelled;
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  return ms >= 0 ? `${(ms / 1000).toFixed(1)}s` : '';
}

/** The job as a short report for people. */
export function describeJob(j: Job): string {
  const lines = [
    `Job ${j.id}: ${j.state}${j.state === 'failed' && j.failure_reason ? ` (${j.failure_reason})` : ''}`,
    `  gear         ${j.gear_info ? `${j.gear_info.name} ${j.gear_info.version} (${j.gear_info.category})` : j.gear_id}`,
    `  destination  ${j.destination ? `${j.destination.type} ${j.destination.id}` : '-'}`,
  ];
  for (const [name, ref] of Object.entries(j.inputs ?? {})) lines.push(`  input        ${name}: ${ref.name ?? ''} (${ref.type} ${ref.id})`);
  const config = (j.config as { config?: Record<string, unknown> } | undefined)?.config ?? {};
  for (const [k, v] of Object.entries(config)) lines.push(`  config       ${k} = ${JSON.stringify(v)}`);
  lines.push(`  created      ${shortDate(j.created)}${j.attempt > 1 ? `  (attempt ${j.attempt}, retry of ${j.previous_job_id})` : ''}`);
  const ran = runTime(j);
  if (ran) lines.push(`  ran          ${ran}`);
  if (j.exit_code !== undefined && j.exit_code !== null) lines.push(`  exit code    ${j.exit_code}`);
  if (j.saved_files?.length) lines.push(`  outputs      ${j.saved_files.join(', ')}`);
  if (j.tags?.length) lines.push(`  tags         ${j.tags.join(', ')}`);
  return lines.join('\n');
}
