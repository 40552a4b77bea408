import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BwrapExecutor } from '../packages/engine/src/executors/bwrap.js';
import { type EngineProcess, engineKey, startEngine } from '../packages/engine/test/engines.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { makeUser, ok } from '../packages/server/test/people.js';
import { buildGears } from '../scripts/build-gears.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots } from '../test-fixtures/browser.js';
import { geBrainSeries } from '../test-fixtures/fetch.js';
import { ROOT, sprocket } from './processes.js';

/**
 * The whole workflow in one test, in its order, in a real Chromium against a real server
 * and engine with the shipped dcm2niix and nifti-qa gears: sign in with a key and with a password
 * → create a project → drag and drop a real DICOM series folder → run dcm2niix from the Run
 * dialog, its row turning complete without a reload → the NIfTI in the viewer (pixel variance of
 * the canvas) → the job page's log → batch-run nifti-qa from the Sessions tab → its real HTML
 * report inline in a sandboxed frame → a data view, its rows, its CSV compared with the API's →
 * a rule added, dry-run and applied → sign out, and the session is gone on the server. Each step
 * writes a screenshot to e2e/output/web-ui-workflow/.
 */
const hasDcm2niix = fs.existsSync('/usr/bin/dcm2niix');
const shots = screenshots('web-ui-workflow', () => page);
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';
const PASSWORD = 'correct horse battery';
const EMAIL = 'workflow@e2e.org';
const PROJECT = 'Workflow study';

let s: TestServer;
let user: Api;
let engine: EngineProcess | undefined;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let tmp: string;
let group: string;
const origin = () => s.url.replace(/\/api$/, '');

/** Grey-level variance and distinct levels of a PNG, decoded by the browser itself. */
async function pngStats(png: Buffer): Promise<{ variance: number; distinct: number }> {
  return page.evaluate(async (b64) => {
    const w = globalThis as any;
    const img = new w.Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = w.document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data as Uint8ClampedArray;
    let sum = 0;
    let sq = 0;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i]! + d[i + 1]! + d[i + 2]!) / 3;
      sum += v;
      sq += v * v;
      seen.add(v);
    }
    const n = d.length / 4;
    return { variance: sq / n - (sum / n) ** 2, distinct: seen.size };
  }, png.toString('base64'));
}

