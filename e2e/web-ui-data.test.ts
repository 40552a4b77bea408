import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planSeries } from '@sprocket/types';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDicomInfo } from '../packages/cli/src/dicom/scan.js';
import { BwrapExecutor } from '../packages/engine/src/executors/bwrap.js';
import { addJob, type EngineProcess, engineKey, startEngine, uploadGear, waitForJob } from '../packages/engine/test/engines.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { makeUser, ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithPassword } from '../test-fixtures/browser.js';
import { geBrainSeries, NIBABEL_DATA } from '../test-fixtures/fetch.js';

/**
 * The web UI's data pages in a real Chromium against a real server and engine: a session page with
 * files whose origin badges name the user or the job and gear that wrote them, downloads that
 * match the stored bytes, a real NIfTI drawn by NiiVue (WebGL through SwiftShader), an HTML file
 * inline in a sandboxed frame, a hostile file name that stays text, and a drag-and-drop of a real
 * DICOM series folder sorted into series as the CLI sorts it. Screenshots land in e2e/output/web-ui-data/.
 */
const shots = screenshots('web-ui-data', () => page);
const NIFTI = path.join(NIBABEL_DATA, 'example4d.nii.gz');
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

let s: TestServer;
let user: Api;
let engine: EngineProcess | undefined;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
let jobId: string;
let analysisId: string;
const dialogs: string[] = [];
const PASSWORD = 'correct horse battery';
const EMAIL = 'data@e2e.org';

const origin = () => s.url.replace(/\/api$/, '');
const { shot } = shots;

/**
 * Grey-level variance, distinct levels and strongly coloured pixels of a PNG, decoded by the
 * browser itself (no image library in the test). Evaluated in the page: its globals are the
 * browser's, which this file's Node types do not know, hence `page` (any).
 */
async function pngStats(png: Buffer): Promise<{ mean: number; variance: number; distinct: number; coloured: number }> {
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
    let coloured = 0;
    const seen = new Set<number>();
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i]! + d[i + 1]! + d[i + 2]!) / 3;
      sum += v;
      sq += v * v;
      seen.add(v);
      if (Math.abs(d[i]! - d[i + 2]!) > 40) coloured++;
    }
    return { mean: sum / n, variance: sq / n - (sum / n) ** 2, distinct: seen.size, coloured };
  }, png.toString('base64'));
}

