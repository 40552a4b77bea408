import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from '../packages/server/test/gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { makeUser, ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithKey } from '../test-fixtures/browser.js';

/**
 * The Jobs and Administration pages in a real Chromium against a real server: filter jobs by state
 * and gear (kept in the URL), cancel several at once and see a refusal named for the job that could
 * not be cancelled; as site admin, create a user, give them a password and sign in as them, issue
 * a key that then works against the REST API and revoke it so that it stops working, disable the
 * user (their keys stop too), register an engine, create and delete a role. Every change is checked
 * through the API, not only on screen. Screenshots land in e2e/output/web-ui-admin/.
 */
const shots = screenshots('web-ui-admin', () => page);

let s: TestServer;
let browser: Browser;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;

const origin = () => s.url.replace(/\/api$/, '');
const { shot } = shots;

/** A gear that never runs here (no engine): its jobs stay pending, so they can be cancelled. */
async function pendingJobs(n: number, gear: string): Promise<string[]> {
  const gearId = await addGear(s.admin, manifest({ name: gear }));
  const jobs: string[] = [];
  for (let i = 0; i < n; i++)
    jobs.push(ok(await s.admin.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: ids.acquisition } }))._id);
  return jobs;
}

describe.skipIf(!CHROMIUM)('Jobs and Administration pages in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin);
    browser = await launchChromium(['--disable-gpu']);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('pageerror', (e) => console.error('[page error]', e.stack));
    // Signed in as the site admin, with the API key, through the sign-in form.
    await signInWithKey(page, origin(), s.admin.key!);
  });

  afterEach((t) => shots.onFailure(t));

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('filters jobs by state and gear in the URL, cancels and retries the selected ones', async () => {
    const jobs = await pendingJobs(3, 'ui-never-runs');
    const other = await pendingJobs(1, 'ui-other-gear');
    // One of the three is cancelled behind the page's back: the bulk cancel must say so, not fail silently.
    ok(await s.admin.put(`/jobs/${jobs[2]}`, { state: 'cancelled' }));

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    await page.getByRole('combobox', { name: /^Gear\b/ }).selectOption('ui-never-runs');
    await expect.poll(() => page.locator('tr[data-job]').count()).toBe(3);
    expect(new URL(page.url()).searchParams.get('gear')).toBe('ui-never-runs');
    expect(await page.locator(`tr[data-job="${other[0]}"]`).count()).toBe(0);
    await page.getByRole('combobox', { name: /^State\b/ }).selectOption('pending');
    await expect.poll(() => page.locator('tr[data-job]').count()).toBe(2);
    // A reload keeps the filter (it lives in the URL).
    await page.reload();
    await expect.poll(() => page.locator('tr[data-job]').count()).toBe(2);
    await shot('01-jobs-filtered');

    await page.getByLabel('Select all jobs shown').check();
    await page.getByRole('button', { name: /^Cancel 2$/ }).click();
    await expect(page.getByTestId('bulk-outcome').textContent()).resolves.toMatch(/cancel: 2 done/);
    for (const id of jobs.slice(0, 2)) expect(ok(await s.admin.get(`/jobs/${id}`)).state).toBe('cancelled');
    expect(ok(await s.admin.get(`/jobs/${other[0]}`)).state).toBe('pending');
    // The pending filter now shows none of them.
    await expect.poll(() => page.locator('tr[data-job]').count()).toBe(0);
    await shot('02-jobs-cancelled');

    // Retry: a job another retry already replaced is not offered again; the other one is queued anew.
    await page.getByRole('combobox', { name: /^State\b/ }).selectOption('cancelled');
    await expect.poll(() => page.locator('tr[data-job]').count()).toBe(3);
    ok(await s.admin.post(`/jobs/${jobs[2]}/retry?ignoreState=true`));
    await page.getByLabel('Select all jobs shown').check();
    await page.getByRole('button', { name: /^Retry 2$/ }).click();
    await expect.poll(() => page.getByTestId('bulk-outcome').textContent()).toMatch(/retry: 2 done/);
    const copies = ok(await s.admin.get(`/jobs?filter=gear_info.name=ui-never-runs&states=pending`)) as { previous_job_id: string }[];
    expect(copies.map((j) => j.previous_job_id).sort()).toEqual([...jobs].sort());
    await shot('03-jobs-retried');
  });

  it('creates a user, sets their password, issues and revokes a key, and disables them', async () => {
    const email = 'newcomer@e2e.org';
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'Administration' }).waitFor();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Email').fill(email);
    await form.getByLabel('First name').fill('New');
    await form.getByLabel('Last name').fill('Comer');
    await form.getByRole('button', { name: 'Create' }).click();
    const row = page.locator(`tr[data-user="${email}"]`);
    await row.waitFor();
    expect(ok(await s.admin.get(`/users/${email}`))).toMatchObject({ email, firstname: 'New', lastname: 'Comer', disabled: false });

    // A user id that exists already is refused in words, beside the form.
    await form.getByLabel('Email').fill(email);
    await form.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/exists/i);

    await row.getByRole('button', { name: 'Password' }).click();
    await page.getByLabel(`New password for ${email}`).fill('a long enough passphrase');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByLabel(`New password for ${email}`).waitFor({ state: 'detached' });
    // The password really works: a sign-in through the API with it opens a session.
    const session = await fetch(`${s.url}/auth/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: 'a long enough passphrase' }),
    });
    expect(session.status).toBe(200);

    await row.getByRole('button', { name: 'Keys' }).click();
    await page.getByRole('button', { name: 'Issue a key' }).click();
    const secret = (await page.getByTestId('new-secret').textContent())!;
    expect(ok(await s.as(secret).get('/users/self')).email).toBe(email);
    await shot('04-admin-key-issued');
    await page.getByRole('button', { name: /^Revoke key/ }).click();
    await page.locator('tr[data-key]').filter({ hasText: 'revoked' }).waitFor();
    expect((await s.as(secret).get('/users/self')).status).toBe(401);

    // Disabling ends every key of the account.
    const { key } = ok(await s.admin.post(`/users/${email}/key`, {}));
    await row.getByRole('button', { name: `Disable ${email}` }).click();
    await row.getByRole('button', { name: `Enable ${email}` }).waitFor();
    expect(ok(await s.admin.get(`/users/${email}`)).disabled).toBe(true);
    expect((await s.as(key).get('/users/self')).status).toBe(401);
    await shot('05-admin-user-disabled');
  });

  it('registers an engine (key shown once, and it works), lists it, and creates and deletes a role', async () => {
    await page.getByRole('link', { name: 'Engines' }).click();
    const form = page.getByRole('form', { name: 'Register an engine' });
    await form.getByLabel('Name').fill('scanner-room-engine');
    await form.getByRole('button', { name: 'Register' }).click();
    const key = (await page.getByTestId('new-secret').textContent())!;
    // The engine key claims work at /jobs/ask (here: nothing to claim, but it is accepted).
    const ask = await fetch(`${s.url}/jobs/ask`, {
      method: 'POST',
      headers: { Authorization: `scitran-user ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ whitelist: { 'gear-name': ['nothing-by-this-name'] }, capabilities: [], return: { jobs: 1 } }),
    });
    expect(ask.status).toBe(200);
    const row = page.locator('tr[data-device]').filter({ hasText: 'scanner-room-engine' });
    await row.waitFor();
    await expect.poll(() => row.textContent()).not.toMatch(/Last seen\s*—/);
    await shot('06-admin-engines');

    await page.getByRole('link', { name: 'Roles' }).click();
    const roleForm = page.getByRole('form', { name: 'New role' });
    await roleForm.getByLabel('Name').fill('uploader');
    await roleForm.getByLabel('files_create_upload', { exact: true }).check();
    await roleForm.getByRole('button', { name: 'Create role' }).click();
    const roleRow = page.locator('tr[data-role="uploader"]');
    await roleRow.waitFor();
    const role = (ok(await s.admin.get('/roles')) as { label: string; actions: string[] }[]).find((r) => r.label === 'uploader');
    expect(role?.actions).toContain('files_create_upload');
    await roleRow.getByRole('button', { name: 'Delete' }).click();
    await roleRow.waitFor({ state: 'detached' });
    expect((ok(await s.admin.get('/roles')) as { label: string }[]).some((r) => r.label === 'uploader')).toBe(false);
    await shot('07-admin-roles');
  });

  it('shows a user who is not a site admin no Admin link, and names each job a bulk cancel may not touch', async () => {
    const user = await makeUser(s, 'plain@e2e.org');
    ok(await s.admin.post(`/groups/${ids.group}/permissions`, { _id: 'plain@e2e.org', access: 'rw' }));
    const gearId = (ok(await s.admin.get('/gears?filter=gear.name=ui-never-runs')) as { _id: string }[])[0]!._id;
    const mine = ok(await user.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: ids.acquisition } }))
      ._id as string;
    const theirs = (ok(await s.admin.get('/jobs?filter=gear_info.name=ui-never-runs&states=pending')) as { id: string }[])
      .map((j) => j.id)
      .filter((id) => id !== mine);
    expect(theirs.length).toBe(3);
    const other = await (await browser.newContext()).newPage();
    await signInWithKey(other, origin(), user.key!);
    expect(await other.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await other.goto(`${origin()}/admin/users`);
    await other.getByText('Only site admins manage users, engines and roles.').waitFor();

    // The user (read-write on the data) may cancel their own job, not the admin's: each refusal is named.
    await other.goto(`${origin()}/jobs?gear=ui-never-runs&state=pending`);
    await expect.poll(() => other.locator('tr[data-job]').count()).toBe(4);
    await other.getByLabel('Select all jobs shown').check();
    await other.getByRole('button', { name: /^Cancel 4$/ }).click();
    const outcome = other.getByTestId('bulk-outcome');
    await expect.poll(() => outcome.textContent()).toMatch(/cancel: 1 done, 3 refused/);
    for (const id of theirs) expect(await outcome.textContent()).toContain(id);
    expect(await outcome.textContent()).toMatch(/permission denied/i);
    expect(ok(await s.admin.get(`/jobs/${mine}`)).state).toBe('cancelled');
    for (const id of theirs) expect(ok(await s.admin.get(`/jobs/${id}`)).state).toBe('pending');
    // The refused jobs stay selected, so the user sees which ones are left.
    expect(await other.locator('tr.selected').count()).toBe(3);
    await other.screenshot({ path: path.join(shots.dir, '08-jobs-refused.png'), fullPage: true });
    await other.context().close();
  });

  it('creates a project from the home page and opens it; a label taken in the group is refused in words', async () => {
    await page.goto(`${origin()}/`);
    const group = ok(await s.admin.get(`/groups/${ids.group}`)) as { _id: string; label?: string };
    const name = `New project in ${group.label || group._id}`;
    await page.getByRole('button', { name }).click();
    const form = page.getByRole('form', { name });
    await form.getByLabel('Label').fill('Pilot 2027');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/projects\/[0-9a-f]{24}\/sessions$/);
    const id = /projects\/([0-9a-f]{24})/.exec(page.url())![1];
    expect(ok(await s.admin.get(`/projects/${id}`))).toMatchObject({ label: 'Pilot 2027', group: ids.group });
    await page.getByRole('heading', { name: 'Pilot 2027' }).waitFor();
    await page.goto(`${origin()}/`);
    await page.getByRole('button', { name }).click();
    await page.getByRole('form', { name }).getByLabel('Label').fill('Pilot 2027');
    await page.getByRole('form', { name }).getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByRole('form', { name }).getByRole('alert').textContent()).toMatch(/already exists|exists/i);
    await shot('09-new-project-refused');
  });
});
