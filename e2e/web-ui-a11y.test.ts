import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from '../packages/server/test/gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium } from '../test-fixtures/browser.js';

/**
 * An accessibility pass (axe-core, WCAG 2.1 A and AA rules) over each main page of the web UI in
 * Chromium: no serious or critical violation. A failure lists each rule, its impact and the elements
 * it found, so the fix is findable from the test output alone.
 */

let s: TestServer;
let browser: Browser;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
let jobId: string;

const origin = () => s.url.replace(/\/api$/, '');

async function violations(p: Page): Promise<string[]> {
  const r = await new AxeBuilder({ page: p }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(' ')).join('\n    ')}`);
}

describe.skipIf(!CHROMIUM)('web UI accessibility (axe-core in Chromium)', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin);
    ok(await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'not really a nifti' }]));
    const gearId = await addGear(s.admin, manifest({ name: 'a11y-gear' }));
    jobId = ok(await s.admin.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: ids.acquisition } }))._id;
    browser = await launchChromium(['--disable-gpu']);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('the sign-in page', async () => {
    await page.goto(`${origin()}/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await violations(page)).toEqual([]);
    await page.getByRole('tab', { name: /key/i }).click();
    await page.getByLabel(/API key/i).fill(s.admin.key!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
  });

  const pages: [string, () => string, string][] = [
    ['home', () => '/', 'Projects'],
    ['project sessions', () => `/projects/${ids.project}/sessions`, 'tr[data-session]'],
    ['project jobs', () => `/projects/${ids.project}/jobs`, 'tr[data-job]'],
    ['project analyses', () => `/projects/${ids.project}/analyses`, 'Analyses'],
    ['project files', () => `/projects/${ids.project}/files`, 'Files'],
    ['project data views', () => `/projects/${ids.project}/views`, 'Saved views'],
    ['session', () => `/sessions/${ids.session}`, 'T1w'],
    ['acquisition', () => `/acquisitions/${ids.acquisition}`, 'scan.nii.gz'],
    ['job', () => `/jobs/${jobId}`, 'a11y-gear'],
    ['jobs', () => '/jobs', 'tr[data-job]'],
    ['admin users', () => '/admin/users', 'tr[data-user]'],
    ['admin engines', () => '/admin/engines', 'Register an engine'],
    ['admin roles', () => '/admin/roles', 'tr[data-role]'],
  ];
  for (const [name, url, ready] of pages) {
    it(`the ${name} page`, async () => {
      await page.goto(origin() + url());
      await (ready.startsWith('tr[') ? page.locator(ready).first() : page.getByText(ready).first()).waitFor();
      expect(await violations(page)).toEqual([]);
    });
  }

  it('finds a violation when there is one (the pass above is not empty by construction)', async () => {
    await page.goto(`${origin()}/`);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    // A button with no name: the one rule every screen reader user trips over.
    await page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('button'), { id: 'unnamed' }))");
    expect((await violations(page)).join('\n')).toMatch(/button-name \(critical\)[\s\S]*#unnamed/);
  });
});
