/**
 * A repository's page and a manifest's vulnerability report in Chromium: the
 * seeded tags with their digests, the index's platforms, the SBOM referrer
 * nested under the image it refers to (not listed as an untagged manifest), the
 * docker pull command copied as text, deleting a tag behind a confirmation and a
 * refused deletion (an immutable tag) explained in words; then the report's
 * advisories and packages, its severity chart, filters and sort, SBOM downloads
 * that are valid JSON, an index's platforms, and a rescan followed to its end.
 * Screenshots: repository, vulnerability-report.
 */
import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_MANIFEST } from '../support/oci-layout.js';
import { shortDigest } from '../../web/src/format.js';
import { expectAccessible, screenshot, signedInPage, startUiEnv, watchPageErrors, type SeededImages, type UiEnv } from './support/index.js';

let env: UiEnv;
let seeded: SeededImages;
let host: string;
const pages: Page[] = [];

/** Tags added to app:image for the deletion steps. */
const DISPOSABLE = 'to-delete';
const PROTECTED = 'release-1';

beforeAll(async () => {
  env = await startUiEnv({ seed: true });
  seeded = env.seeded!;
  host = new URL(env.baseUrl).host;
});

/** Two more tags on app:image: one to delete, one an immutable rule protects. */
async function addDeletionTags(): Promise<void> {
  const path = `/v2/${seeded.registry}/${seeded.image.repo}/manifests`;
  const manifest = await env.api(`${path}/${seeded.image.digest}`, { headers: { accept: OCI_MANIFEST } });
  expect(manifest.status).toBe(200);
  const bytes = new Uint8Array(await manifest.arrayBuffer());
  for (const tag of [DISPOSABLE, PROTECTED]) {
    const put = await env.api(`${path}/${tag}`, { method: 'PUT', body: bytes, headers: { 'content-type': OCI_MANIFEST } });
    expect(put.status, `tagging ${tag}`).toBe(201);
  }
  const rule = await env.api(`/registries/${seeded.registry}/immutable-tags`, { method: 'POST', body: JSON.stringify({ tag_pattern: 'release-*' }) });
  expect(rule.status, await rule.clone().text()).toBe(201);
}

afterAll(async () => {
  await Promise.all(pages.map((p) => p.context().close().catch(() => undefined)));
  await env?.close();
});

async function newPage(): Promise<Page> {
  const page = await signedInPage(env);
  pages.push(page);
  return page;
}

const repositoryUrl = (repo: string) => `${env.baseUrl}/registries/${seeded.registry}/repositories/${encodeURIComponent(repo)}`;
const reportUrl = (repo: string, digest: string) => `${repositoryUrl(repo)}/manifests/${encodeURIComponent(digest)}`;

/** The row of a tag in the Tags table. */
const tagRow = (page: Page, tag: string) => page.locator('section', { has: page.getByRole('heading', { name: 'Tags', exact: true }) }).locator('tbody tr').filter({ has: page.locator('.tag-name', { hasText: new RegExp(`^${tag}$`) }) });

