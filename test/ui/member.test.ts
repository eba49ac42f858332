/**
 * The panel for someone who is not an administrator: a user with the read-only
 * role on one registry sees that registry only, no server-admin navigation, its
 * repositories and reports, and plain-worded refusals where the role stops them.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, screenshot, signIn, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

const VIEWER = 'ui-viewer';
const PASSWORD = 'viewer-password-0123';

let env: UiEnv;
let page: Page;

beforeAll(async () => {
  env = await startUiEnv({ seed: true });
  const registry = env.seeded!.registry;
  await env.apiJson('/users', { method: 'POST', body: JSON.stringify({ username: VIEWER, password: PASSWORD }) }, 201);
  await env.apiJson(`/registries/${registry}/grants`, { method: 'POST', body: JSON.stringify({ subject_kind: 'user', subject: VIEWER, role: 'read-only' }) }, 201);
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: env.baseUrl });
  page = await context.newPage();
  await signIn(page, env.baseUrl, VIEWER, PASSWORD);
});

afterAll(async () => {
  await page?.context().close().catch(() => undefined);
  await env?.close();
});

describe('signing in and where it leads', () => {
  it('a deep link opened signed out comes back after signing in; /sign-in when signed in goes to the registries', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: env.baseUrl });
    const fresh = await context.newPage();
    const errors = watchPageErrors(fresh);
    try {
      const target = `/registries/${env.seeded!.registry}/repositories/${encodeURIComponent(env.seeded!.vulnerable.repo)}`;
      await fresh.goto(target);
      await fresh.waitForURL((url) => url.pathname === '/sign-in' && url.searchParams.get('next') === target);
      await fresh.getByLabel('Username', { exact: true }).fill(VIEWER);
      await fresh.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await fresh.getByRole('button', { name: 'Sign in', exact: true }).click();
      await fresh.getByRole('heading', { level: 1, name: env.seeded!.vulnerable.repo }).waitFor();
      expect(new URL(fresh.url()).pathname).toBe(target);

      await fresh.goto('/sign-in');
      await fresh.waitForURL((url) => url.pathname === '/');
      await fresh.getByRole('heading', { level: 1, name: 'Registries' }).waitFor();
      // A next= pointing elsewhere is not followed: only paths on this site.
      await fresh.getByRole('button', { name: 'Sign out' }).click();
      await fresh.waitForURL((url) => url.pathname === '/sign-in');
      await fresh.goto('/sign-in?next=//evil.example/steal');
      await fresh.getByLabel('Username', { exact: true }).fill(VIEWER);
      await fresh.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await fresh.getByRole('button', { name: 'Sign in', exact: true }).click();
      await fresh.getByRole('heading', { level: 1, name: 'Registries' }).waitFor();
      expect(new URL(fresh.url()).origin).toBe(env.baseUrl);
      errors.assertNoPageErrors();
    } finally {
      await context.close();
    }
  });
});

describe('a read-only member', () => {
  it('sees only the registry they belong to, and no server-admin navigation or registry creation', async () => {
    const errors = watchPageErrors(page);
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Registries', 'Access tokens']);
    const registryLinks = page.getByRole('main').getByRole('link', { name: env.seeded!.registry, exact: true });
    await registryLinks.first().waitFor();
    expect(await page.getByRole('main').getByRole('link', { name: env.seeded!.emptyRegistry, exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Create registry' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^(Change tier|Delete) / }).count()).toBe(0);
    // The repositories they can see are counted; transfer and cost are the admins' business.
    const card = page.locator('li', { has: page.getByRole('heading', { name: env.seeded!.registry, exact: true }) });
    await expect.poll(() => card.locator('dd').first().textContent()).toBe(String(env.seeded!.repositories.length));
    expect(await card.getByText('Admins only').count()).toBe(2);
    await screenshot(page, 'member-registries');
    await expectAccessible(page, 'registries as a read-only member');
    errors.assertNoPageErrors();
  });

  it('reads repositories, tags and a vulnerability report', async () => {
    const { registry, vulnerable } = env.seeded!;
    await page.goto(`/registries/${registry}`);
    await page.getByRole('link', { name: vulnerable.repo, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: vulnerable.repo }).waitFor();
    await page.getByRole('row').filter({ hasText: vulnerable.tag }).first().waitFor();
    await page.goto(`/registries/${registry}/repositories/${encodeURIComponent(vulnerable.repo)}/manifests/${vulnerable.digest}`);
    await page.getByRole('heading', { level: 1, name: 'Vulnerability report' }).waitFor();
    for (const id of vulnerable.advisoryIds) await page.getByRole('link', { name: id }).first().waitFor();
  });

  it('is told in plain words where the role stops them: deleting a tag, and the registry settings', async () => {
    const { registry, image } = env.seeded!;
    await page.goto(`/registries/${registry}/repositories/${encodeURIComponent(image.repo)}`);
    const row = page.getByRole('row').filter({ hasText: image.tag }).first();
    await row.waitFor();
    // The page offers it (the API decides); the refusal is shown in the dialog, and nothing is deleted.
    await row.getByRole('button', { name: `Delete tag ${image.tag}` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete tag ${image.tag}?` });
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'This needs the push permission' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    const tag = await env.api(`/v2/${registry}/${image.repo}/manifests/${image.tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(tag.status).toBe(200);

    await page.goto(`/registries/${registry}/settings`);
    await page.getByRole('alert').filter({ hasText: /admin role/i }).first().waitFor();
    await screenshot(page, 'member-settings');
    await expectAccessible(page, 'settings as a read-only member');
  });
});
