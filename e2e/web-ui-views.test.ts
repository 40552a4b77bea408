import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithKey } from '../test-fixtures/browser.js';

/**
 * The project's Data views tab in a real Chromium against a real server: the builder offers the
 * `info` keys the project's files really carry, a view of one row per QA file is previewed,
 * filtered, charted (SNR by acquisition label), downloaded as CSV (byte for byte what the API
 * answers for the same view), saved and deleted. Screenshots land in e2e/output/web-ui-views/.
 */
const shots = screenshots('web-ui-views', () => page);

let s: TestServer;
let browser: Browser;
let page: Page;
let project: string;

const origin = () => s.url.replace(/\/api$/, '');
const { shot } = shots;
/** SNR of subject i's acquisition of each label: T1w higher than T2w, so the chart's means differ. */
const SNR = { T1w: [12.5, 14.5, 13], T2w: [8, 9.5, 7] } as const;

describe.skipIf(!CHROMIUM)('Data views tab in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ok(await s.admin.post('/groups', { _id: 'lab', label: 'Lab' }));
    project = ok(await s.admin.post('/projects', { group: 'lab', label: 'QA study' }))._id;
    for (let i = 0; i < 3; i++) {
      const ses = ok(await s.admin.post('/sessions', { project, label: `ses-${i}`, subject: { label: `sub-0${i + 1}` } }))._id;
      for (const label of ['T1w', 'T2w'] as const) {
        const acq = ok(await s.admin.post('/acquisitions', { session: ses, label }))._id;
        ok(
          await s.admin.upload(`/acquisitions/${acq}/files`, [{ name: `${label}_qa.json`, content: '{}' }], {
            type: 'qa',
            info: { snr: SNR[label][i], efc: 0.4 },
          }),
        );
        ok(await s.admin.upload(`/acquisitions/${acq}/files`, [{ name: `${label}.nii.gz`, content: 'nifti' }]));
      }
    }
    browser = await launchChromium(['--disable-gpu']);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true })).newPage();
    page.on('pageerror', (e) => console.error('[page error]', e.stack));
    await signInWithKey(page, origin(), s.admin.key!);
  });

  afterEach((t) => shots.onFailure(t));

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const spec = {
    label: 'QA table',
    columns: [{ src: 'acquisition.label' }, { src: 'file.info.snr', dst: 'snr', type: 'float' }],
    fileSpec: { container: 'acquisition', filter: { value: '*_qa.json' }, match: 'all' },
    includeIds: false,
    includeLabels: true,
    missingDataStrategy: 'none',
    sort: true,
  };

  it('builds a view from the keys the data holds, previews, filters and charts it, and downloads the CSV the API gives', async () => {
    await page.goto(`${origin()}/projects/${project}/views`);
    await page.getByRole('heading', { name: 'New view' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('QA table');
    await page.getByRole('combobox', { name: /^One row per/ }).selectOption('file');
    await page.getByRole('combobox', { name: /^Files of/ }).selectOption('acquisition');
    await page.getByLabel('Named like').fill('*_qa.json');
    // file.info.snr is offered because the files carry it, typed as a number.
    await page.getByPlaceholder('Find a field or info key').fill('snr');
    await expect
      .poll(() => page.getByRole('list', { name: 'Columns you can add' }).textContent())
      .toMatch(/file\.info\.snr.*float.*seen in 6 of 6 sampled files/);
    await page.getByPlaceholder('Find a field or info key').fill('acquisition.label');
    await page.getByRole('button', { name: 'Add column acquisition.label' }).click();
    await page.getByPlaceholder('Find a field or info key').fill('snr');
    await page.getByRole('button', { name: 'Add column file.info.snr' }).click();
    await page.getByLabel('Column name for file.info.snr').fill('snr');
    expect(await page.getByLabel('Type of file.info.snr').inputValue()).toBe('float');

    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByTestId('view-row-count').textContent()).toBe('6 rows');
    const header = await page.getByRole('table', { name: 'Data view rows' }).locator('thead th').allTextContents();
    // acquisition.label was asked for by name, so it keeps its place after the default label columns.
    expect(header).toEqual(['project.label', 'subject.label', 'session.label', 'file.name', 'acquisition.label', 'snr']);
    const snrs = await page.locator('table[aria-label="Data view rows"] tbody tr td:last-child').allTextContents();
    expect(snrs.map(Number).sort((a, b) => a - b)).toEqual([...SNR.T1w, ...SNR.T2w].sort((a, b) => a - b));

    // SNR by acquisition label: one group per label, with the right means.
    await page.getByRole('combobox', { name: /^Chart/ }).selectOption('snr');
    await page.getByRole('combobox', { name: /^grouped by/ }).selectOption('acquisition.label');
    const chart = page.getByTestId('group-chart');
    await chart.waitFor();
    expect(await chart.locator('g[data-group]').count()).toBe(2);
    expect(await chart.locator('g[data-group="T1w"] .stats').textContent()).toBe('mean 13.33 · n 3');
    expect(await chart.locator('g[data-group="T2w"] .stats').textContent()).toBe('mean 8.167 · n 3');
    expect(await chart.locator('circle').count()).toBe(6);
    await shot('01-view-preview-chart');

    // The download is the API's own CSV for the same view, byte for byte.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const api = await s.admin.request('POST', `/views/data?containerId=${project}&format=csv`, spec);
    expect(api.status).toBe(200);
    expect(csv).toBe(api.body);
    expect(csv.split('\n')[0]).toBe('project.label,subject.label,session.label,file.name,acquisition.label,snr');
    expect(download.suggestedFilename()).toBe('QA_table.csv');

    // A filter in Flywheel's language narrows the rows on the server.
    await page.getByLabel('Filter rows').fill('snr>10');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByTestId('view-row-count').textContent()).toBe('3 rows');
    // A bad filter is answered in words, where the user typed it.
    await page.getByLabel('Filter rows').fill('snr');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/filter term 'snr' has no known operator/i);
    await page.getByLabel('Filter rows').fill('');
  });

  it('saves the view on the project, lists it with a CSV link, loads it back and deletes it', async () => {
    await page.getByRole('button', { name: 'Save view' }).click();
    await page.getByRole('button', { name: 'QA table', exact: true }).waitFor();
    const saved = ok(await s.admin.get(`/containers/${project}/views`)) as { _id: string; label: string; columns: unknown[] }[];
    expect(saved.map((v) => v.label)).toEqual(['QA table']);
    expect(saved[0]!.columns).toEqual(spec.columns);
    // The saved view's CSV link is a plain GET the session cookie opens.
    const href = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
    const r = await page.request.get(origin() + href);
    expect(r.status()).toBe(200);
    expect((await r.text()).split('\n')).toHaveLength(8);
    await shot('02-view-saved');

    await page.getByRole('button', { name: 'New view' }).click();
    expect(await page.getByRole('table', { name: 'Chosen columns' }).count()).toBe(0);
    await page.getByRole('button', { name: 'QA table', exact: true }).click();
    await page.locator('tr[data-column="file.info.snr"]').waitFor();
    await page.getByRole('button', { name: 'Delete view QA table' }).click();
    await page.getByText('None saved on this project yet.').waitFor();
    expect(ok(await s.admin.get(`/containers/${project}/views`))).toEqual([]);
  });

  it('a cold, signed-out load of a Sessions tab shows the sign-in, then the sessions, with the early listing refused and forgotten', async () => {
    const other = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    other.on('pageerror', (e) => errors.push(e.message));
    await other.goto(`${origin()}/projects/${project}/sessions`);
    await other.getByRole('button', { name: 'Sign in' }).waitFor();
    await other.getByRole('tab', { name: /key/i }).click();
    await other.getByLabel(/API key/i).fill(s.admin.key!);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => other.locator('tr[data-session]').count()).toBe(3);
    expect(errors).toEqual([]);
    await other.context().close();
  });

  it("edits a session's info, tags and notes from its page, as the project's Information tab does", async () => {
    const ses = (ok(await s.admin.get(`/projects/${project}/sessions`)) as { _id: string }[])[0]!._id;
    await page.goto(`${origin()}/sessions/${ses}`);
    await page.getByText('Information, tags and notes').click();
    await page.getByLabel('New key in info', { exact: true }).fill('operator');
    await page.getByLabel('New value in info', { exact: true }).fill('RK');
    await page.getByRole('button', { name: 'Add the key to info', exact: true }).click();
    await page.locator('[data-info="operator"]').waitFor();
    await page.getByLabel('New tag').fill('motion');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.getByRole('button', { name: 'Remove tag motion' }).waitFor();
    await expect.poll(async () => ok(await s.admin.get(`/sessions/${ses}`))).toMatchObject({ info: { operator: 'RK' }, tags: ['motion'] });
  });
});