describe.skipIf(!CHROMIUM || !hasDcm2niix)('the whole workflow in the web UI', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-web-workflow-'));
    await buildGears(['dcm2niix', 'nifti-qa']);
    s = await startTestServer();
    // A group the user administers (its scratch project is not used); the test's project is made in the UI.
    group = (await makeHierarchy(s.admin, 'wf')).group;
    user = await makeUser(s, EMAIL);
    ok(await s.admin.post(`/groups/${group}/permissions`, { _id: EMAIL, access: 'admin' }));
    ok(await s.admin.put(`/users/${EMAIL}/password`, { password: PASSWORD }));
    for (const gear of ['dcm2niix', 'nifti-qa']) await sprocket(s.admin.key!, ['gear', 'upload', path.join(ROOT, 'gears', gear)], tmp);
    engine = startEngine(await engineKey(s.admin), { concurrency: 2, executor });
    // WebGL2 for NiiVue through SwiftShader, the CPU renderer.
    browser = await launchChromium(['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist']);
    ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
  }, 300_000);

  afterEach((t) => shots.onFailure(t));
  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
    await s?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('sign in → project → DICOM drop → dcm2niix → viewer → log → batch QA → report → data view → rule → sign out', async () => {
    const { shot } = shots;
    // 1. Sign in with an API key, out again, and in with the password.
    await page.goto(`${origin()}/`);
    await page.getByRole('tab', { name: 'API key' }).click();
    await page.getByLabel(/API key/i).fill(user.key!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await shot('01a-signed-in-with-key');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await shot('01b-signed-in-with-password');

    // 2. A project, created on the home page.
    await page.getByRole('button', { name: `New project in ${group}` }).click();
    const form = page.getByRole('form', { name: `New project in ${group}` });
    await form.getByLabel('Label').fill(PROJECT);
    await form.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/projects\/[0-9a-f]{24}\/sessions$/);
    const project = /\/projects\/([0-9a-f]{24})\//.exec(page.url())![1]!;
    await page.getByText('This project has no sessions yet.').waitFor();
    await shot('02-project-created');

    // 3. A real DICOM series folder dropped on a session (the UI has no "new session": the API makes it).
    const session = ok(await user.post('/sessions', { project, subject: { label: 'sub-01' }, label: 'ses-01' }))._id as string;
    await page.goto(`${origin()}/sessions/${session}`);
    await page.getByRole('heading', { name: /ses-01/ }).waitFor();
    const series = geBrainSeries();
    const dt = await page.evaluateHandle(
      (list) => {
        const t = new (globalThis as any).DataTransfer();
        for (const f of list)
          t.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: 'application/dicom' }));
        return t;
      },
      series.map((f) => ({ name: path.basename(f), b64: fs.readFileSync(f).toString('base64') })),
    );
    await page.getByTestId('dropzone').dispatchEvent('dragover', { dataTransfer: dt });
    await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer: dt });
    const upload = page.locator('li[data-upload$=".dicom.zip"]');
    await upload.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    expect(await upload.getByTestId('files-done').textContent()).toContain(`${series.length} of ${series.length} files`);
    const [acq] = ok(await user.get(`/sessions/${session}/acquisitions`)) as { _id: string; label: string }[];
    await page.locator(`li[data-acquisition="${acq!._id}"]`).waitFor();
    await shot('03-dicom-dropped');

    // 4. dcm2niix from the Run dialog; its row turns complete without a reload.
    await page.getByRole('link', { name: 'Gears', exact: true }).click();
    await page.getByRole('link', { name: 'dcm2niix' }).click();
    await page.getByRole('link', { name: 'Run…' }).click();
    const run = page.getByRole('dialog');
    await run.getByLabel('Project').selectOption(project);
    await run.getByLabel('Session').selectOption(session);
    await run.getByLabel('Acquisition').selectOption(acq!._id);
    await expect.poll(() => run.locator('[data-input="dcm2niix_input"] select').inputValue()).toMatch(/\.dicom\.zip$/);
    await shot('04a-run-dialog');
    await page.evaluate('window.__noReload = true');
    await run.getByRole('button', { name: 'Launch' }).click();
    await run.getByRole('status').filter({ hasText: 'Queued job' }).waitFor();
    const jobId = (await run.locator('.mono').textContent())!.trim();
    await run.getByRole('link', { name: "See it in the project's jobs" }).click();
    await page.locator(`tr[data-job="${jobId}"] [data-state="complete"]`).waitFor({ timeout: 180_000 });
    expect(await page.evaluate('window.__noReload')).toBe(true);
    await shot('04b-dcm2niix-complete');

    // 5. The NIfTI it made, in the viewer: the canvas shows an image, not a blank.
    const files = (ok(await user.get(`/acquisitions/${acq!._id}`)) as { files: { name: string; type: string }[] }).files;
    const nifti = files.find((f) => f.type === 'nifti')!.name;
    await page.goto(`${origin()}/acquisitions/${acq!._id}`);
    await page.getByRole('button', { name: `View ${nifti}` }).click();
    await page.getByTestId('nifti-ready').waitFor({ timeout: 60_000 });
    await page.waitForTimeout(500);
    const stats = await pngStats(await page.getByTestId('nifti-canvas').screenshot());
    expect(stats.variance).toBeGreaterThan(50);
    expect(stats.distinct).toBeGreaterThan(30);
    await shot('05-nifti-viewer');

    // 6. The job page shows its log.
    await page.goto(`${origin()}/jobs/${jobId}`);
    await page
      .getByTestId('job-log')
      .filter({ hasText: /dcm2niix/i })
      .waitFor();
    await shot('06-job-log');

    // 7. nifti-qa batch-run from the Sessions tab over the selected session.
    await page.goto(`${origin()}/projects/${project}/sessions`);
    await page.locator(`tr[data-session="${session}"] input[type=checkbox]`).check();
    await page.getByRole('button', { name: 'Run a gear on selected…' }).click();
    const batch = page.getByRole('dialog');
    const qa = (ok(await user.get('/gears')) as { _id: string; gear: { name: string } }[]).find((g) => g.gear.name === 'nifti-qa')!._id;
    await batch.getByLabel('Gear').selectOption(qa);
    await batch.getByRole('button', { name: 'Show what would run' }).click();
    await expect.poll(() => batch.locator('tr[data-verdict="matched"]').count()).toBe(1);
    await shot('07a-batch-proposal');
    await batch.getByRole('button', { name: 'Run 1 job' }).click();
    await batch.locator('[data-testid="batch-progress"][data-state="complete"]').waitFor({ timeout: 180_000 });
    await shot('07b-batch-complete');
    await batch.getByRole('button', { name: 'Close', exact: true }).click();

    // 8. The QA gear's real HTML report, inline in a sandboxed frame.
    const after = (ok(await user.get(`/acquisitions/${acq!._id}`)) as { files: { name: string; type: string }[] }).files;
    const report = after.find((f) => f.name.endsWith('_qa.html'))!.name;
    await page.goto(`${origin()}/acquisitions/${acq!._id}?view=${encodeURIComponent(report)}`);
    const frameEl = page.getByTestId('html-frame');
    await frameEl.waitFor();
    expect(await frameEl.getAttribute('sandbox')).toBe('');
    await page.frameLocator('[data-testid="html-frame"]').locator('h1').filter({ hasText: 'Image quality' }).waitFor();
    await shot('08-qa-report');

    // 9. A data view: one row per QA JSON file, previewed, downloaded, the same CSV as the API's.
    await page.goto(`${origin()}/projects/${project}/views`);
    await page.getByRole('heading', { name: 'New view' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('QA files');
    await page.getByRole('combobox', { name: /^One row per/ }).selectOption('file');
    await page.getByRole('combobox', { name: /^Files of/ }).selectOption('acquisition');
    await page.getByLabel('Named like').fill('*_qa.json');
    await page.getByPlaceholder('Find a field or info key').fill('acquisition.label');
    await page.getByRole('button', { name: 'Add column acquisition.label' }).click();
    const [preview] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/views/data'),
      page.getByRole('button', { name: 'Preview' }).click(),
    ]);
    await expect.poll(() => page.getByTestId('view-row-count').textContent()).toBe('1 row');
    expect(await page.getByRole('table', { name: 'Data view rows' }).locator('tbody').textContent()).toContain(acq!.label);
    await shot('09-data-view');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const api = await user.request('POST', `/views/data?containerId=${project}&format=csv`, preview.postDataJSON());
    expect(api.status).toBe(200);
    expect(csv).toBe(api.body);
    expect(csv.trim().split('\n')).toHaveLength(2);

    // 10. A rule: every NIfTI gets QA; its dry run lists the one NIfTI, applying launches it.
    await page.goto(`${origin()}/projects/${project}/rules`);
    await page.getByRole('button', { name: 'Add a rule…' }).click();
    const editor = page.getByRole('dialog');
    await editor.getByLabel('Name').fill('QA every NIfTI');
    await editor.getByLabel('Gear').selectOption(qa);
    await editor.getByLabel('Any of these: condition 1 value').fill('nifti');
    await editor.getByRole('button', { name: 'Save rule' }).click();
    await editor.waitFor({ state: 'detached' });
    const [rule] = ok(await user.get(`/projects/${project}/rules`)) as { _id: string }[];
    const row = page.locator(`tr[data-rule="${rule!._id}"]`);
    await row.getByRole('button', { name: 'Apply…' }).click();
    const apply = page.getByRole('dialog');
    await apply.getByRole('status').filter({ hasText: 'Dry run: would launch 1 job' }).waitFor();
    expect(await apply.getByRole('table', { name: 'Would launch' }).textContent()).toContain(nifti);
    await shot('10a-rule-dry-run');
    await apply.getByRole('button', { name: 'Apply: launch 1' }).click();
    await apply.getByTestId('applied').filter({ hasText: 'Launched 1 job.' }).waitFor();
    await apply.getByRole('button', { name: 'Close', exact: true }).click();
    await row.getByTestId('rule-launched').filter({ hasText: '1' }).waitFor();
    expect(ok(await user.get(`/jobs?filter=origin.id=rule:${rule!._id}`))).toHaveLength(1);
    await shot('10b-rule-applied');

    // 11. Signing out ends the session on the server: its cookie, replayed, is refused.
    const [cookie] = await ctx.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot('11-signed-out');
    expect(await ctx.cookies()).toEqual([]);
    const replay = await fetch(`${s.url}/users/self`, { headers: { Cookie: `${cookie!.name}=${cookie!.value}` } });
    expect(replay.status).toBe(401);
  }, 900_000);
});
