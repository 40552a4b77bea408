import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * What every web UI test and bench:ui need: Debian's Chromium (`npm run setup` installs it; the tests skip
 * without it), the built UI, a signed-in page, and screenshots under e2e/output/<name>/.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

/** `npm test` builds first; a focused run of one file builds the UI if it never was. */
export function ensureWebBuilt(): void {
  if (fs.existsSync(path.join(ROOT, 'packages/web/dist/index.html'))) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/build.ts'), 'web'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building packages/web failed');
}

/** Chromium without its own sandbox (these tests run as root) and with the extra flags a test asks for (WebGL). */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', ...extraArgs] });
}

/** Signs in through the form with an API key and waits for the home page. */
export async function signInWithKey(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByRole('tab', { name: /key/i }).click();
  await page.getByLabel(/API key/i).fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
}

/** Signs in through the form with email and password and waits for the home page. */
export async function signInWithPassword(page: Page, origin: string, email: string, password: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
}

/** Screenshots of one test file: `shot(name)`, and `onFailure` for afterEach, which names the failed test. */
export function screenshots(dir: string, page: () => Page | undefined) {
  const out = path.join(ROOT, 'e2e/output', dir);
  fs.mkdirSync(out, { recursive: true });
  const shot = (name: string) => page()!.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  return {
    dir: out,
    shot,
    async onFailure(t: { task: { name: string; result?: { state?: string } } }): Promise<void> {
      if (t.task.result?.state === 'fail' && page())
        await shot(`failed-${t.task.name.slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
    },
  };
}
