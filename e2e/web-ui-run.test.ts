import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BwrapExecutor } from '../packages/engine/src/executors/bwrap.js';
import { type EngineProcess, engineKey, startEngine, uploadGear } from '../packages/engine/test/engines.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { makeUser, ok } from '../packages/server/test/people.js';
import { buildGears } from '../scripts/build-gears.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithPassword } from '../test-fixtures/browser.js';
import { type RealSeries, realSeries } from '../test-fixtures/real-series.js';
import { ROOT, sprocket } from './processes.js';

/**
 * Running gears from the web UI, in a real Chromium against a real server and engine with the
 * shipped dcm2niix and nifti-qa gears and real DICOM (test-fixtures/real-series.ts): dcm2niix
 * from the Run dialog, its row turning complete without a reload; a config value the gear refuses,
 * refused in words before launch; nifti-qa batch-run from the Sessions tab with the proposal shown
 * first; a gear rule added, dry-run and applied; an info value edited and read back from the API.
 * Screenshots land in e2e/output/web-ui-run/.
 */
const hasDcm2niix = fs.existsSync('/usr/bin/dcm2niix');
const shots = screenshots('web-ui-run', () => page);
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

let s: TestServer;
let user: Api;
let engine: EngineProcess | undefined;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let tmp: string;
let skip: string | undefined;
let series: RealSeries[] = [];
let project: string;
/** The dcm2niix job the Run dialog launched. */
let converted: string;
/** Per subject label: its session and its one (DICOM) acquisition. */
const where = new Map<string, { session: string; acquisition: string }>();
const PASSWORD = 'correct horse battery';
const EMAIL = 'runner@e2e.org';
const PROJECT = 'Run study';

const origin = () => s.url.replace(/\/api$/, '');
const { shot } = shots;

