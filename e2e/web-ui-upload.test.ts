import fs from 'node:fs';
import path from 'node:path';
import { planSeries } from '@sprocket/types';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDicomInfo } from '../packages/cli/src/dicom/scan.js';
import { makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithKey } from '../test-fixtures/browser.js';
import { geBrainSeries } from '../test-fixtures/fetch.js';

/**
 * Uploads from the browser, slowed down by Chromium's own network throttling so that they can be
 * watched and stopped: a DICOM series counts its files done as its zip's bytes go up, and a
 * cancelled upload (a series onto a session, a plain file) leaves nothing on the server: no file,
 * no acquisition made for it, no stored bytes in the data directory. Screenshots in e2e/output/web-ui-upload/.
 */
const shots = screenshots('web-ui-upload', () => page);
let s: TestServer;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
const origin = () => s.url.replace(/\/api$/, '');

/** Bytes per second the page may send (-1: unthrottled). */
const throttle = (uploadThroughput: number) =>
  cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });

/** Every file under the data directory but the database's, with its size. */
function storedFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (!/\.(db|sqlite)(-wal|-shm|-journal)?$/.test(e.name)) out.push(`${path.relative(s.dataDir, p)} ${fs.statSync(p).size}`);
    }
  };
  walk(s.dataDir);
  return out.sort();
}

/** Drops files onto the page's drop zone, as the browser delivers a drop. */
async function drop(files: { name: string; data: Buffer; type: string }[]): Promise<void> {
  const dt = await page.evaluateHandle(
    (list) => {
      const t = new (globalThis as any).DataTransfer();
      for (const f of list) t.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
      return t;
    },
    files.map((f) => ({ name: f.name, b64: f.data.toString('base64'), type: f.type })),
  );
  const zone = page.getByTestId('dropzone');
  await zone.dispatchEvent('dragover', { dataTransfer: dt });
  await zone.dispatchEvent('drop', { dataTransfer: dt });
}

describe.skipIf(!CHROMIUM)('uploads in Chromium: progress per file, cancelling', () => {
  const series = geBrainSeries();
  const dicom = series.map((f) => ({ name: path.basename(f), data: fs.readFileSync(f), type: 'application/dicom' }));
  let plan: ReturnType<typeof planSeries<NonNullable<Awaited<ReturnType<typeof readDicomInfo>>>>>[number];

  beforeAll(async () => {
    ensureWebBuilt();
    const infos = await Promise.all(series.map((f) => readDicomInfo(f, fs.statSync(f).size)));
    plan = planSeries(infos.filter((i) => !!i))[0]!;
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'upl');
    browser = await launchChromium(['--disable-gpu']);
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
    cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await signInWithKey(page, origin(), s.admin.key!);
    await page.goto(`${origin()}/sessions/${ids.session}`);
    await page.getByRole('heading', { name: /ses-01/ }).waitFor();
  });
  afterEach((t) => shots.onFailure(t));
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('cancelling a series and a file under way leaves no file, no new acquisition and no stored bytes', async () => {
    const before = storedFiles();
    const acquisitionsBefore = (ok(await s.admin.get(`/sessions/${ids.session}/acquisitions`)) as { label: string }[]).map((a) => a.label);
    expect(acquisitionsBefore).not.toContain(plan.acquisition.label);
    await throttle(200 * 1024);
    const big = { name: 'big.bin', data: Buffer.alloc(6 * 1024 * 1024, 7), type: 'application/octet-stream' };
    await drop([...dicom, big]);
    const item = page.locator(`li[data-upload="${plan.zipName}"]`);
    const file = page.locator('li[data-upload="big.bin"]');
    // Under way: some bytes of each have gone, not all.
    for (const it of [item, file]) {
      await expect
        .poll(async () => Number(await it.locator('progress').evaluate((p) => (p as unknown as { value: number }).value)), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
    }
    await shots.shot('01-under-way');
    await item.getByRole('button', { name: `Cancel the upload of ${plan.zipName}` }).click();
    await file.getByRole('button', { name: 'Cancel the upload of big.bin' }).click();
    await item.and(page.locator('[data-state="cancelled"]')).waitFor();
    await file.and(page.locator('[data-state="cancelled"]')).waitFor();
    await throttle(-1);
    await shots.shot('02-cancelled');

    // The acquisition the drop made for the series is gone again; nothing landed anywhere.
    await expect
      .poll(async () => (ok(await s.admin.get(`/sessions/${ids.session}/acquisitions`)) as { label: string }[]).map((a) => a.label))
      .toEqual(acquisitionsBefore);
    expect(ok(await s.admin.get(`/sessions/${ids.session}`)).files).toEqual([]);
    await expect.poll(storedFiles, { timeout: 10_000 }).toEqual(before);
  }, 90_000);

  it('a series counts its files done as its bytes go up, then lands whole', async () => {
    await throttle(1024 * 1024);
    await drop(dicom);
    const item = page.locator(`li[data-upload="${plan.zipName}"]`).first();
    const seen = new Set<string>();
    const n = series.length;
    for (let i = 0; i < 600 && !seen.has(`${n} of ${n} files`); i++) {
      const text = await item
        .getByTestId('files-done')
        .textContent({ timeout: 1000 })
        .catch(() => '');
      const m = /(\d+) of (\d+) files/.exec(text ?? '');
      if (m) seen.add(m[0]);
      if (seen.size === 3) await shots.shot('03-files-done');
      await page.waitForTimeout(50);
    }
    await throttle(-1);
    const counts = [...seen].map((t) => Number(t.split(' ')[0]));
    // Files finished one by one, seen in between, not only 0 and all.
    expect(
      counts.some((k) => k > 0 && k < n),
      `seen: ${[...seen].join(', ')}`,
    ).toBe(true);
    expect(seen.has(`${n} of ${n} files`)).toBe(true);
    await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
    const acq = (ok(await s.admin.get(`/sessions/${ids.session}/acquisitions`)) as { label: string; files: { name: string }[] }[]).find(
      (a) => a.label === plan.acquisition.label,
    );
    expect(acq?.files.map((f) => f.name)).toEqual([plan.zipName]);
  }, 90_000);
});
