import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from '../packages/server/test/gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots } from '../test-fixtures/browser.js';

/**
 * Keyboard only, page by page: on the sign-in, home, project tabs, container, job, jobs, gears and
 * admin pages the main actions are reached with Tab (and the arrows where a row of tabs or links
 * is one stop) and done with Enter or Space; every element focus lands on on the way shows a
 * focus ring and is on screen. No mouse event is sent in this file.
 */
const shots = screenshots('web-ui-keyboard', () => page);
let s: TestServer;
let browser: Browser;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
let gearId: string;
let jobId: string;
const origin = () => s.url.replace(/\/api$/, '');

interface Focus {
  tag: string;
  name: string;
  ring: boolean;
  shown: boolean;
}

/** The focused element: its accessible name as a user hears it, a visible ring, and on screen. */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  const own = el.tagName === 'SELECT' ? el.textContent : '';
  const label = el.labels && el.labels[0] ? el.labels[0].textContent.replace(own, '') : '';
  const name = (el.getAttribute('aria-label') || label || el.textContent || el.getAttribute('placeholder') || '').replace(/\\s+/g, ' ').trim();
  const ring = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none';
  const shown = r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
  return { tag: el.tagName.toLowerCase(), name, ring, shown };
})()`;

const focused = async () => (await page.evaluate(FOCUSED)) as Focus | null;

function expectVisible(f: Focus | null, what: string): asserts f is Focus {
  expect(f, `${what}: nothing focused`).not.toBeNull();
  expect({ name: f!.name, ring: f!.ring, shown: f!.shown }, `${what}: focus on <${f!.tag}>`).toEqual({
    name: f!.name,
    ring: true,
    shown: true,
  });
}

/** Presses Tab (Shift+Tab with back) until the focused element's name matches; each stop on the way must show its focus. */
async function tabTo(name: RegExp, { back = false, max = 120 } = {}): Promise<Focus> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused();
    expectVisible(f, `Tab stop ${i + 1} on the way to ${name}`);
    if (name.test(f.name)) return f;
    seen.push(`${f.tag}:${f.name.slice(0, 30)}`);
  }
  throw new Error(`${max} Tab presses never reached ${name}; passed ${seen.join(' | ')}`);
}

/** Focus is on the element named `name` after a key, with its ring showing. */
async function expectFocusOn(name: RegExp): Promise<void> {
  const f = await focused();
  expectVisible(f, `after the key, focus on ${name}`);
  expect(f.name).toMatch(name);
}

describe.skipIf(!CHROMIUM)('web UI by keyboard alone', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'kbd');
    ok(await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'notes.txt', content: 'a line of notes\n' }]));
    gearId = await addGear(s.admin, manifest({ name: 'kbd-gear' }));
    jobId = ok(await s.admin.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: ids.acquisition } }))._id;
    browser = await launchChromium(['--disable-gpu']);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
  });
  afterEach((t) => shots.onFailure(t));
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('sign-in: the method tabs are one stop, arrows switch them, Enter signs in', async () => {
    await page.goto(`${origin()}/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await tabTo(/^Email and password$/);
    await page.keyboard.press('ArrowRight');
    await expectFocusOn(/^API key$/);
    expect(await page.getByRole('tab', { name: 'API key' }).getAttribute('aria-selected')).toBe('true');
    // One tab stop for the list: Tab leaves it for the key field.
    await tabTo(/API key/i);
    expect((await focused())!.tag).toBe('input');
    await page.keyboard.type(s.admin.key!);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await shots.shot('01-signed-in');
  });

  it('home: the skip link shows and skips the top bar; a project opens with Enter', async () => {
    await page.goto(`${origin()}/`);
    await page.getByRole('link', { name: 'Project', exact: true }).waitFor();
    await page.keyboard.press('Tab');
    await expectFocusOn(/^Skip to content$/);
    await page.keyboard.press('Enter');
    // The next stop is inside the page, past the top bar's links.
    await page.keyboard.press('Tab');
    const f = await focused();
    expectVisible(f, 'first stop after the skip link');
    expect(await page.evaluate("document.querySelector('header').contains(document.activeElement)")).toBe(false);
    await tabTo(/^Project$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/projects/${ids.project}/sessions`);
  });

  it('project tabs: arrows, Home and End move along the sections, Enter opens one', async () => {
    await page.locator('tr[data-session]').first().waitFor();
    await tabTo(/^Sessions$/);
    await page.keyboard.press('ArrowRight');
    await expectFocusOn(/^Jobs \/ Provenance$/);
    await page.keyboard.press('End');
    await expectFocusOn(/^Permissions$/);
    await page.keyboard.press('ArrowRight');
    await expectFocusOn(/^Sessions$/);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/projects/${ids.project}/jobs`);
    await page.locator('tr[data-job]').first().waitFor();
    await shots.shot('02-project-jobs');
  });

  it('sessions tab: sort headers are buttons, Space selects a row, Enter unfolds it and follows its link', async () => {
    await page.goto(`${origin()}/projects/${ids.project}/sessions`);
    await page.locator('tr[data-session]').first().waitFor();
    await tabTo(/^Session$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/sort=session/);
    await tabTo(/^Select sub-01 \/ ses-01$/);
    await page.keyboard.press('Space');
    await page.getByTestId('selected-count').filter({ hasText: '1 selected' }).waitFor();
    await tabTo(/^Show acquisitions of sub-01 \/ ses-01$/);
    await page.keyboard.press('Enter');
    await page.locator(`tr[data-acquisition="${ids.acquisition}"]`).waitFor();
    await tabTo(/^ses-01$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/sessions/${ids.session}`);
    // The link followed went with its page: focus starts again at the new page's content, not at <body>.
    await expect.poll(() => page.evaluate('document.activeElement && document.activeElement.id')).toBe('main');
  });

  it('container pages: a child opens with Enter, a file opens in its viewer and the viewer closes again', async () => {
    await page.getByRole('link', { name: 'T1w', exact: true }).waitFor();
    await tabTo(/^T1w$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/acquisitions/${ids.acquisition}`);
    await page.getByRole('button', { name: 'View notes.txt' }).waitFor();
    await tabTo(/^View notes\.txt$/);
    await page.keyboard.press('Enter');
    await page.getByRole('region', { name: 'Viewer: notes.txt' }).getByText('a line of notes').waitFor();
    await tabTo(/^Close viewer$/, { back: true });
    await page.keyboard.press('Space');
    await page.getByRole('region', { name: 'Viewer: notes.txt' }).waitFor({ state: 'detached' });
    await tabTo(/^Versions of notes\.txt$/);
    await page.keyboard.press('Enter');
    await page.getByRole('list', { name: 'Versions of notes.txt' }).waitFor();
    await shots.shot('03-acquisition');
  });

  it('job page: Space pauses the log, Enter cancels the job and opens Run again in a dialog that Escape closes', async () => {
    await page.goto(`${origin()}/jobs/${jobId}`);
    await page.getByRole('heading', { name: /kbd-gear/ }).waitFor();
    await tabTo(/^Follow$/);
    await page.keyboard.press('Space');
    expect(await page.getByRole('checkbox', { name: 'Follow' }).isChecked()).toBe(false);
    await tabTo(/^Cancel/, { back: true });
    await page.keyboard.press('Enter');
    await expect.poll(async () => ok(await s.admin.get(`/jobs/${jobId}`)).state, { timeout: 10_000 }).toBe('cancelled');
    await tabTo(/^Run again/);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await page.evaluate("!!document.activeElement.closest('[role=dialog]')")).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('jobs page: the filters are reached and changed with the arrows', async () => {
    await page.goto(`${origin()}/jobs`);
    await page.locator('tr[data-job]').first().waitFor();
    await tabTo(/^State$/);
    await page.keyboard.press('ArrowDown');
    await page.waitForURL(/state=/);
    await shots.shot('04-jobs');
  });

  it('gears page: a gear opens with Enter and its Run dialog keeps focus inside until Escape', async () => {
    await page.goto(`${origin()}/gears`);
    await page.getByRole('link', { name: 'kbd-gear' }).waitFor();
    await tabTo(/^kbd-gear$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/gears/${gearId}`);
    await page.getByRole('link', { name: 'Run…' }).waitFor();
    await tabTo(/^Run…$/);
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate("!!document.activeElement.closest('[role=dialog]')"), `Tab ${i + 1} stays in the dialog`).toBe(true);
      expectVisible(await focused(), `Tab ${i + 1} in the Run dialog`);
    }
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expectFocusOn(/^Run…$/);
  });

  it('admin: the sections are a row the arrows move along, Enter opens one', async () => {
    await page.goto(`${origin()}/admin/users`);
    await page.locator('tr[data-user]').first().waitFor();
    await tabTo(/^Users$/);
    await page.keyboard.press('ArrowRight');
    await expectFocusOn(/^Engines$/);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/admin/roles');
    await page.locator('tr[data-role]').first().waitFor();
    await tabTo(/^Users$/, { back: true });
    await page.keyboard.press('Enter');
    await page.waitForURL('**/admin/users');
    await shots.shot('05-admin');
  });
});