async function cellTexts(row: Locator): Promise<string[]> {
  return (await row.locator('td').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/** The IDs in the findings table, top to bottom. */
const findingIds = (page: Page) => page.locator('table.findings tbody td.finding-id a').evaluateAll((links) => links.map((a) => a.childNodes[0]?.textContent ?? ''));

describe('a repository', () => {
  it('shows its tags with digests, the index platforms and the SBOM under the image it refers to', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { image, index, referrer } = seeded;
    await page.goto(repositoryUrl(image.repo));
    await page.getByRole('heading', { level: 1, name: image.repo, exact: true }).waitFor();
    await tagRow(page, image.tag).waitFor();

    const imageCells = await cellTexts(tagRow(page, image.tag));
    expect(imageCells[1]).toContain(shortDigest(image.digest));
    expect(imageCells[2]).toBe('Image');
    expect(imageCells[4]).toMatch(/^Pushed .*(ago|just now) Pulled /);
    expect(await tagRow(page, image.tag).getByRole('button', { name: `Copy the digest of ${image.repo}:${image.tag}` }).count()).toBe(1);

    const indexCells = await cellTexts(tagRow(page, index.tag));
    expect(indexCells[1]).toContain(shortDigest(index.digest));
    expect(indexCells[2]).toBe(`Index ${index.platforms.join(', ')}`);

    // The referrer is the row right below its subject's tag, marked as nested, labelled by its artifact type.
    const nested = tagRow(page, image.tag).locator('xpath=following-sibling::tr[1]');
    expect(await nested.getAttribute('class')).toBe('child');
    const nestedCells = await cellTexts(nested);
    expect(nestedCells[0]).toContain('SBOM (SPDX)');
    expect(nestedCells[2]).toBe(`Artifact ${referrer.artifactType}`);
    expect(nestedCells[1]).toContain(shortDigest(referrer.digest));
    expect(nestedCells[5]).toBe('Not scannable');

    // Neither the referrer nor the index's platform images are listed as untagged manifests.
    const untagged = page.locator('section', { has: page.getByRole('heading', { name: 'Untagged manifests' }) });
    expect(await untagged.textContent()).toContain('Signatures, SBOMs and attestations are listed under the image they refer to');
    expect(await untagged.locator('table').count()).toBe(0);

    await screenshot(page, 'repository');
    await expectAccessible(page, 'the repository page');
    errors.assertNoPageErrors();
  });

  it('copies the docker pull command of a tag as text', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.baseUrl });
    const { image } = seeded;
    await page.goto(repositoryUrl(image.repo));
    const command = `docker pull ${host}/${seeded.registry}/${image.repo}:${image.tag}`;
    const row = tagRow(page, image.tag);
    expect(await row.locator('.pull-command code').textContent()).toBe(command);
    const copy = row.getByRole('button', { name: `Copy the pull command for ${image.repo}:${image.tag}` });
    await copy.click();
    await expect.poll(() => copy.textContent()).toBe('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command);

    // An untagged manifest is pulled by digest: the platform image of the index is one, on the debian page there is none; check the tools/debian tag instead.
    await page.goto(repositoryUrl(seeded.vulnerable.repo));
    expect(await tagRow(page, seeded.vulnerable.tag).locator('.pull-command code').textContent()).toBe(`docker pull ${host}/${seeded.registry}/${seeded.vulnerable.repo}:${seeded.vulnerable.tag}`);
    errors.assertNoPageErrors();
  });

  it('deletes a tag after confirmation, and explains a refusal', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { image } = seeded;
    await addDeletionTags();
    await page.goto(repositoryUrl(image.repo));
    await tagRow(page, DISPOSABLE).waitFor();
    // The SBOM is nested once, under the first of the image's tags (the newest), not repeated under each.
    expect(await page.locator('tr.child').count()).toBe(1);

    await tagRow(page, DISPOSABLE).getByRole('button', { name: `Delete tag ${DISPOSABLE}` }).click();
    let dialog = page.getByRole('dialog', { name: `Delete tag ${DISPOSABLE}?` });
    expect(await dialog.textContent()).toContain(shortDigest(image.digest));
    await expectAccessible(page, 'the delete tag dialog');
    await dialog.getByRole('button', { name: 'Delete tag', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Tag ${DISPOSABLE} deleted.` }).waitFor();
    await expect.poll(() => tagRow(page, DISPOSABLE).count()).toBe(0);
    // The manifest stays, under its other tag.
    await tagRow(page, image.tag).waitFor();
    const tags = (await (await env.api(`/registries/${seeded.registry}/repositories/${image.repo}/tags`)).json()) as { tags: { tag: string }[] };
    expect(tags.tags.map((t) => t.tag)).not.toContain(DISPOSABLE);
    expect(tags.tags.map((t) => t.tag)).toContain(image.tag);

    // An immutable tag: the server's reason, in the dialog, and the tag stays.
    await tagRow(page, PROTECTED).getByRole('button', { name: `Delete tag ${PROTECTED}` }).click();
    dialog = page.getByRole('dialog', { name: `Delete tag ${PROTECTED}?` });
    await dialog.getByRole('button', { name: 'Delete tag', exact: true }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(new RegExp(`${PROTECTED}.*immutable`, 'i'));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await tagRow(page, PROTECTED).count()).toBe(1);
    errors.assertNoPageErrors();
  });
});

describe('on a phone', () => {
  it('fits the repository page and the report into 375 px: only their tables scroll sideways', async () => {
    const page = await signedInPage(env, { viewport: { width: 375, height: 800 } });
    pages.push(page);
    const errors = watchPageErrors(page);
    await page.goto(repositoryUrl(seeded.image.repo));
    await tagRow(page, seeded.image.tag).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.goto(reportUrl(seeded.vulnerable.repo, seeded.vulnerable.digest));
    await page.locator('table.findings').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await screenshot(page, 'vulnerability-report-phone');
    errors.assertNoPageErrors();
  });
});

describe('a vulnerability report', () => {
  it('lists the advisories and packages found, with a severity chart, filters and sort', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { vulnerable } = seeded;
    // Reached from the repository page.
    await page.goto(repositoryUrl(vulnerable.repo));
    await page.getByRole('link', { name: `View report for ${vulnerable.repo}:${vulnerable.tag}` }).click();
    await page.waitForURL((url) => url.pathname.includes('/manifests/'));
    expect(decodeURIComponent(new URL(page.url()).pathname)).toBe(`/registries/${seeded.registry}/repositories/${vulnerable.repo}/manifests/${vulnerable.digest}`);
    await page.getByRole('heading', { level: 1, name: 'Vulnerability report' }).waitFor();
    expect(await page.locator('.page-header .subtitle').textContent()).toContain(`${vulnerable.repo}@${shortDigest(vulnerable.digest)}`);
    await page.locator('table.findings').waitFor();

    const status = page.getByRole('region', { name: 'Scan' });
    expect(await status.textContent()).toContain('Complete');
    expect(await status.textContent()).toContain('Debian GNU/Linux 12 (bookworm)');
    // One finding of each severity but unknown, in the chart.
    const chart = page.locator('figure.bar-chart', { hasText: 'Findings by severity' });
    expect((await chart.locator('li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual(['Critical1', 'High1', 'Medium1', 'Low1', 'Unknown0']);

    // Every seeded advisory, linked to OSV in a new tab, with its package; highest score first.
    expect(await findingIds(page)).toEqual(vulnerable.advisoryIds);
    for (const [i, id] of vulnerable.advisoryIds.entries()) {
      const link = page.locator('table.findings td.finding-id a').nth(i);
      expect(await link.getAttribute('href')).toBe(`https://osv.dev/vulnerability/${id}`);
      expect(await link.getAttribute('target')).toBe('_blank');
      expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
      const cells = await cellTexts(page.locator('table.findings tbody tr').nth(i));
      expect(cells[1]).toContain(vulnerable.packages[i]);
    }
    const scores = (await page.locator('table.findings tbody td.num').allTextContents()).map(Number);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(await page.getByRole('columnheader', { name: 'Score' }).getAttribute('aria-sort')).toBe('descending');

    await screenshot(page, 'vulnerability-report');
    await expectAccessible(page, 'the vulnerability report');

    // Sort: lowest score first.
    await page.getByRole('columnheader', { name: 'Score' }).getByRole('button').click();
    expect(await findingIds(page)).toEqual([...vulnerable.advisoryIds].reverse());
    expect(await page.getByRole('columnheader', { name: 'Score' }).getAttribute('aria-sort')).toBe('ascending');

    // Filters: severity, package, fix.
    await page.getByLabel('Severity', { exact: true }).selectOption('high');
    expect(await findingIds(page)).toEqual([vulnerable.advisoryIds[1]]);
    expect(await page.getByText(`Showing 1 of ${vulnerable.advisoryIds.length} findings`).count()).toBe(1);
    await page.getByLabel('Severity', { exact: true }).selectOption('');
    await page.getByLabel('Package', { exact: true }).fill(vulnerable.packages[2]!);
    expect(await findingIds(page)).toEqual([vulnerable.advisoryIds[2]]);
    await page.getByLabel('Package', { exact: true }).fill('');
    await page.getByLabel('Fix', { exact: true }).selectOption('unfixed');
    await page.getByRole('heading', { name: 'No findings match these filters' }).waitFor();
    await page.getByLabel('Fix', { exact: true }).selectOption('fixed');
    expect((await findingIds(page)).length).toBe(vulnerable.advisoryIds.length);
    await page.getByRole('button', { name: 'Clear filters' }).first().click();
    expect(await page.getByLabel('Fix', { exact: true }).inputValue()).toBe('');
    errors.assertNoPageErrors();
  });

  it('downloads its SBOMs as CycloneDX and SPDX JSON', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { vulnerable } = seeded;
    await page.goto(reportUrl(vulnerable.repo, vulnerable.digest));
    for (const [label, check] of [
      ['SBOM (CycloneDX)', (doc: Record<string, unknown>) => expect(doc.bomFormat).toBe('CycloneDX')],
      ['SBOM (SPDX)', (doc: Record<string, unknown>) => expect(doc.spdxVersion).toBe('SPDX-2.3')],
    ] as const) {
      const link = page.getByRole('link', { name: label, exact: true });
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      expect(download.suggestedFilename()).toMatch(/^tools-debian-sha256-[0-9a-f]{12}\.(cdx|spdx)\.json$/);
      const doc = JSON.parse(readFileSync(await download.path(), 'utf8')) as Record<string, unknown>;
      check(doc);
      // The packages of the image are in it.
      for (const pkg of vulnerable.packages) expect(JSON.stringify(doc)).toContain(pkg);
    }
    errors.assertNoPageErrors();
  });

  it("shows an index's platforms, each linked to its own report", async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { index } = seeded;
    await page.goto(reportUrl(index.repo, index.digest));
    const platforms = page.locator('section', { has: page.getByRole('heading', { name: 'Platforms' }) });
    await platforms.locator('tbody tr').first().waitFor();
    const rows = (await platforms.locator('tbody tr td:first-child').allTextContents()).sort();
    expect(rows).toEqual([...index.platforms].sort());
    expect(await page.getByText('This is a multi-platform index').count()).toBe(1);
    // No SBOM of an index as a whole.
    expect(await page.getByRole('link', { name: /^SBOM/ }).count()).toBe(0);
    const first = await platforms.locator('tbody tr a').first().textContent();
    await platforms.locator('tbody tr a').first().click();
    await page.waitForURL((url) => !decodeURIComponent(url.pathname).endsWith(index.digest));
    await page.getByRole('region', { name: 'Scan' }).waitFor();
    expect(await page.locator('.page-header .subtitle code').textContent()).toBe(first?.replace(/ \(report for .*\)$/, ''));
    errors.assertNoPageErrors();
  });

  it('rescans and follows the scan to its end', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    const { vulnerable } = seeded;
    const reportPath = `/registries/${seeded.registry}/repositories/${encodeURIComponent(vulnerable.repo)}/digests/${vulnerable.digest}/vulnerabilities`;
    const before = ((await (await env.api(reportPath)).json()) as { vulnerabilities: { scanned_at: string } }).vulnerabilities.scanned_at;
    await page.goto(reportUrl(vulnerable.repo, vulnerable.digest));
    await page.locator('table.findings').waitFor();
    await page.getByRole('button', { name: 'Rescan', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Rescan complete: ${vulnerable.advisoryIds.length} findings.` }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('button', { name: 'Rescan', exact: true }).isEnabled()).toBe(true);
    expect(await findingIds(page)).toEqual(vulnerable.advisoryIds);
    const after = ((await (await env.api(reportPath)).json()) as { vulnerabilities: { scanned_at: string; status: string } }).vulnerabilities;
    expect(after.status).toBe('complete');
    expect(Date.parse(after.scanned_at)).toBeGreaterThan(Date.parse(before));
    errors.assertNoPageErrors();
  });
});
