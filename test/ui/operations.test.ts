/**
 * The operations pages in Chromium: a registry's usage (the storage chart, the
 * transfer, the cost estimate and the largest repositories, all as the API gives
 * them); a garbage collection dry run started from the page, followed to its end
 * and listed in the history; a personal access token whose secret is shown once,
 * works as a Bearer token on the API and stops working when revoked; teams and
 * their members; and the audit log, filtered by action, showing the entries of
 * those steps. Screenshots: usage, garbage-collection, tokens, teams, audit.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, formatCents } from '../../web/src/format.js';
import { expectAccessible, expectStatus, screenshot, signedInPage, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

let env: UiEnv;
let registry: string;
const pages: Page[] = [];

/** Ids of what the steps made, for the audit log's step. */
const made: { tokenId?: string; gcId?: string } = {};

beforeAll(async () => {
  env = await startUiEnv({ seed: true });
  registry = env.seeded!.registry;
});

afterAll(async () => {
  await Promise.all(pages.map((p) => p.context().close().catch(() => undefined)));
  await env?.close();
});

const apiJson = <T,>(path: string, init?: RequestInit, status = 200) => env.apiJson<T>(path, init, status);

async function newPage(viewport?: { width: number; height: number }): Promise<Page> {
  const page = await signedInPage(env, viewport ? { viewport } : {});
  pages.push(page);
  return page;
}