describe.skipIf(!CHROMIUM)('web UI data pages in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin);
    user = await makeUser(s, EMAIL);
    ok(await s.admin.post(`/groups/${ids.group}/permissions`, { _id: EMAIL, access: 'rw' }));
    ok(await s.admin.put(`/users/${EMAIL}/password`, { password: PASSWORD }));
    // Files as a user uploads them, and one a real job writes.
    ok(await user.upload(`/sessions/${ids.session}/files`, [{ name: 'example4d.nii.gz', content: new Blob([fs.readFileSync(NIFTI)]) }]));
    const report =
      '<!doctype html><html><body><h1 id="title">QA report</h1><p>SNR 42</p><script>document.body.dataset.ran = "yes"; parent.__reportRan = true;</script></body></html>';
    ok(
      await user.upload(`/sessions/${ids.session}/files`, [{ name: 'qa-report.html', content: new Blob([report], { type: 'text/html' }) }]),
    );
    ok(await user.upload(`/sessions/${ids.session}/files`, [{ name: 'metrics.csv', content: 'metric,value\nsnr,42\ncnr,"3,5"\n' }]));
    ok(await user.upload(`/sessions/${ids.session}/files`, [{ name: 'metrics.csv', content: 'metric,value\nsnr,43\n' }]));
    ok(await user.upload(`/projects/${ids.project}/files`, [{ name: 'protocol.json', content: '{"te":30,"sequence":{"name":"bold"}}' }]));
    analysisId = ok(await user.post(`/sessions/${ids.session}/analyses`, { label: 'hand-made analysis' }))._id;
    ok(await user.upload(`/analyses/${analysisId}/files`, [{ name: 'summary.txt', content: 'all good\n' }]));
    const gear = await uploadGear(s.admin, 'slow');
    jobId = await addJob(user, {
      gear_id: gear,
      config: { seconds: 1, marker: `data-ui-${process.pid}` },
      destination: { type: 'session', id: ids.session },
    });
    engine = startEngine(await engineKey(s.admin), { concurrency: 1, executor });
    expect((await waitForJob(user, jobId)).state).toBe('complete');

    // WebGL2 for NiiVue through SwiftShader, the CPU renderer (Chromium >= 144 asks for the unsafe flag).
    browser = await launchChromium(['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist']);
    ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await signInWithPassword(page, origin(), EMAIL, PASSWORD);
  }, 180_000);

  afterEach((t) => shots.onFailure(t));

  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
    await s?.stop();
  });

  it('shows a session: breadcrumbs, files with origin badges, versions, children, downloads that match the stored bytes', async () => {
    await page.goto(`${origin()}/projects/${ids.project}/sessions`);
    await page.getByRole('link', { name: 'ses-01' }).click();
    await page.waitForURL(new RegExp(`/sessions/${ids.session}$`));
    await page.getByRole('heading', { name: /ses-01/ }).waitFor();
    const crumbs = page.getByRole('navigation', { name: 'Breadcrumb' });
    await crumbs.getByRole('link', { name: 'Project', exact: true }).waitFor();
    await crumbs.getByRole('link', { name: 'sub-01' }).waitFor();

    // The job's output names the job and the gear that made it, and links the job page.
    const jobDoc = ok(await user.get(`/jobs/${jobId}`));
    const made = page.locator('tr[data-file]', { has: page.locator('[data-origin="job"]') }).first();
    const badge = made.locator('[data-origin="job"]');
    await badge.filter({ hasText: `slow v${jobDoc.gear_info.version}` }).waitFor();
    expect(await badge.getAttribute('href')).toBe(`/jobs/${jobId}`);
    expect(await badge.textContent()).toContain(jobId.slice(-6));
    const upload = page.locator('tr[data-file="example4d.nii.gz"]');
    expect(await upload.locator('[data-origin="user"]').textContent()).toBe(`uploaded by ${EMAIL}`);
    expect(await upload.textContent()).toContain('346 kB');
    // The acquisition below the session is listed and linked.
    await page.locator(`li[data-acquisition="${ids.acquisition}"]`).getByRole('link', { name: 'T1w' }).waitFor();

    // Two versions of metrics.csv, each with its origin and its own download.
    await page.getByRole('button', { name: 'Versions of metrics.csv' }).click();
    const versions = page.getByRole('list', { name: 'Versions of metrics.csv' });
    await versions.locator('li[data-version="2"]').waitFor();
    expect(await versions.locator('li').count()).toBe(2);
    const [v1] = await Promise.all([page.waitForEvent('download'), versions.getByRole('link', { name: 'Download v1' }).click()]);
    expect(fs.readFileSync((await v1.path())!, 'utf8')).toBe('metric,value\nsnr,42\ncnr,"3,5"\n');
    await shot('01-session');

    // One file: the bytes the browser saves are the bytes uploaded.
    const [one] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download example4d.nii.gz' }).click()]);
    expect(one.suggestedFilename()).toBe('example4d.nii.gz');
    expect(fs.readFileSync((await one.path())!).equals(fs.readFileSync(NIFTI))).toBe(true);
    // The whole session as a zip: a real archive holding the NIfTI's bytes.
    const [all] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download all (zip)' }).click()]);
    const zip = fs.readFileSync((await all.path())!);
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(zip.includes(fs.readFileSync(NIFTI).subarray(0, 4096))).toBe(true);

    // The job link leads to the job page.
    await badge.click();
    await page.waitForURL(new RegExp(`/jobs/${jobId}$`));
  });

  it('draws a real 4-D NIfTI in NiiVue: planes and render on the canvas, window, colour map and frames', async () => {
    await page.goto(`${origin()}/sessions/${ids.session}`);
    // NiiVue is not part of the page until a viewer opens.
    const before = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    expect(before.some((n) => /NiftiViewer/.test(n))).toBe(false);
    await page.getByRole('button', { name: 'View example4d.nii.gz' }).click();
    await page.waitForURL(/view=example4d\.nii\.gz/);
    await page.getByTestId('nifti-ready').waitFor({ timeout: 60_000 });
    const after = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    expect(after.some((n) => /NiftiViewer/.test(n))).toBe(true);
    // NiiVue's OME-Zarr codecs are chunks of their own, fetched only for Zarr images.
    expect(after.filter((n) => /\/assets\/(blosc|zstd|lz4)-/.test(n))).toEqual([]);
    const canvas = page.getByTestId('nifti-canvas');
    // A frame or two for NiiVue to draw after loading.
    await page.waitForTimeout(500);
    const gray = await pngStats(await canvas.screenshot());
    console.log(`[web-ui-data] NIfTI canvas: grey variance ${gray.variance.toFixed(1)}, ${gray.distinct} distinct levels`);
    // A blank (or single-colour) canvas has variance 0 and a handful of levels; a brain slice has hundreds.
    expect(gray.variance).toBeGreaterThan(50);
    expect(gray.distinct).toBeGreaterThan(30);
    await shot('02-nifti');

    // Window/level: a lower window maximum makes the same image brighter.
    await page.getByLabel('Window max').fill(String(Math.round(Number(await page.getByLabel('Window max').getAttribute('max')) / 4)));
    await page.waitForTimeout(300);
    const brighter = await pngStats(await canvas.screenshot());
    expect(brighter.mean).toBeGreaterThan(gray.mean * 1.2);

    // 4-D: the frame slider covers both volumes; a colour map turns the grey image to colour.
    await page.getByText('Frame 1 of 2').waitFor();
    await page.getByLabel('Colour map').selectOption('hot');
    await page.waitForTimeout(300);
    const { coloured: colour } = await pngStats(await canvas.screenshot());
    expect(colour).toBeGreaterThan(1000);
    await shot('03-nifti-hot');
    await page.reload();
    // The open viewer is in the URL: a reload shows it again.
    await page.getByTestId('nifti-ready').waitFor({ timeout: 60_000 });
  }, 120_000);

  it('shows an HTML report inline in a sandboxed frame where its script does not run', async () => {
    await page.goto(`${origin()}/sessions/${ids.session}?view=qa-report.html`);
    const frameEl = page.getByTestId('html-frame');
    await frameEl.waitFor();
    expect(await frameEl.getAttribute('sandbox')).toBe('');
    const frame = page.frameLocator('[data-testid="html-frame"]');
    await frame.locator('#title').filter({ hasText: 'QA report' }).waitFor();
    expect(await frame.locator('body').getAttribute('data-ran')).toBeNull();
    expect(await page.evaluate(() => (globalThis as any).__reportRan)).toBeUndefined();
    await shot('04-html-report');
    // And a CSV as a table, its quoted comma kept in one cell (the current version, v2).
    await page.goto(`${origin()}/sessions/${ids.session}?view=metrics.csv`);
    const table = page.getByTestId('csv-table');
    await table.locator('td', { hasText: '43' }).waitFor();
    expect(await table.locator('th').allTextContents()).toEqual(['metric', 'value']);
  });

  it('keeps a hostile file name as text: uploaded through the page, listed, opened, and nothing runs', async () => {
    const name = '<img src=x onerror=alert(1)>.html';
    const body =
      '<script>alert(2); parent.__xss = 1; top.__xss = 1;</script><img src=x onerror="alert(3); parent.__xss = 2"><p id="hostile">hostile</p>';
    await page.goto(`${origin()}/sessions/${ids.session}`);
    await page.getByTestId('upload-files').setInputFiles({ name, mimeType: 'text/html', buffer: Buffer.from(body) });
    await page.locator(`li[data-upload="${name}"][data-state="done"]`).waitFor();
    const row = page.locator('tr[data-file]').filter({ hasText: name });
    await row.waitFor();
    // The name is the text of the cell, not markup: no <img src="x"> anywhere in the app's document.
    expect(await row.locator('td.file-name').textContent()).toBe(name);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await row.getByRole('button', { name: `View ${name}` }).click();
    const frame = page.frameLocator('[data-testid="html-frame"]');
    await frame.locator('#hostile').waitFor();
    await page.waitForTimeout(500);
    await shot('05-hostile-name');
    expect(dialogs).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
    expect(await page.locator('h2', { hasText: name }).textContent()).toBe(name);
    // Its download is an attachment with the name intact.
    const stored = ok(await user.get(`/sessions/${ids.session}`)).files.find((f: { name: string }) => f.name === name);
    expect(stored.origin).toEqual({ type: 'user', id: EMAIL });
  });

  it('shows an upload the server refuses as failed, with its reason, beside the ones that landed', async () => {
    await page.goto(`${origin()}/sessions/${ids.session}`);
    await page.getByTestId('upload-files').setInputFiles([
      { name: 'fine.txt', mimeType: 'text/plain', buffer: Buffer.from('fine') },
      { name: 'back\\slash.txt', mimeType: 'text/plain', buffer: Buffer.from('refused') },
    ]);
    const bad = page.locator('li[data-upload="back\\\\slash.txt"]');
    await bad.and(page.locator('[data-state="failed"]')).waitFor();
    expect(await bad.getByRole('alert').textContent()).toMatch(/path separator/);
    await page.locator('li[data-upload="fine.txt"][data-state="done"]').waitFor();
    await page.locator('tr[data-file="fine.txt"]').waitFor();
    expect(await page.locator('tr[data-file]').filter({ hasText: 'slash.txt' }).count()).toBe(0);

    // A file that lands from elsewhere (here the API; a job's outputs alike) shows up live, no reload.
    await page.evaluate('window.__noReload = true');
    ok(await user.upload(`/sessions/${ids.session}/files`, [{ name: 'from-elsewhere.txt', content: 'hello' }]));
    await page.locator('tr[data-file="from-elsewhere.txt"]').waitFor({ timeout: 15_000 });
    expect(await page.evaluate('window.__noReload')).toBe(true);
  });

  it("lists the project's analyses and files in their tabs; an analysis page sits below its session", async () => {
    await page.goto(`${origin()}/projects/${ids.project}/sessions`);
    await page.getByRole('link', { name: 'Files', exact: true }).click();
    await page.waitForURL(/\/files$/);
    await page.locator('tr[data-file="protocol.json"]').getByRole('button', { name: 'View protocol.json' }).click();
    // JSON pretty-printed: the nested object on lines of its own.
    await page.getByTestId('text-view').filter({ hasText: '"name": "bold"' }).waitFor();
    expect(await page.getByTestId('text-view').textContent()).toContain('  "sequence": {\n');

    await page.getByRole('link', { name: 'Analyses', exact: true }).click();
    await page.waitForURL(/\/analyses$/);
    const row = page.locator(`tr[data-analysis="${analysisId}"]`);
    expect(await row.textContent()).toContain('made by hand');
    await row.getByRole('link', { name: 'hand-made analysis' }).click();
    await page.waitForURL(new RegExp(`/analyses/${analysisId}$`));
    await page.locator('tr[data-file="summary.txt"]').waitFor();
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'ses-01' }).waitFor();
    await shot('06-analysis');
  });

  it('drops a real DICOM folder: per-file progress, series sorted as the CLI sorts them, one acquisition each', async () => {
    const series = geBrainSeries();
    const extra = { name: 'notes.txt', content: 'scanned on the GE 1.5 T' };
    const infos = await Promise.all(series.map((f) => readDicomInfo(f, fs.statSync(f).size)));
    const [plan, ...more] = planSeries(infos.filter((i) => !!i));
    expect(more).toEqual([]);

    await page.goto(`${origin()}/sessions/${ids.session}`);
    await page.getByRole('heading', { name: /ses-01/ }).waitFor();
    // A drop, as the browser delivers one: a DataTransfer holding the folder's files.
    const files = [
      ...series.map((f) => ({ name: path.basename(f), b64: fs.readFileSync(f).toString('base64'), type: 'application/dicom' })),
      { name: extra.name, b64: Buffer.from(extra.content).toString('base64'), type: 'text/plain' },
    ];
    const dt = await page.evaluateHandle((list) => {
      const t = new (globalThis as any).DataTransfer();
      for (const f of list) t.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
      return t;
    }, files);
    const zone = page.getByTestId('dropzone');
    await zone.dispatchEvent('dragover', { dataTransfer: dt });
    await zone.dispatchEvent('drop', { dataTransfer: dt });

    const zipItem = page.locator(`li[data-upload="${plan!.zipName}"]`);
    await zipItem.waitFor();
    expect(await zipItem.textContent()).toContain(`acquisition ${plan!.acquisition.label}`);
    expect(await zipItem.textContent()).toContain(`${series.length} files`);
    const noteItem = page.locator('li[data-upload="notes.txt"]');
    await zipItem.locator('progress').waitFor();
    await zipItem.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await noteItem.and(page.locator('[data-state="done"]')).waitFor();
    expect(await zipItem.locator('progress').evaluate((p) => (p as unknown as { value: number }).value)).toBe(1);
    await shot('07-dicom-drop');

    // Landed as the CLI's import would put it: the series in its own acquisition, one zip of every file.
    const acqs = ok(await user.get(`/sessions/${ids.session}/acquisitions`)) as { _id: string; label: string; files: any[] }[];
    const acq = acqs.find((a) => a.label === plan!.acquisition.label);
    expect(acq, `acquisition '${plan!.acquisition.label}' among ${acqs.map((a) => a.label)}`).toBeDefined();
    expect(acq!.files.map((f) => [f.name, f.type])).toEqual([[plan!.zipName, 'dicom']]);
    const members = ok(await user.get(`/acquisitions/${acq!._id}/files/${encodeURIComponent(plan!.zipName)}?info=true`)).members as {
      path: string;
    }[];
    // Every file of the series, in instance order as the CLI zips them.
    expect(members.map((m) => m.path)).toEqual(plan!.files.map((f) => path.basename(f.file)));
    const session = ok(await user.get(`/sessions/${ids.session}`));
    expect(session.files.find((f: { name: string }) => f.name === 'notes.txt')).toMatchObject({ size: extra.content.length });
    // And the page shows the new acquisition without a reload.
    await page.locator(`li[data-acquisition="${acq!._id}"]`).getByRole('link').click();
    await page.waitForURL(new RegExp(`/acquisitions/${acq!._id}$`));

    // The series previews slice by slice, each read from the zip on the server.
    await page.getByRole('button', { name: `View ${plan!.zipName}` }).click();
    await page.getByTestId('dicom-ready').waitFor({ timeout: 30_000 });
    await page.getByText(`Slice ${series.length / 2 + 1} of ${series.length}`).waitFor();
    const mid = await pngStats(await page.getByTestId('dicom-canvas').screenshot());
    expect(mid.variance).toBeGreaterThan(50);
    expect(mid.distinct).toBeGreaterThan(30);
    await page.getByLabel(/^Slice/).fill('0');
    await page.getByText(`Slice 1 of ${series.length}`).waitFor();
    await page.getByTestId('dicom-ready').waitFor();
    await shot('08-dicom-preview');

    // The same folder chosen with the folder picker onto an acquisition: the series zipped into it,
    // hidden files left out.
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-ui-folder-'));
    fs.mkdirSync(path.join(folder, 'series'));
    for (const f of series) fs.copyFileSync(f, path.join(folder, 'series', path.basename(f)));
    fs.writeFileSync(path.join(folder, 'series', '.DS_Store'), 'finder junk');
    await page.goto(`${origin()}/acquisitions/${ids.acquisition}`);
    await page.getByRole('heading', { name: /T1w/ }).waitFor();
    await page.getByTestId('upload-folder').setInputFiles(folder);
    await page.locator(`li[data-upload="${plan!.zipName}"][data-state="done"]`).waitFor({ timeout: 60_000 });
    const t1w = ok(await user.get(`/acquisitions/${ids.acquisition}`));
    expect(t1w.files.map((f: { name: string }) => f.name)).toEqual([plan!.zipName]);
    fs.rmSync(folder, { recursive: true, force: true });
  }, 120_000);
});
