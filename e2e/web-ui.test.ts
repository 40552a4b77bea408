import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BwrapExecutor } from '../packages/engine/src/executors/bwrap.js';
import { addJob, type EngineProcess, engineKey, startEngine, uploadGear } from '../packages/engine/test/engines.js';
import { getContainer } from '../packages/server/src/dao/containers.js';
import { chainBelow, insertContainer } from '../packages/server/src/dao/hierarchy.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { makeUser, ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithPassword } from '../test-fixtures/browser.js';

/**
 * The web UI in a real Chromium (Debian's, installed by `npm run setup`; no browser download)
 * against a real server and engine on a free loopback port: sign in with a password, browse to a
 * project, see its sessions, watch a job go running → complete without a reload, read its log
 * (signing out and finding the session gone is the last step of web-ui-workflow.test.ts). And
 * the sessions table of a 5,000-session project stays virtualised. Screenshots land in e2e/output/web-ui/.
 */
const shots = screenshots('web-ui', () => page);
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

let s: TestServer;
let user: Api;
let engine: EngineProcess | undefined;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
const PASSWORD = 'correct horse battery';
const EMAIL = 'ui@e2e.org';

const origin = () => s.url.replace(/\/api$/, '');
const { shot } = shots;

describe.skipIf(!CHROMIUM)('web UI in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin);
    user = await makeUser(s, EMAIL);
    ok(await s.admin.post(`/groups/${ids.group}/permissions`, { _id: EMAIL, access: 'rw' }));
    ok(await s.admin.put(`/users/${EMAIL}/password`, { password: PASSWORD }));
    browser = await launchChromium(['--disable-gpu']);
    ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
  });

  // What the page looked like when a step failed says more than the timeout does.
  afterEach((t) => shots.onFailure(t));

  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
    await s?.stop();
  });

  /** Signs in through the form, from wherever the page is. */
  async function signIn(): Promise<void> {
    await signInWithPassword(page, origin(), EMAIL, PASSWORD);
  }

  it('signs in with a password into an HttpOnly cookie, never a stored key', async () => {
    await page.goto(origin() + '/');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /wrong email or password/i })
      .waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await shot('01-home');
    const [cookie] = await ctx.cookies();
    expect(cookie).toMatchObject({ name: 'sprocket_session', httpOnly: true, sameSite: 'Strict', path: '/api' });
    expect(await page.evaluate('document.cookie')).toBe('');
    // Evaluated in the page (this file's types are Node's, hence the string).
    expect(await page.evaluate('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })')).toBe('{}{}');
    // The live indicator says the event stream is open.
    await page.getByText('Live', { exact: true }).waitFor();
  });

  it('browses to the project and sees its sessions', async () => {
    await page.getByRole('link', { name: 'Project', exact: true }).click();
    await page.waitForURL(/\/projects\/[0-9a-f]{24}\/sessions$/);
    const row = page.locator(`tr[data-session="${ids.session}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('sub-01');
    expect(await row.textContent()).toContain('ses-01');
    await row.getByRole('button', { name: /Show acquisitions/ }).click();
    await page.locator(`tr[data-acquisition="${ids.acquisition}"]`, { hasText: 'T1w' }).waitFor();
    await shot('02-sessions');
  });

  it('sees a job change state live, without reloading, and reads its log', async () => {
    const gear = await uploadGear(s.admin, 'slow');
    const id = await addJob(user, {
      gear_id: gear,
      config: { seconds: 2, marker: `sprocket-ui-${process.pid}` },
      destination: { type: 'session', id: ids.session },
    });
    await page.getByRole('link', { name: 'Jobs / Provenance' }).click();
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.locator('[data-state="pending"]').waitFor();
    expect(await row.textContent()).toContain('slow');
    expect(await row.textContent()).toContain(EMAIL);
    await shot('03-job-pending');
    // Anything a reload would wipe out: it must still be there when the row has changed.
    await page.evaluate('window.__noReload = true');
    engine = startEngine(await engineKey(s.admin), { concurrency: 1, executor });
    await row.locator('[data-state="running"]').waitFor({ timeout: 30_000 });
    await row.locator('[data-state="complete"]').waitFor({ timeout: 30_000 });
    expect(await page.evaluate('window.__noReload')).toBe(true);
    await shot('04-job-complete');

    await row.getByRole('link', { name: 'slow' }).click();
    await page.waitForURL(new RegExp(`/jobs/${id}$`));
    await page.getByTestId('job-log').filter({ hasText: 'started' }).waitFor();
    await page.locator('.file-list').getByText('done.txt').waitFor();
    await shot('05-job-page');
  });

  it('keeps a 5,000-session project virtualised: few rows in the DOM, first rows fast, sorting and scrolling reach the end', async () => {
    const big = ok(await s.admin.post('/projects', { group: ids.group, label: 'Big study' }))._id as string;
    const subject = ok(await s.admin.post('/subjects', { project: big, label: 'sub-big' }))._id as string;
    const N = 5000;
    // Set-up through the data layer the routes write with, in one transaction: 10,000 HTTP
    // creations would spend a minute of this shared machine on set-up alone.
    const db = s.ctx.handle.db;
    const subjectRow = (await getContainer(db, subject))!;
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < N; i++) {
        const ses = await insertContainer(trx, {
          type: 'session',
          label: `ses-${String(i).padStart(4, '0')}`,
          chain: chainBelow(subjectRow),
          parentType: 'subject',
          parentId: subject,
          timestamp: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
        });
        await insertContainer(trx, { type: 'acquisition', label: 'T1w', chain: chainBelow(ses), parentType: 'session', parentId: ses.id });
      }
    });
    // Signed in by the tests before, unless this one runs alone.
    if (!(await ctx.cookies()).length) await signIn();
    const tApi = Date.now();
    expect(ok(await s.admin.get(`/projects/${big}/sessions`)).length).toBe(N);
    const apiMs = Date.now() - tApi;

    const listings: URL[] = [];
    const onRequest = (r: { url(): string }) => {
      const u = new URL(r.url());
      if (u.pathname === `/api/projects/${big}/sessions`) listings.push(u);
    };
    page.on('request', onRequest);
    const t0 = Date.now();
    await page.goto(`${origin()}/projects/${big}/sessions`);
    await page.locator('tr[data-session]').first().waitFor();
    const firstRowsMs = Date.now() - t0;
    console.log(`[web-ui] ${N} sessions: first rows after ${firstRowsMs} ms (the whole listing alone: ${apiMs} ms)`);
    await page.getByTestId('session-count').filter({ hasText: '5,000 of 5,000' }).waitFor();
    page.off('request', onRequest);
    // The first screen came from a slim, sorted first page; the whole (slim) listing followed it.
    expect(listings.map((u) => u.searchParams.get('limit'))).toEqual(['100', null]);
    expect(listings[0]!.searchParams.get('sort')).toBe('subject.label:asc,label:asc');
    expect(listings[1]!.searchParams.get('fields')).toContain('subject');
    await page.locator('tr[data-session]').first().filter({ hasText: 'ses-0000' }).waitFor();
    const inDom = await page.locator('tr[data-session]').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThanOrEqual(200);
    await shot('07-big-project');

    // Sorting by session, descending, is kept in the URL and puts the last label first.
    await page.getByRole('button', { name: 'Session' }).click();
    await page.getByRole('button', { name: 'Session' }).click();
    await page.waitForURL(/sort=session&dir=desc/);
    await page.locator('tr[data-session]').first().filter({ hasText: 'ses-4999' }).waitFor();
    // Scrolling to the end shows the first label; the DOM still holds a window, not the list.
    await page.getByTestId('sessions-scroller').evaluate((el: { scrollTop: number; scrollHeight: number }) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator('tr[data-session]', { hasText: 'ses-0000' }).waitFor();
    expect(await page.locator('tr[data-session]').count()).toBeLessThanOrEqual(200);

    // The filter is in the URL too: a reload keeps it.
    await page.goto(`${origin()}/projects/${big}/sessions?q=ses-012`);
    await page.getByTestId('session-count').filter({ hasText: '10 of 5,000' }).waitFor();
  }, 240_000);
});