/** The figure after a label in a `<dl class="stats">`. */
const stat = (page: Page, label: string) => page.locator('.stats div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) }).locator('dd');

async function fitsPhone(path: string, heading: string): Promise<void> {
  const page = await newPage({ width: 375, height: 800 });
  const errors = watchPageErrors(page);
  await page.goto(env.baseUrl + path);
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
  await expect.poll(() => page.locator('.loading').count()).toBe(0);
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${path} at 375 px`).toBeLessThanOrEqual(375);
  errors.assertNoPageErrors();
}

describe('usage', () => {
  interface Usage {
    repositories: number;
    storage_usage_bytes: number;
    transfer_bytes: number;
    transfer_by_month: { month: string; bytes: number }[];
    storage_history: { date: string; storage_bytes: number }[];
    estimated_cost: { total_in_cents: number; subscription_in_cents: number; storage_in_cents: number; transfer_in_cents: number; currency: string };
    subscription_tier: { name: string };
  }

  it('shows the storage chart, transfer, cost and largest repositories as GET …/usage gives them', async () => {
    // Pull a layer, so this month's transfer is not zero.
    const manifest = JSON.parse(await expectStatus(await env.api(`/v2/${registry}/${env.seeded!.image.repo}/manifests/${env.seeded!.image.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } }), 200, 'manifest')) as { layers: { digest: string }[] };
    await expectStatus(await env.api(`/v2/${registry}/${env.seeded!.image.repo}/blobs/${manifest.layers[0]!.digest}`), 200, 'layer');
    const { usage } = await apiJson<{ usage: Usage }>(`/registries/${registry}/usage?days=30`);
    expect(usage.transfer_bytes).toBeGreaterThan(0);

    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${registry}/usage`);
    await page.getByRole('heading', { level: 1, name: 'Usage', exact: true }).waitFor();
    await stat(page, 'Stored').waitFor();
    expect(await stat(page, 'Stored').textContent()).toBe(formatBytes(usage.storage_usage_bytes));
    expect(await stat(page, 'Transfer this month').textContent()).toBe(formatBytes(usage.transfer_bytes));
    expect(await stat(page, 'Repositories').textContent()).toBe(String(usage.repositories));
    expect(await stat(page, 'Estimated this month').textContent()).toBe(formatCents(usage.estimated_cost.total_in_cents));
    expect(await page.getByRole('heading', { level: 2, name: new RegExp(`^${usage.subscription_tier.name.replace(/[()]/g, '\\$&')} tier`) }).count()).toBe(1);

    // The chart: an image with a summary, and its figures in a table for screen readers.
    const chart = page.getByRole('img', { name: /^Stored bytes, last 30 days: / });
    await chart.waitFor();
    const last = usage.storage_history[usage.storage_history.length - 1]!;
    expect(await chart.getAttribute('aria-label')).toContain(formatBytes(last.storage_bytes));
    const table = page.locator('figure.line-chart table');
    expect(await table.locator('tbody tr').count()).toBe(usage.storage_history.length);
    expect(await table.locator('tbody tr').last().locator('td').last().textContent()).toBe(formatBytes(last.storage_bytes));

    // Transfer per month: one bar per month, with its bytes.
    const bars = page.locator('.bar-chart li');
    expect(await bars.count()).toBe(usage.transfer_by_month.length);
    expect(await bars.locator('.bar-value').allTextContents()).toEqual(usage.transfer_by_month.map((m) => formatBytes(m.bytes)));

    // The cost estimate, line by line.
    const cost = page.locator('table.cost-table');
    expect(await cost.getByTestId('cost-total').textContent()).toBe(formatCents(usage.estimated_cost.total_in_cents));
    const amounts = await cost.locator('tbody td.num').allTextContents();
    expect(amounts).toEqual([usage.estimated_cost.subscription_in_cents, usage.estimated_cost.storage_in_cents, usage.estimated_cost.transfer_in_cents].map((c) => formatCents(c)));

    // The largest repositories, biggest first, as the API sorts them.
    const { repositories } = await apiJson<{ repositories: { name: string; size_bytes: number }[] }>(`/registries/${registry}/repositoriesV2?sort=-size&per_page=10`);
    const rows = page.getByRole('region', { name: 'Largest repositories' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(repositories.length);
    expect(await rows.locator('td:first-child').allTextContents()).toEqual(repositories.map((r) => r.name));
    expect(await rows.locator('td:nth-child(2)').allTextContents()).toEqual(repositories.map((r) => formatBytes(r.size_bytes)));
    expect(await rows.first().getByRole('link').getAttribute('href')).toBe(`/registries/${registry}/repositories/${encodeURIComponent(repositories[0]!.name)}`);

    // A longer history asks the API for more days.
    await page.getByLabel('Storage history').selectOption('90');
    await page.getByRole('img', { name: /^Stored bytes, last 90 days: / }).waitFor();

    await page.getByLabel('Storage history').selectOption('30');
    await chart.waitFor();
    await screenshot(page, 'usage');
    await expectAccessible(page, 'the usage page');
    errors.assertNoPageErrors();
  });

  it('fits a phone', async () => {
    await fitsPhone(`/registries/${registry}/usage`, 'Usage');
  });
});

describe('garbage collection', () => {
  interface Run {
    uuid: string;
    status: string;
    type: string;
    dry_run: boolean;
    blobs_deleted: number;
    freed_bytes: number;
    manifests_deleted: number;
  }

  it('starts a dry run from the page, follows it to its end and lists it in the history', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${registry}/garbage-collection`);
    await page.getByRole('heading', { level: 1, name: 'Garbage collection', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'No runs yet' }).waitFor();
    expect(await page.getByLabel('Dry run').isChecked()).toBe(true);
    await page.getByLabel('Both').check();
    await page.getByRole('button', { name: 'Start dry run' }).click();

    // It ends (the page polls the active run), says how it went, and heads the history.
    await page.getByRole('status').filter({ hasText: /^Dry run succeeded: / }).waitFor({ timeout: 30_000 });
    const { garbage_collections: runs } = await apiJson<{ garbage_collections: Run[] }>(`/registries/${registry}/garbage-collections`);
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ status: 'succeeded', dry_run: true, type: 'untagged manifests and unreferenced blobs' });
    made.gcId = run.uuid;
    const notice = (await page.getByRole('status').filter({ hasText: /^Dry run succeeded: / }).textContent()) ?? '';
    expect(notice).toContain(`${formatBytes(run.freed_bytes)} would be freed`);

    const row = page.locator('tbody tr').first();
    await row.getByText('Succeeded').waitFor();
    const cells = await row.getByRole('cell').allTextContents();
    expect(cells[1]).toContain('Dry run');
    expect(cells[2]).toBe('Both');
    expect(cells.slice(4, 7)).toEqual([String(run.manifests_deleted), String(run.blobs_deleted), `${formatBytes(run.freed_bytes)} (would be freed)`]);
    // A dry run deleted nothing.
    expect((await env.api(`/v2/${registry}/${env.seeded!.image.repo}/manifests/${env.seeded!.image.digest}`, { method: 'HEAD' })).status).toBe(200);

    await screenshot(page, 'garbage-collection');
    await expectAccessible(page, 'the garbage collection page');
    errors.assertNoPageErrors();
  });

  it('asks before a run that deletes', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${registry}/garbage-collection`);
    await page.getByLabel('Dry run').uncheck();
    await page.getByRole('button', { name: 'Start garbage collection' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete for good?' });
    expect(await dialog.textContent()).toContain('unreferenced blobs');
    await expectAccessible(page, 'the garbage collection confirmation');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await apiJson<{ garbage_collections: Run[] }>(`/registries/${registry}/garbage-collections`)).garbage_collections).toHaveLength(1);
    errors.assertNoPageErrors();
  });

  it('fits a phone', async () => {
    await fitsPhone(`/registries/${registry}/garbage-collection`, 'Garbage collection');
  });
});

describe('access tokens', () => {
  it('creates a token whose secret is shown once and works as a Bearer token, then revokes it', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/tokens`);
    await page.getByRole('heading', { level: 1, name: 'Access tokens', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'No tokens yet' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('ui-token');
    await page.getByLabel('Expires').selectOption({ label: '7 days' });
    await page.getByRole('button', { name: 'Create token' }).click();

    const box = page.locator('.secret');
    await box.waitFor();
    expect(await box.textContent()).toContain('it will not be shown again');
    const secret = ((await box.locator('code[data-secret]').textContent()) ?? '').trim();
    expect(secret).toMatch(/^berth_pat_/);
    await box.getByRole('button', { name: 'Copy token ui-token' }).waitFor();
    expect(await box.locator('.command code').first().textContent()).toContain(`docker login ${new URL(env.baseUrl).host} --username 'admin' --password-stdin`);

    const bearer = { authorization: `Bearer ${secret}` };
    const account = await fetch(`${env.baseUrl}/api/v2/account`, { headers: bearer });
    expect(account.status).toBe(200);
    expect(((await account.json()) as { account: { username: string } }).account.username).toBe('admin');

    await screenshot(page, 'tokens');
    await expectAccessible(page, 'the tokens page with a new secret');

    await box.getByRole('button', { name: 'I have copied it' }).click();
    await box.waitFor({ state: 'detached' });
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: 'ui-token' });
    await row.waitFor();
    expect(await page.content()).not.toContain(secret);
    const { tokens } = await apiJson<{ tokens: { id: string; name: string; expires_at: string | null; revoked_at: string | null }[] }>('/tokens');
    const token = tokens.find((t) => t.name === 'ui-token')!;
    made.tokenId = token.id;
    expect(Date.parse(token.expires_at!) - Date.now()).toBeGreaterThan(6 * 86_400_000);
    const cells = await row.getByRole('cell').allTextContents();
    expect(cells[1]).toBe('Everything you can do');
    expect(cells[2]).toContain('Active');

    await row.getByRole('button', { name: 'Revoke token ui-token' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke token ui-token?' });
    await expectAccessible(page, 'the revoke token dialog');
    await dialog.getByRole('button', { name: 'Revoke token' }).click();
    await page.getByRole('status').filter({ hasText: 'Token ui-token revoked: it no longer works.' }).waitFor();
    await row.getByText('Revoked').waitFor();
    expect(await row.getByRole('button', { name: 'Revoke token ui-token' }).count()).toBe(0);
    expect((await fetch(`${env.baseUrl}/api/v2/account`, { headers: bearer })).status).toBe(401);
    errors.assertNoPageErrors();
  });

  it('creates a token limited to pulling from one registry', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('ui-pull-only');
    await page.getByLabel('Limit what it can do').check();
    const scope = page.getByRole('group', { name: 'Scope 1' });
    await scope.getByLabel('Registry', { exact: true }).selectOption(registry);
    expect(await scope.getByLabel('pull', { exact: true }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = ((await page.locator('.secret code[data-secret]').textContent()) ?? '').trim();
    await page.getByRole('button', { name: 'I have copied it' }).click();
    const row = page.getByRole('row').filter({ hasText: 'ui-pull-only' });
    expect(await row.getByRole('cell').nth(1).textContent()).toBe(`${registry}: pull`);
    // It pulls from the registry, and administers nothing though its owner is a server admin.
    expect((await fetch(`${env.baseUrl}/v2/${registry}/app/tags/list`, { headers: { authorization: `Basic ${Buffer.from(`admin:${secret}`).toString('base64')}` } })).status).toBe(200);
    const bearer = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
    expect((await fetch(`${env.baseUrl}/api/v2/tokens`, { method: 'POST', headers: bearer, body: JSON.stringify({ name: 'more' }) })).status).toBe(403);
    expect((await fetch(`${env.baseUrl}/api/v2/audit`, { headers: bearer })).status).toBe(403);
    errors.assertNoPageErrors();
  });

  it('fits a phone', async () => {
    await fitsPhone('/tokens', 'Access tokens');
  });
});

