/**
 * The registries overview and a registry's repositories in Chromium: the seeded
 * registry's figures as the usage API gives them, creating a registry with the
 * name checked while it is typed, changing a tier (and a tier the registry does
 * not fit being offered disabled), deleting a registry behind its typed name,
 * the getting-started commands of an empty registry naming this server, and
 * searching, sorting and paging repositories. Screenshots: registries,
 * registries-phone, repositories, getting-started.
 */
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, sha256, tarOf } from '../support/oci-layout.js';
import { formatBytes, formatCents } from '../../web/src/format.js';
import { expectAccessible, expectStatus, screenshot, signedInPage, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

let env: UiEnv;
let host: string;
const pages: Page[] = [];

/** A registry for search, sort and paging: 23 repositories `bulk/r01`…`bulk/r23`, each bigger than the one before. */
const CATALOG = 'catalog';
const BULK = Array.from({ length: 23 }, (_, i) => `bulk/r${String(i + 1).padStart(2, '0')}`);

beforeAll(async () => {
  env = await startUiEnv({ seed: true });
  host = new URL(env.baseUrl).host;
  await expectStatus(await env.api('/registries', { method: 'POST', body: JSON.stringify({ name: CATALOG }) }), 201, `create ${CATALOG}`);
  // One after the other, so their push times are in this order too.
  for (const [i, repo] of BULK.entries()) await pushTinyImage(`${CATALOG}/${repo}`, 'v1', (i + 1) * 2000);
});

afterAll(async () => {
  await Promise.all(pages.map((p) => p.context().close().catch(() => undefined)));
  await env?.close();
});


/** A one-layer image whose config carries `padding` bytes, pushed over /v2/ (blobs by monolithic POST, then the manifest). */
async function pushTinyImage(repo: string, tag: string, padding: number): Promise<void> {
  const tar = await tarOf([{ name: 'hello.txt', content: Buffer.from(`${repo}\n`) }]);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { padding: 'x'.repeat(padding) } }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  for (const blob of [layer, config]) {
    await expectStatus(await env.api(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: new Uint8Array(blob), headers: { 'content-type': 'application/octet-stream' } }), 201, `blob for ${repo}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length }],
  });
  await expectStatus(await env.api(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } }), 201, `manifest ${repo}:${tag}`);
}

async function newPage(viewport?: { width: number; height: number }): Promise<Page> {
  const page = await signedInPage(env, viewport ? { viewport } : {});
  pages.push(page);
  return page;
}

/** The card of a registry on the overview. */
const card = (page: Page, name: string) => page.getByRole('listitem').filter({ has: page.getByRole('heading', { level: 2, name, exact: true }) });

/** The repository names in the table, top to bottom. */
const rowNames = (page: Page) => page.locator('table tbody th[scope="row"]').allTextContents();

const apiJson = <T,>(path: string) => env.apiJson<T>(path);

describe('registries overview', () => {
  it("shows the seeded registry's tier, region, repositories, storage, transfer and cost", async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const registry = env.seeded!.registry;
    const { usage } = await apiJson<{ usage: { repositories: number; storage_usage_bytes: number; transfer_bytes: number; subscription_tier: { name: string }; estimated_cost: { total_in_cents: number } } }>(`/registries/${registry}/usage`);
    const { registry: view } = await apiJson<{ registry: { region: string } }>(`/registries/${registry}`);
    expect(usage.repositories).toBe(env.seeded!.repositories.length);

    const acme = card(page, registry);
    await acme.getByText('Estimated cost this month').waitFor();
    await expect.poll(() => acme.locator('dd').first().textContent()).toBe(String(usage.repositories));
    const text = (await acme.textContent()) ?? '';
    expect(text).toContain(usage.subscription_tier.name);
    expect(text).toContain(`Region ${view.region}`);
    expect(text).toContain(formatBytes(usage.storage_usage_bytes));
    expect(text).toContain(formatBytes(usage.transfer_bytes));
    expect(text).toContain(formatCents(usage.estimated_cost.total_in_cents));
    // The name leads to the registry's repositories.
    expect(await acme.getByRole('link', { name: registry, exact: true }).getAttribute('href')).toBe(`/registries/${registry}`);
    // The empty registry and the catalog are listed too.
    await card(page, env.seeded!.emptyRegistry).waitFor();
    await card(page, CATALOG).waitFor();

    await screenshot(page, 'registries');
    await expectAccessible(page, 'the registries overview');
    errors.assertNoPageErrors();
  });

  it('creates a registry, checking the name while it is typed', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.getByRole('button', { name: 'Create registry', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Create registry' });
    await dialog.waitFor();
    const name = dialog.getByLabel('Name', { exact: true });
    const submit = dialog.getByRole('button', { name: 'Create registry', exact: true });

    // Not a valid name: the server's reason shows beside the field, and nothing can be submitted.
    await name.fill('Bad_Name');
    await dialog.locator('.field-error', { hasText: 'registry names are 1-63 characters' }).waitFor();
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await submit.isDisabled()).toBe(true);
    await expectAccessible(page, 'the create registry dialog with a name error');

    // Taken.
    await name.fill(env.seeded!.registry);
    await dialog.locator('.field-error', { hasText: `registry name ${env.seeded!.registry} is taken` }).waitFor();
    expect(await submit.isDisabled()).toBe(true);

    // Free: said so, and the form can be sent.
    await name.fill('ui-created');
    await dialog.getByText('ui-created is available.', { exact: true }).first().waitFor();
    expect(await name.getAttribute('aria-invalid')).toBeNull();
    const tier = dialog.getByLabel('Subscription tier', { exact: true });
    await tier.selectOption('basic');
    await dialog.getByLabel('Region', { exact: true }).selectOption('local');
    expect(await submit.isEnabled()).toBe(true);
    await submit.click();

    // Straight to the new registry, whose getting-started panel says how to push to it.
    await page.waitForURL((url) => url.pathname === '/registries/ui-created');
    await page.getByRole('heading', { level: 2, name: 'Getting started' }).waitFor();
    const { registry } = await apiJson<{ registry: { subscription: { tier: { slug: string } }; region: string } }>('/registries/ui-created');
    expect(registry.subscription.tier.slug).toBe('basic');
    expect(registry.region).toBe('local');
    errors.assertNoPageErrors();
  });

  it('changes the tier of a registry, and offers a tier it does not fit only disabled', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);

    // acme has 2 repositories; starter allows 1.
    await card(page, env.seeded!.registry).getByRole('button', { name: `Change tier of ${env.seeded!.registry}` }).click();
    let dialog = page.getByRole('dialog', { name: `Change tier of ${env.seeded!.registry}` });
    const starter = dialog.locator('option[value="starter"]');
    await starter.waitFor({ state: 'attached' });
    expect(await starter.isDisabled()).toBe(true);
    expect(await starter.textContent()).toContain('unavailable: more repositories than it allows');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    const created = card(page, 'ui-created');
    expect(await created.textContent()).toContain('Basic');
    await created.getByRole('button', { name: 'Change tier of ui-created' }).click();
    dialog = page.getByRole('dialog', { name: 'Change tier of ui-created' });
    await dialog.getByLabel('Subscription tier', { exact: true }).selectOption('professional');
    await dialog.getByRole('button', { name: 'Change tier', exact: true }).click();

    await page.getByRole('status').filter({ hasText: 'Registry ui-created is now on the Professional tier.' }).waitFor();
    await expect.poll(async () => (await card(page, 'ui-created').locator('.badge').first().textContent())?.trim()).toBe('Professional');
    const { registry } = await apiJson<{ registry: { subscription: { tier: { slug: string } } } }>('/registries/ui-created');
    expect(registry.subscription.tier.slug).toBe('professional');
    errors.assertNoPageErrors();
  });

  it('deletes a registry only once its name is typed', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await card(page, 'ui-created').getByRole('button', { name: 'Delete ui-created' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete registry ui-created?' });
    const confirm = dialog.getByRole('button', { name: 'Delete registry', exact: true });
    expect(await confirm.isDisabled()).toBe(true);
    const typed = dialog.getByLabel('Type ui-created to confirm');
    await typed.fill('ui-create');
    expect(await confirm.isDisabled()).toBe(true);
    await expectAccessible(page, 'the delete registry dialog');
    await typed.fill('ui-created');
    expect(await confirm.isEnabled()).toBe(true);
    await confirm.click();

    await page.getByRole('status').filter({ hasText: 'Registry ui-created deleted.' }).waitFor();
    await expect.poll(() => card(page, 'ui-created').count()).toBe(0);
    expect((await env.api('/registries/ui-created')).status).toBe(404);
    await card(page, env.seeded!.registry).waitFor();
    errors.assertNoPageErrors();
  });

  it('fits a phone: no sideways scrolling at 375 px', async () => {
    const page = await newPage({ width: 375, height: 800 });
    const errors = watchPageErrors(page);
    await card(page, env.seeded!.registry).getByText('Estimated cost this month').waitFor();
    await expect.poll(() => card(page, env.seeded!.registry).locator('dd').first().textContent()).not.toBe('…');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await screenshot(page, 'registries-phone');
    errors.assertNoPageErrors();
  });
});

describe("a registry's repositories", () => {
  it('shows the getting-started commands for this server when a registry is empty', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const empty = env.seeded!.emptyRegistry;
    await page.goto(`${env.baseUrl}/registries/${empty}`);
    const panel = page.getByRole('region', { name: 'Getting started' });
    await panel.waitFor();
    const commands = (await panel.locator('.command code').allTextContents()).map((c) => c.trim());
    expect(commands).toEqual(
      expect.arrayContaining([
        `berth login ${host} -u admin`,
        `berth registry login ${empty}`,
        `docker login ${host} -u admin`,
        `docker tag my-app:latest ${host}/${empty}/my-app:latest`,
        `docker push ${host}/${empty}/my-app:latest`,
        `berth registry kubernetes-manifest ${empty} --namespace default | kubectl apply -f -`,
        `kubectl create secret docker-registry registry-${empty} --namespace default --docker-server=${host} --docker-username=admin --docker-password=<token>`,
      ]),
    );
    // Every command has its own copy button.
    expect(await panel.locator('.command button').count()).toBe(commands.length);
    // 127.0.0.1 is a loopback address: docker needs no insecure-registries entry for it.
    expect(await panel.getByText('insecure-registries').count()).toBe(0);
    // No search box nor table for a registry with nothing in it.
    expect(await page.getByLabel('Search repositories').count()).toBe(0);

    await screenshot(page, 'getting-started');
    await expectAccessible(page, 'the getting-started panel');
    errors.assertNoPageErrors();
  });

  it('lists the seeded repositories with tags, size, last push and worst severity', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { registry, repositories, vulnerable } = env.seeded!;
    await page.goto(`${env.baseUrl}/registries/${registry}`);
    await page.locator('table tbody tr').first().waitFor();
    expect(await rowNames(page)).toEqual([...repositories].sort());

    const listed = await apiJson<{ repositories: { name: string; tag_count: number; size_bytes: number }[] }>(`/registries/${registry}/repositoriesV2`);
    for (const r of listed.repositories) {
      const row = page.locator('table tbody tr').filter({ has: page.getByRole('rowheader', { name: r.name, exact: true }) });
      const cells = await row.locator('td').allTextContents();
      expect(cells[0]).toBe(String(r.tag_count));
      expect(cells[2]).toBe(formatBytes(r.size_bytes));
      expect(cells[3]).toMatch(/ago|just now/);
    }
    const debian = page.locator('table tbody tr').filter({ has: page.getByRole('rowheader', { name: vulnerable.repo, exact: true }) });
    expect(await debian.locator('.badge').textContent()).toBe('Critical');
    // The name leads to the repository, its path as one segment.
    expect(await debian.getByRole('link', { name: vulnerable.repo }).getAttribute('href')).toBe(`/registries/${registry}/repositories/${encodeURIComponent(vulnerable.repo)}`);

    await screenshot(page, 'repositories');
    await expectAccessible(page, 'the repositories page');
    errors.assertNoPageErrors();
  });

  it('searches, sorts and pages repositories', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${CATALOG}`);
    await page.locator('table tbody tr').first().waitFor();

    // 20 a page, by name.
    expect(await rowNames(page)).toEqual(BULK.slice(0, 20));
    const pager = page.getByRole('navigation', { name: 'Repository pages' });
    expect(await pager.textContent()).toContain('Page 1 of 2');
    await pager.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => rowNames(page)).toEqual(BULK.slice(20));
    expect(await pager.textContent()).toContain('Page 2 of 2');
    await pager.getByRole('button', { name: 'Previous' }).click();
    await expect.poll(() => rowNames(page)).toEqual(BULK.slice(0, 20));

    // Sorting: name descending, then size (biggest first, then smallest first), then last push (newest first).
    const header = (label: string) => page.getByRole('columnheader', { name: label });
    expect(await header('Name').getAttribute('aria-sort')).toBe('ascending');
    await header('Name').getByRole('button').click();
    await expect.poll(() => rowNames(page)).toEqual([...BULK].reverse().slice(0, 20));
    expect(await header('Name').getAttribute('aria-sort')).toBe('descending');
    expect(new URL(page.url()).searchParams.get('sort')).toBe('-name');

    await header('Size').getByRole('button').click();
    await expect.poll(() => rowNames(page)).toEqual([...BULK].reverse().slice(0, 20));
    expect(await header('Size').getAttribute('aria-sort')).toBe('descending');
    expect(await header('Name').getAttribute('aria-sort')).toBe('none');
    await header('Size').getByRole('button').click();
    await expect.poll(() => rowNames(page)).toEqual(BULK.slice(0, 20));
    expect(await header('Size').getAttribute('aria-sort')).toBe('ascending');

    await header('Last push').getByRole('button').click();
    await expect.poll(() => rowNames(page).then((n) => n[0])).toBe(BULK[BULK.length - 1]);
    expect(await header('Last push').getAttribute('aria-sort')).toBe('descending');

    // Search: debounced while typing, the URL keeps it, the pager goes away with one page.
    await page.getByLabel('Search repositories').fill('r1');
    await expect.poll(() => rowNames(page).then((n) => [...n].sort())).toEqual(BULK.filter((n) => n.includes('r1')));
    expect(new URL(page.url()).searchParams.get('q')).toBe('r1');
    expect(await pager.count()).toBe(0);
    expect(await page.getByText(`10 repositories matching “r1” in ${CATALOG}`).count()).toBe(1);

    // Nothing matching: said so, and one click shows everything again.
    await page.getByLabel('Search repositories').fill('no-such-thing');
    await page.getByRole('heading', { name: 'No repositories match “no-such-thing”' }).waitFor();
    await expectAccessible(page, 'the repositories page with a search that matches nothing');
    await page.getByRole('button', { name: 'Show all repositories' }).click();
    await expect.poll(() => rowNames(page).then((n) => n.length)).toBe(20);
    expect(new URL(page.url()).searchParams.get('q')).toBeNull();
    errors.assertNoPageErrors();
  });

  it('deletes a repository only once its path is typed', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${CATALOG}?q=r23`);
    await expect.poll(() => rowNames(page)).toEqual(['bulk/r23']);
    await page.getByRole('button', { name: 'Delete repository bulk/r23' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete repository bulk/r23?' });
    const confirm = dialog.getByRole('button', { name: 'Delete repository', exact: true });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type bulk/r23 to confirm').fill('bulk/r23');
    await confirm.click();
    await page.getByRole('status').filter({ hasText: 'Repository bulk/r23 deleted.' }).waitFor();
    await page.getByRole('heading', { name: 'No repositories match “r23”' }).waitFor();
    const listed = await apiJson<{ meta: { total: number } }>(`/registries/${CATALOG}/repositoriesV2?q=r23`);
    expect(listed.meta.total).toBe(0);
    errors.assertNoPageErrors();
  });
});
