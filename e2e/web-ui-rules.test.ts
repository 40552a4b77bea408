import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from '../packages/server/test/gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { ok } from '../packages/server/test/people.js';
import { CHROMIUM, ensureWebBuilt, launchChromium, screenshots, signInWithKey } from '../test-fixtures/browser.js';

/**
 * The rule editor's config form and fixed inputs in Chromium: the form is generated from the
 * gear's manifest as the Run dialog's is (a bad value named and Save held back), a second input is
 * pinned to a project file from a picker that offers only files that fit it, the rule reads back
 * from the API with both, reopens with them filled in, and its dry run and apply launch a job that
 * carries them. Screenshots in e2e/output/web-ui-rules/.
 */
const shots = screenshots('web-ui-rules', () => page);
let s: TestServer;
let browser: Browser;
let page: Page;
let ids: Awaited<ReturnType<typeof makeHierarchy>>;
const origin = () => s.url.replace(/\/api$/, '');

interface RuleBody {
  _id: string;
  config: Record<string, unknown>;
  fixed_inputs: { input: string; type: string; id: string; name: string }[];
}

describe.skipIf(!CHROMIUM)('gear rule editor: config and fixed inputs', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'rules');
    await addGear(
      s.admin,
      manifest({
        name: 'rule-config-gear',
        config: {
          mode: { type: 'string', enum: ['fast', 'thorough'], default: 'fast' },
          threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
          verbose: { type: 'boolean', default: false },
        },
        inputs: {
          image: { base: 'file', type: { enum: ['nifti'] } },
          template: { base: 'file', type: { enum: ['text'] } },
        },
      }),
    );
    // The template a rule pins, and a file it must not offer for that input (not text).
    ok(await s.admin.upload(`/projects/${ids.project}/files`, [{ name: 'template.txt', content: 'a template' }]));
    ok(await s.admin.upload(`/projects/${ids.project}/files`, [{ name: 'atlas.nii.gz', content: 'not text' }]));
    browser = await launchChromium(['--disable-gpu']);
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
    await signInWithKey(page, origin(), s.admin.key!);
  });
  afterEach((t) => shots.onFailure(t));
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('sets config from the manifest-generated form and pins a fixed input; both are saved, shown again and used', async () => {
    await page.goto(`${origin()}/projects/${ids.project}/rules`);
    await page.getByRole('button', { name: 'Add a rule…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a gear rule' });
    await dialog.getByLabel('Name').fill('QA with template');
    await dialog.getByLabel('Gear').selectOption({ label: 'rule-config-gear 1.0.0' });
    await dialog.getByLabel('Any of these: condition 1 value').fill('nifti');

    // The manifest's defaults fill the form; a value out of range is named and holds Save back.
    const threshold = dialog.locator('[data-config="threshold"] input');
    expect(await threshold.inputValue()).toBe('0.5');
    await threshold.fill('3');
    await dialog.locator('[data-config="threshold"]').getByRole('alert').waitFor();
    expect(await dialog.getByRole('button', { name: 'Save rule' }).isDisabled()).toBe(true);
    await threshold.fill('0.8');
    await dialog.locator('[data-config="mode"] select').selectOption('thorough');
    await dialog.locator('[data-config="verbose"] input').check();

    // Only the text file fits the template input; the image input is left to the rule's match.
    const template = dialog.locator('[data-input="template"] select');
    await template.locator('option', { hasText: 'template.txt' }).waitFor({ state: 'attached' });
    const offered = await template.locator('option').allTextContents();
    expect(offered.some((o) => o.includes('atlas.nii.gz'))).toBe(false);
    await template.selectOption({ label: (offered.find((o) => o.includes('template.txt')) ?? '').trim() });
    expect(await dialog.locator('[data-input="image"] select').inputValue()).toBe('');
    await shots.shot('01-rule-editor');
    await dialog.getByRole('button', { name: 'Save rule' }).click();
    await dialog.waitFor({ state: 'detached' });

    const [rule] = ok(await s.admin.get(`/projects/${ids.project}/rules`)) as RuleBody[];
    expect(rule!.config).toEqual({ mode: 'thorough', threshold: 0.8, verbose: true });
    expect(rule!.fixed_inputs).toEqual([{ input: 'template', type: 'project', id: ids.project, name: 'template.txt' }]);

    // Opened again, the editor shows what the rule holds; a change is saved.
    const row = page.locator(`tr[data-rule="${rule!._id}"]`);
    await row.getByRole('button', { name: 'Edit…' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit rule QA with template' });
    expect(await edit.locator('[data-config="threshold"] input').inputValue()).toBe('0.8');
    expect(await edit.locator('[data-config="mode"] select').inputValue()).toBe('thorough');
    expect(await edit.locator('[data-config="verbose"] input').isChecked()).toBe(true);
    expect(await edit.locator('[data-input="template"] select').inputValue()).toBe(`project/${ids.project}/template.txt`);
    await edit.locator('[data-config="threshold"] input').fill('0.25');
    await edit.getByRole('button', { name: 'Save rule' }).click();
    await edit.waitFor({ state: 'detached' });
    await expect
      .poll(
        async () => ((ok(await s.admin.get(`/projects/${ids.project}/rules`)) as RuleBody[])[0]!.config as { threshold: number }).threshold,
      )
      .toBe(0.25);

    // Applied to a NIfTI already there: the job it launches carries the config and the pinned file.
    ok(await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'pretend nifti' }]));
    await row.getByRole('button', { name: 'Apply…' }).click();
    const apply = page.getByRole('dialog', { name: 'Apply QA with template to existing data' });
    await apply.getByTestId('dry-run').filter({ hasText: 'would launch 1 job' }).waitFor();
    await apply.getByRole('button', { name: 'Apply: launch 1' }).click();
    await apply.getByTestId('applied').waitFor();
    // As Flywheel answers a job: the config under config.config, inputs as file references.
    const [job] = ok(await s.admin.get(`/jobs?filter=origin.id=rule:${rule!._id}`)) as {
      config: { config: Record<string, unknown> };
      inputs: Record<string, { type: string; name: string }>;
    }[];
    expect(job!.config.config).toMatchObject({ mode: 'thorough', threshold: 0.25, verbose: true });
    expect(job!.inputs.template).toMatchObject({ type: 'project', name: 'template.txt' });
    expect(job!.inputs.image).toMatchObject({ type: 'acquisition', name: 'scan.nii.gz' });
    await shots.shot('02-applied');
  }, 90_000);
});