describe('teams', () => {
  it('creates a team, adds and removes a member, and deletes the team', async () => {
    await expectStatus(await env.api('/users', { method: 'POST', body: JSON.stringify({ username: 'ui-teammate', password: 'ui-teammate-password-1' }) }), 201, 'create ui-teammate');
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/teams`);
    await page.getByRole('heading', { level: 1, name: 'Teams', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'No teams yet' }).waitFor();

    // A name the API refuses: its reason beside the field.
    await page.getByLabel('Team name').fill('Bad Name');
    await page.getByRole('button', { name: 'Create team' }).click();
    await page.locator('.field-error', { hasText: 'team names are 1-63 characters' }).waitFor();

    await page.getByLabel('Team name').fill('ui-team');
    await page.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('status').filter({ hasText: 'Team ui-team created.' }).waitFor();
    const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'ui-team', exact: true }) });
    await card.getByText('No members yet.').waitFor();

    await card.getByLabel('Add a member').fill('ui-teammate');
    await card.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'ui-teammate added to ui-team.' }).waitFor();
    const members = card.getByRole('list', { name: 'Members of ui-team' });
    await members.getByText('ui-teammate').waitFor();
    expect((await apiJson<{ team: { members: string[] } }>('/teams/ui-team')).team.members).toEqual(['ui-teammate']);

    // Someone who does not exist: the API's answer, in plain words.
    await card.getByLabel('Add a member').fill('nobody-here');
    await card.getByRole('button', { name: 'Add', exact: true }).click();
    await card.getByRole('alert').filter({ hasText: 'User nobody-here not found.' }).waitFor();

    await screenshot(page, 'teams');
    await expectAccessible(page, 'the teams page');

    await members.getByRole('button', { name: 'Remove ui-teammate from ui-team' }).click();
    await page.getByRole('dialog', { name: 'Remove ui-teammate from ui-team?' }).getByRole('button', { name: 'Remove member' }).click();
    await page.getByRole('status').filter({ hasText: 'ui-teammate removed from ui-team.' }).waitFor();
    await card.getByText('No members yet.').waitFor();
    expect((await apiJson<{ team: { members: string[] } }>('/teams/ui-team')).team.members).toEqual([]);

    await card.getByRole('button', { name: 'Delete team ui-team' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete team ui-team?' });
    const confirm = dialog.getByRole('button', { name: 'Delete team' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type ui-team to confirm').fill('ui-team');
    await confirm.click();
    await page.getByRole('status').filter({ hasText: 'Team ui-team deleted' }).waitFor();
    await page.getByRole('heading', { name: 'No teams yet' }).waitFor();
    expect((await env.api('/teams/ui-team')).status).toBe(404);
    errors.assertNoPageErrors();
  });

  it('fits a phone', async () => {
    await fitsPhone('/teams', 'Teams');
  });
});

describe('audit log', () => {
  /** The action column, top to bottom. */
  const actions = (page: Page) => page.locator('table.audit-table tbody tr td:nth-child(3)').allTextContents();

  it('filters by action and shows the entries of the steps above', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/audit`);
    await page.getByRole('heading', { level: 1, name: 'Audit log', exact: true }).waitFor();
    await page.locator('table.audit-table tbody tr').first().waitFor();

    const filters = page.getByRole('search', { name: 'Filter the audit log' });
    await filters.getByLabel('Action').fill('token.');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.searchParams.get('action') === 'token.');
    await expect.poll(async () => (await actions(page)).every((a) => a.startsWith('token.'))).toBe(true);
    const tokenActions = await actions(page);
    // Newest first: the pull-only token, the revocation, the creation of ui-token.
    expect(tokenActions).toEqual(['token.create', 'token.revoke', 'token.create']);
    const revoked = page.locator('table.audit-table tbody tr').nth(1);
    const cells = await revoked.getByRole('cell').allTextContents();
    expect(cells[1]).toContain('admin');
    expect(cells[4]).toBe(made.tokenId);
    expect(cells[5]).toBe('Success');
    const { events } = await apiJson<{ events: { action: string }[] }>('/audit?action=token.');
    expect(events.map((e) => e.action)).toEqual(tokenActions);

    await screenshot(page, 'audit');
    await expectAccessible(page, 'the audit log filtered by action');

    // Teams: every step of the teams page, in order.
    await filters.getByLabel('Action').fill('team.');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => actions(page)).toEqual(['team.delete', 'team.member.remove', 'team.member.add', 'team.create']);

    // Garbage collection in this registry, with the run's id as the resource.
    await filters.getByLabel('Action').fill('gc.start');
    await filters.getByLabel('Registry').fill(registry);
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => actions(page)).toEqual(['gc.start']);
    expect(await page.locator('table.audit-table tbody tr td:nth-child(5)').textContent()).toBe(made.gcId);
    // Its detail opens.
    await page.getByText('Detail', { exact: true }).click();
    expect(await page.locator('table.audit-table .json').textContent()).toContain('"dry_run": true');

    // Nothing denied happened: said so.
    await filters.getByLabel('Action').fill('');
    await filters.getByLabel('Registry').fill('');
    await filters.getByLabel('Outcome').selectOption('denied');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('heading', { name: 'No events match these filters' }).waitFor();

    // Cleared: everything again, filters empty.
    await filters.getByRole('button', { name: 'Clear' }).click();
    await page.waitForURL((url) => url.search === '');
    await page.locator('table.audit-table tbody tr').first().waitFor();
    expect(await filters.getByLabel('Outcome').inputValue()).toBe('');
    errors.assertNoPageErrors();
  });

  it('pages back in time with Older and Newer', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/audit`);
    const rows = page.locator('table.audit-table tbody tr');
    await rows.first().waitFor();
    const pager = page.getByRole('navigation', { name: 'Pages of the audit log' });
    expect(await pager.getByRole('button', { name: 'Newer' }).isDisabled()).toBe(true);
    // The seed and the steps above leave more than one page of 50.
    expect(await rows.count()).toBe(50);
    expect(await pager.getByRole('button', { name: 'Older' }).isEnabled()).toBe(true);
    const firstPage = await actions(page);
    const firstTimes = await page.locator('table.audit-table tbody time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime')!));

    await pager.getByRole('button', { name: 'Older' }).click();
    await page.waitForURL((url) => url.searchParams.has('before'));
    const before = new URL(page.url()).searchParams.get('before')!;
    // Older events do not change: the page shows what the API has before that cursor. (Asked with
    // the page's session: a Basic login from here would add an event on top of the newest page.)
    const { events } = (await page.evaluate(async (cursor) => (await fetch(`/api/v2/audit?per_page=50&before=${cursor}`)).json(), before)) as { events: { action: string; time: string }[] };
    await expect.poll(() => actions(page)).toEqual(events.map((e) => e.action));
    expect(Date.parse(events[0]!.time)).toBeLessThanOrEqual(Date.parse(firstTimes[firstTimes.length - 1]!));
    expect(await pager.getByRole('button', { name: 'Newer' }).isEnabled()).toBe(true);

    await pager.getByRole('button', { name: 'Newer' }).click();
    await page.waitForURL((url) => !url.searchParams.has('before'));
    await expect.poll(() => actions(page)).toEqual(firstPage);
    expect(await pager.getByRole('button', { name: 'Newer' }).isDisabled()).toBe(true);
    errors.assertNoPageErrors();
  });

  it('fits a phone', async () => {
    await fitsPhone('/audit', 'Audit log');
  });
});