describe.skipIf(!CHROMIUM || !hasDcm2niix)('running gears from the web UI in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-web-run-'));
    const found = realSeries(path.join(tmp, 'dicom'));
    if (found.skip !== undefined) {
      skip = found.skip;
      console.warn(`web UI run test skipped: ${skip}`);
      return;
    }
    // Two subjects: enough for a proposal with a match and a miss.
    series = found.series.slice(0, 2);
    await buildGears(['dcm2niix', 'nifti-qa']);
    s = await startTestServer();
    const ids = await makeHierarchy(s.admin);
    user = await makeUser(s, EMAIL);
    // Group admin: may launch, and manage the project's gear rules and members.
    ok(await s.admin.post(`/groups/${ids.group}/permissions`, { _id: EMAIL, access: 'admin' }));
    ok(await s.admin.put(`/users/${EMAIL}/password`, { password: PASSWORD }));
    const key = s.admin.key!;
    for (const gear of ['dcm2niix', 'nifti-qa']) await sprocket(key, ['gear', 'upload', path.join(ROOT, 'gears', gear)], tmp);
    for (const x of series) await sprocket(key, ['import', 'dicom', x.dir, ids.group, PROJECT, '--subject', x.subject], tmp);
    const projects = ok(await s.admin.get('/projects')) as { _id: string; label: string }[];
    project = projects.find((p) => p.label === PROJECT)!._id;
    for (const ses of ok(await s.admin.get(`/projects/${project}/sessions`)) as { _id: string; subject: { label: string } }[]) {
      const [acq] = ok(await s.admin.get(`/sessions/${ses._id}/acquisitions`)) as { _id: string }[];
      where.set(ses.subject.label, { session: ses._id, acquisition: acq!._id });
    }
    engine = startEngine(await engineKey(s.admin), { concurrency: 2, executor });
    browser = await launchChromium(['--disable-gpu']);
    ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
    await signInWithPassword(page, origin(), EMAIL, PASSWORD);
  }, 300_000);

  afterEach((t) => shots.onFailure(t));

  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
    await s?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const first = () => series[0]!.subject;

  it('runs dcm2niix from the Run dialog and sees its row turn complete without reloading', async () => {
    if (skip) return;
    await page.getByRole('link', { name: 'Gears', exact: true }).click();
    await page.getByRole('link', { name: 'dcm2niix' }).click();
    await page.getByRole('heading', { name: 'Configuration' }).waitFor();
    await shot('01-gear-manifest');
    await page.getByRole('link', { name: 'Run…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog
      .getByLabel('Project')
      .selectOption({ label: `${(ok(await user.get(`/projects/${project}`)) as { group: string }).group} / ${PROJECT}` });
    await dialog.getByLabel('Session').selectOption(where.get(first())!.session);
    await dialog.getByLabel('Acquisition').selectOption(where.get(first())!.acquisition);
    // The one DICOM archive of the acquisition is the only file offered, and so chosen.
    const picker = dialog.locator('[data-input="dcm2niix_input"] select');
    await expect.poll(() => picker.inputValue()).toMatch(/\.dicom\.zip$/);
    const offered = await picker.locator('option').allTextContents();
    expect(offered.filter((o) => o.includes('.dicom.zip'))).toHaveLength(1);
    // A value other than the default, for "Run again" to bring back.
    await dialog.locator('[data-config="filename"] input').fill('%p_%s');
    await shot('02-run-dialog');
    await page.evaluate('window.__noReload = true');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Queued job' }).waitFor();
    const id = (await dialog.locator('.mono').textContent())!.trim();
    await dialog.getByRole('link', { name: "See it in the project's jobs" }).click();
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    await row.locator('[data-state="complete"]').waitFor({ timeout: 120_000 });
    expect(await page.evaluate('window.__noReload')).toBe(true);
    await shot('03-dcm2niix-complete');
    const job = ok(await user.get(`/jobs/${id}`)) as {
      state: string;
      inputs: Record<string, { name: string }>;
      config: { config: Record<string, unknown> };
    };
    expect(job.state).toBe('complete');
    expect(job.inputs.dcm2niix_input!.name).toMatch(/\.dicom\.zip$/);
    expect(job.config.config.filename).toBe('%p_%s');
    converted = id;
  }, 180_000);

  it("opens Run again from the job page with the job's destination, input and config filled in", async () => {
    if (skip) return;
    // A job's `config` is Flywheel's invocation: `{config, inputs, destination}`.
    const job = ok(await user.get(`/jobs/${converted}`)) as {
      config: { config: Record<string, unknown> };
      inputs: Record<string, { name: string }>;
    };
    await page.goto(`${origin()}/jobs/${converted}`);
    // The job page marks what this run set differently from the gear's defaults, and only that.
    const config = page.getByRole('table', { name: 'Configuration' });
    await config.locator('tr[data-config="filename"]').waitFor();
    expect(await config.locator('tr.changed').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-config')))).toEqual(['filename']);
    expect(await config.locator('tr[data-config="filename"] td').first().textContent()).toBe('%p_%schanged');
    // The log can be searched; the outputs open in their container's viewer.
    const total = Number((await page.getByTestId('log-count').textContent())!.match(/[\d,]+/)![0].replace(/,/g, ''));
    await page.getByPlaceholder('Search the log').fill('dcm2niix');
    await expect.poll(() => page.getByTestId('log-count').textContent()).toMatch(new RegExp(`^\\d+ of ${total.toLocaleString()} lines$`));
    for (const line of await page.locator('[data-testid="job-log"] span').allTextContents())
      expect(line.toLowerCase()).toContain('dcm2niix');
    await page.getByPlaceholder('Search the log').fill('');
    const nifti = page.getByRole('link', { name: /\.nii\.gz$/ }).first();
    expect(await nifti.getAttribute('href')).toMatch(new RegExp(`^/acquisitions/${where.get(first())!.acquisition}\\?view=.*\\.nii\\.gz$`));
    await page.getByRole('link', { name: 'Run again…' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByLabel('Acquisition').inputValue()).toBe(where.get(first())!.acquisition);
    expect(await dialog.getByLabel('Session').inputValue()).toBe(where.get(first())!.session);
    expect(await dialog.getByLabel('Project').inputValue()).toBe(project);
    await expect.poll(() => dialog.locator('[data-input="dcm2niix_input"] select').inputValue()).toContain(job.inputs.dcm2niix_input!.name);
    expect(await dialog.locator('[data-config="filename"] input').inputValue()).toBe('%p_%s');
    await shot('02b-run-again');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('refuses a config value the gear does not take, in words, before launching', async () => {
    if (skip) return;
    const slow = await uploadGear(s.admin, 'slow');
    const before = (ok(await user.get('/jobs')) as unknown[]).length;
    await page.goto(`${origin()}/gears/${slow}?run=1`);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Project').selectOption({ index: 1 });
    const seconds = dialog.locator('[data-config="seconds"] input');
    await seconds.fill('2.5');
    await dialog
      .locator('[data-config="seconds"]')
      .getByRole('alert')
      .filter({ hasText: 'Must be a whole number (2.5 has a fraction).' })
      .waitFor();
    expect(await seconds.getAttribute('aria-invalid')).toBe('true');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await dialog.getByText('Fix 1 config value first: seconds.').waitFor();
    await shot('04-config-validation');
    // The keyboard stays in the dialog: Tab and Shift-Tab cycle through its controls, never the page behind.
    for (const key of [...Array(25).fill('Tab'), ...Array(25).fill('Shift+Tab')]) {
      await page.keyboard.press(key);
      expect(await page.evaluate("!!document.activeElement?.closest('[role=dialog]')"), `focus after ${key}`).toBe(true);
    }
    expect((ok(await user.get('/jobs')) as unknown[]).length).toBe(before);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('batch-runs the QA gear over the selected sessions, showing the proposal before anything runs', async () => {
    if (skip) return;
    await page.goto(`${origin()}/projects/${project}/sessions`);
    for (const x of series) await page.locator(`tr[data-session="${where.get(x.subject)!.session}"] input[type=checkbox]`).check();
    await page.getByTestId('selected-count').filter({ hasText: '2 selected' }).waitFor();
    await page.getByRole('button', { name: 'Run a gear on selected…' }).click();
    const dialog = page.getByRole('dialog');
    const qa = ok(await user.get('/gears')).find((g: { gear: { name: string } }) => g.gear.name === 'nifti-qa')._id as string;
    await dialog.getByLabel('Gear').selectOption(qa);
    const jobsBefore = (ok(await user.get(`/projects/${project}/jobs`)) as { jobs: unknown[] }).jobs.length;
    await dialog.getByRole('button', { name: 'Show what would run' }).click();
    const proposal = dialog.getByTestId('batch-proposal');
    await proposal.waitFor();
    // The converted acquisition has a NIfTI; the other has only its DICOM archive, and says so.
    const matched = proposal.locator('tr[data-verdict="matched"]');
    const missed = proposal.locator('tr[data-verdict="not_matched"]');
    await expect.poll(() => matched.count()).toBe(1);
    await expect.poll(() => missed.count()).toBe(1);
    expect(await missed.textContent()).toMatch(/input nifti: no file matches \(type nifti; 1 file here\)/);
    expect(await matched.textContent()).toContain(first());
    await shot('05-batch-proposal');
    // Nothing has run yet.
    expect((ok(await user.get(`/projects/${project}/jobs`)) as { jobs: unknown[] }).jobs.length).toBe(jobsBefore);
    await dialog.getByRole('button', { name: 'Run 1 job' }).click();
    const bar = dialog.getByTestId('batch-progress');
    await bar.waitFor();
    await dialog.locator('[data-testid="batch-progress"][data-state="complete"]').waitFor({ timeout: 120_000 });
    expect(await bar.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('1');
    await shot('06-batch-complete');
    const acq = ok(await user.get(`/acquisitions/${where.get(first())!.acquisition}`)) as { files: { name: string; type: string }[] };
    expect(
      acq.files
        .filter((f) => f.type === 'qa')
        .map((f) => f.name.replace(/^.*_qa\./, ''))
        .sort(),
    ).toEqual(['html', 'json']);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  }, 180_000);

  it("shows a batch's failures in its progress bar and retries them in one go", async () => {
    if (skip) return;
    // A gear without file inputs runs once per session; this one always exits 3.
    const failing = await uploadGear(s.admin, 'exit-three');
    await page.getByRole('button', { name: 'Run a gear on selected…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Gear').selectOption(failing);
    await dialog.getByRole('button', { name: 'Show what would run' }).click();
    await expect.poll(() => dialog.locator('tr[data-verdict="matched"]').count()).toBe(2);
    await dialog.getByRole('button', { name: 'Run 2 jobs' }).click();
    await dialog.locator('[data-testid="batch-progress"][data-state="failed"]').waitFor({ timeout: 120_000 });
    expect(await dialog.getByTestId('batch-progress').textContent()).toContain('2 of 2 done · 0 complete, 2 failed');
    const batches = ok(await user.get('/batch')) as { _id: string; gear_id: string; jobs: string[] }[];
    const batch = batches.find((b) => b.gear_id === failing)!;
    await dialog.getByRole('button', { name: 'Retry 2 failed' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Re-queued 2 failed jobs.' }).waitFor();
    await shot('06b-batch-retried');
    const after = ok(await user.get(`/batch/${batch._id}?jobs=true`)) as { jobs: { id: string; previous_job_id: string }[] };
    expect(after.jobs.map((j) => j.previous_job_id).sort()).toEqual([...batch.jobs].sort());
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  }, 180_000);

  it('tags the selected sessions in bulk', async () => {
    if (skip) return;
    await page.getByRole('button', { name: 'Tag selected…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Tag').fill('reviewed');
    await dialog.getByRole('button', { name: 'Add tag' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Tagged 2 of 2. Done.' }).waitFor();
    for (const x of series)
      expect((ok(await user.get(`/sessions/${where.get(x.subject)!.session}`)) as { tags: string[] }).tags).toContain('reviewed');
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  });

  it('adds a gear rule with the condition builder, dry-runs it, applies it and counts what it launched', async () => {
    if (skip) return;
    await page.goto(`${origin()}/projects/${project}/rules`);
    await page.getByRole('button', { name: 'Add a rule…' }).click();
    const dialog = page.getByRole('dialog');
    const qa = ok(await user.get('/gears')).find((g: { gear: { name: string } }) => g.gear.name === 'nifti-qa')._id as string;
    await dialog.getByLabel('Name').fill('QA every NIfTI');
    await dialog.getByLabel('Gear').selectOption(qa);
    await dialog.getByLabel('Any of these: condition 1 type').selectOption('file.type');
    await dialog.getByLabel('Any of these: condition 1 value').fill('nifti');
    await dialog.getByRole('button', { name: 'Save rule' }).click();
    await dialog.waitFor({ state: 'detached' });
    const [rule] = ok(await user.get(`/projects/${project}/rules`)) as { _id: string; any: unknown[]; gear_id: string }[];
    expect(rule).toMatchObject({ gear_id: qa, any: [{ type: 'file.type', value: 'nifti' }] });
    const row = page.locator(`tr[data-rule="${rule!._id}"]`);
    expect(await row.textContent()).toContain('File type is nifti');
    await row.getByTestId('rule-launched').filter({ hasText: '0' }).waitFor();

    const jobsBefore = (ok(await user.get(`/projects/${project}/jobs`)) as { jobs: unknown[] }).jobs.length;
    await row.getByRole('button', { name: 'Apply…' }).click();
    const apply = page.getByRole('dialog');
    // The one NIfTI dcm2niix made is what the rule would run on; nothing runs for a dry run.
    await apply.getByRole('status').filter({ hasText: 'Dry run: would launch 1 job' }).waitFor();
    expect(await apply.getByRole('table', { name: 'Would launch' }).textContent()).toMatch(/\.nii\.gz/);
    await shot('07-rule-dry-run');
    expect((ok(await user.get(`/projects/${project}/jobs`)) as { jobs: unknown[] }).jobs.length).toBe(jobsBefore);
    await apply.getByRole('button', { name: 'Apply: launch 1' }).click();
    await apply.getByTestId('applied').filter({ hasText: 'Launched 1 job.' }).waitFor();
    await apply.getByRole('button', { name: 'Close', exact: true }).click();
    await row.getByTestId('rule-launched').filter({ hasText: '1' }).waitFor();
    await shot('08-rule-applied');
    const launched = ok(await user.get(`/jobs?filter=origin.id=rule:${rule!._id}`)) as unknown[];
    expect(launched).toHaveLength(1);

    // Switched off in the table, off in the API.
    // A click, then the API: the switch's state is the server's once the change is stored.
    await row.getByLabel('QA every NIfTI enabled').click();
    await expect
      .poll(async () => (ok(await user.get(`/projects/${project}/rules/${rule!._id}`)) as { disabled: boolean }).disabled)
      .toBe(true);
    await expect.poll(() => row.getByLabel('QA every NIfTI enabled').isChecked()).toBe(false);
  }, 120_000);

  it('edits an info value in the tree and the API stores it, typed, next to the keys it left alone', async () => {
    if (skip) return;
    ok(await user.post(`/projects/${project}/info`, { set: { scanner: { field_strength: 3, vendor: 'Siemens' } } }));
    await page.goto(`${origin()}/projects/${project}/info`);
    await page.getByRole('button', { name: 'Edit scanner.field_strength' }).click();
    await page.getByLabel('Value of scanner.field_strength').fill('1.5');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('[data-info="scanner.field_strength"]').filter({ hasText: '1.5' }).waitFor();
    await page.getByLabel('New key in info', { exact: true }).fill('reviewed');
    await page.getByLabel('New value in info', { exact: true }).fill('true');
    await page.getByRole('button', { name: 'Add the key to info', exact: true }).click();
    await page.locator('[data-info="reviewed"]').waitFor();
    await shot('09-info-tree');
    await expect
      .poll(async () => (ok(await user.get(`/projects/${project}`)) as { info: unknown }).info)
      .toEqual({ scanner: { field_strength: 1.5, vendor: 'Siemens' }, reviewed: true });

    // Tags and notes on the same tab.
    await page.getByLabel('New tag').fill('pilot');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.getByRole('button', { name: 'Remove tag pilot' }).waitFor();
    await page.getByLabel('New note').fill('Scanner upgraded in May');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('.notes').getByText('Scanner upgraded in May').waitFor();
    const doc = ok(await user.get(`/projects/${project}`)) as { tags: string[]; notes: { text: string }[] };
    expect(doc.tags).toContain('pilot');
    expect(doc.notes.map((n) => n.text)).toEqual(['Scanner upgraded in May']);
    await page.getByRole('button', { name: 'Remove tag pilot' }).click();
    await page.getByRole('button', { name: 'Remove tag pilot' }).waitFor({ state: 'detached' });
    expect((ok(await user.get(`/projects/${project}`)) as { tags: string[] }).tags).not.toContain('pilot');
  });

  it('adds a member with a role and removes them again on the Permissions tab', async () => {
    if (skip) return;
    const colleague = 'colleague@e2e.org';
    await makeUser(s, colleague);
    await page.goto(`${origin()}/projects/${project}/permissions`);
    await page.getByLabel('User (email)').fill(colleague);
    const roles = ok(await user.get('/roles')) as { _id: string; label: string }[];
    const ro = roles.find((r) => /read/i.test(r.label))!;
    await page.getByLabel('Role', { exact: true }).selectOption(ro._id);
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.locator(`tr[data-member="${colleague}"]`).waitFor();
    expect(ok(await user.get(`/projects/${project}/permissions`))).toContainEqual({ _id: colleague, role_ids: [ro._id] });
    const rw = roles.find((r) => r._id !== ro._id)!;
    await page.getByLabel(`Role of ${colleague}`).selectOption(rw._id);
    await expect
      .poll(async () => ok(await user.get(`/projects/${project}/permissions`)))
      .toContainEqual({ _id: colleague, role_ids: [rw._id] });
    await shot('10-permissions');
    page.once('dialog', (d) => void d.accept());
    await page.locator(`tr[data-member="${colleague}"]`).getByRole('button', { name: 'Remove' }).click();
    await page.locator(`tr[data-member="${colleague}"]`).waitFor({ state: 'detached' });
    expect((ok(await user.get(`/projects/${project}/permissions`)) as { _id: string }[]).map((m) => m._id)).not.toContain(colleague);
  });
});
