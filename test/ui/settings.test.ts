/**
 * A registry's settings in Chromium, section by section: granting a user a role
 * and revoking it; a robot account whose secret is shown once, logs in to /v2/
 * and stops working when revoked; a webhook pointed at a receiver started here,
 * whose test ping arrives signed with the secret shown at creation and shows in
 * the delivery log (and is sent again by Redeliver); editing a retention policy,
 * whose Save waits for a preview of exactly those rules, the preview listing
 * what the API's dry run lists; an immutable-tag rule; the pull policy; the
 * registry's visibility. Each section is screenshot and checked with axe, and
 * fits a phone.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, shortDigest } from '../../web/src/format.js';
import { expectAccessible, expectStatus, screenshot, signedInPage, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

let env: UiEnv;
let registry: string;
const pages: Page[] = [];

/** What the webhook receiver got: headers and the raw body of each request. */
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let receiver: Server;
let receiverUrl: string;

beforeAll(async () => {
  // Webhooks to 127.0.0.1 are refused unless private targets are allowed (docs/configuration.md).
  env = await startUiEnv({ seed: true, env: { BERTH_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true' } });
  registry = env.seeded!.registry;
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/berth-hook`;
});

afterAll(async () => {
  await Promise.all(pages.map((p) => p.context().close().catch(() => undefined)));
  await new Promise((resolve) => receiver?.close(resolve));
  await env?.close();
});

const apiJson = <T,>(path: string, init?: RequestInit, status = 200) => env.apiJson<T>(path, init, status);

async function newPage(viewport?: { width: number; height: number }): Promise<Page> {
  const page = await signedInPage(env, viewport ? { viewport } : {});
  pages.push(page);
  return page;
}

/** Opens a settings section through the sub-navigation and waits for its heading. */
async function openSection(page: Page, link: string, heading = link): Promise<void> {
  if (!new URL(page.url()).pathname.startsWith(`/registries/${registry}/settings`)) {
    await page.goto(`${env.baseUrl}/registries/${registry}/settings`);
    await page.getByRole('heading', { level: 1, name: 'Settings', exact: true }).waitFor();
  }
  await page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 2, name: heading, exact: true }).waitFor();
  expect(await page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link', { name: link, exact: true }).getAttribute('aria-current')).toBe('page');
}

const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

/** GET /v2/ with Basic credentials, as `docker login` checks them. */
const v2Login = async (user: string, secret: string) => (await fetch(`${env.baseUrl}/v2/`, { headers: { authorization: basic(user, secret) } })).status;

describe('registry settings', () => {
  it('opens on members, with a sub-navigation to every section', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/registries/${registry}/settings`);
    await page.getByRole('heading', { level: 1, name: 'Settings', exact: true }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Members', exact: true }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Settings sections' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Members', 'Robot accounts', 'Webhooks', 'Retention', 'Immutable tags', 'Pull policy', 'Visibility']);
    expect(await nav.getByRole('link', { name: 'Members' }).getAttribute('aria-current')).toBe('page');
    expect(await nav.getByRole('link', { name: 'Webhooks' }).getAttribute('href')).toBe(`/registries/${registry}/settings/webhooks`);
    // An unknown section says so, with a way back.
    await page.goto(`${env.baseUrl}/registries/${registry}/settings/nonsense`);
    await page.getByText('There is no settings section called').waitFor();
    errors.assertNoPageErrors();
  });

  it('grants a user a role, shows the refusal of a pattern outside the registry beside its field, and revokes the grant', async () => {
    await expectStatus(await env.api('/users', { method: 'POST', body: JSON.stringify({ username: 'ui-member', password: 'ui-member-password-1' }) }), 201, 'create ui-member');
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Members');
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a member' }) });
    await form.getByLabel('Username', { exact: true }).fill('ui-member');
    await form.getByLabel('Role', { exact: true }).selectOption('read-write');

    // A pattern naming another registry's repositories: the API's 400 beside the field.
    const pattern = form.getByLabel('Repositories (optional)');
    await pattern.fill('elsewhere/*');
    await form.getByRole('button', { name: 'Grant access' }).click();
    await form.locator('.field-error', { hasText: 'must name repositories of this registry' }).waitFor();
    expect(await pattern.getAttribute('aria-invalid')).toBe('true');
    await form.getByRole('alert').waitFor();

    await pattern.fill(`${registry}/app*`);
    await form.getByRole('button', { name: 'Grant access' }).click();
    await page.getByRole('status').filter({ hasText: `User ui-member is now read-write on ${registry}/app*.` }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'ui-member' });
    await row.waitFor();
    expect(await row.textContent()).toContain('Read-write');
    expect(await row.textContent()).toContain(`${registry}/app*`);
    const { grants } = await apiJson<{ grants: { id: number; subject: string; subject_kind: string; role: string; repository_pattern: string | null }[] }>(`/registries/${registry}/grants`);
    expect(grants).toEqual([expect.objectContaining({ subject: 'ui-member', subject_kind: 'user', role: 'read-write', repository_pattern: `${registry}/app*` })]);
    // The grant works: ui-member can now read the repository over /v2/.
    expect((await fetch(`${env.baseUrl}/v2/${registry}/app/tags/list`, { headers: { authorization: basic('ui-member', 'ui-member-password-1') } })).status).toBe(200);

    await screenshot(page, 'settings-members');
    await expectAccessible(page, 'settings: members');

    await row.getByRole('button', { name: "Revoke ui-member's read-write access" }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke access?' });
    expect(await dialog.textContent()).toContain('ui-member');
    await expectAccessible(page, 'settings: revoke access dialog');
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Read-write access of ui-member revoked.' }).waitFor();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'ui-member' }).count()).toBe(0);
    await page.getByRole('heading', { name: 'No members yet' }).waitFor();
    expect((await apiJson<{ grants: unknown[] }>(`/registries/${registry}/grants`)).grants).toEqual([]);
    expect((await fetch(`${env.baseUrl}/v2/${registry}/app/tags/list`, { headers: { authorization: basic('ui-member', 'ui-member-password-1') } })).status).not.toBe(200);
    errors.assertNoPageErrors();
  });

  it('creates a robot whose secret is shown once and logs in to /v2/, revokes the secret, and deletes the robot', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Robot accounts');
    await page.getByRole('heading', { name: 'No robot accounts yet' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByLabel('Role', { exact: true }).selectOption('read-only');
    await page.getByRole('button', { name: 'Create robot' }).click();

    const box = page.locator('.secret');
    await box.waitFor();
    const username = `${registry}+ci`;
    expect(await box.textContent()).toContain('it will not be shown again');
    const secret = ((await box.locator('code[data-secret]').textContent()) ?? '').trim();
    expect(secret).toMatch(/^berth_rbt_/);
    await box.getByRole('button', { name: `Copy the secret of ${username}` }).waitFor();
    const login = (await box.locator('.command code').textContent()) ?? '';
    expect(login).toContain(`docker login ${new URL(env.baseUrl).host} --username '${username}' --password-stdin`);
    expect(login).toContain(secret);
    expect(await v2Login(username, secret)).toBe(200);
    expect((await fetch(`${env.baseUrl}/v2/${registry}/app/tags/list`, { headers: { authorization: basic(username, secret) } })).status).toBe(200);

    await screenshot(page, 'settings-robots');
    await expectAccessible(page, 'settings: robot secret shown once');

    // Dismissed, the secret is nowhere on the page, nor after a reload.
    await box.getByRole('button', { name: 'I have copied it' }).click();
    await box.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: username }) });
    await card.waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(await card.textContent()).toContain('Read-only on the whole registry');

    // Revoking its only secret logs it out.
    await card.getByRole('button', { name: `Revoke secret initial of ${username}` }).click();
    await page.getByRole('dialog', { name: 'Revoke this secret?' }).getByRole('button', { name: 'Revoke secret' }).click();
    await page.getByRole('status').filter({ hasText: `Secret "initial" of ${username} revoked.` }).waitFor();
    await card.getByRole('row').filter({ hasText: 'initial' }).getByText('Revoked').waitFor();
    expect(await v2Login(username, secret)).toBe(401);

    // Deleting the robot needs its name typed.
    await card.getByRole('button', { name: 'Delete robot' }).click();
    const dialog = page.getByRole('dialog', { name: `Delete ${username}?` });
    const confirm = dialog.getByRole('button', { name: 'Delete robot' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type ci to confirm').fill('ci');
    await confirm.click();
    await page.getByRole('status').filter({ hasText: `Robot ${username} deleted` }).waitFor();
    await page.getByRole('heading', { name: 'No robot accounts yet' }).waitFor();
    expect((await apiJson<{ robots: unknown[] }>(`/registries/${registry}/robots`)).robots).toEqual([]);
    errors.assertNoPageErrors();
  });

  it('creates a webhook, sends a signed test ping the receiver gets, shows it in the delivery log, redelivers it, edits its events and filters, and disables it', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Webhooks');
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a webhook' }) });
    await form.waitFor();

    // An URL the API refuses: its reason beside the field.
    await form.getByLabel('Payload URL').fill('ftp://127.0.0.1/hook');
    await form.getByRole('button', { name: 'Add webhook' }).click();
    await form.locator('.field-error').first().waitFor();
    expect(await form.getByLabel('Payload URL').getAttribute('aria-invalid')).toBe('true');

    await form.getByLabel('Payload URL').fill(receiverUrl);
    expect(await form.getByLabel(/^Push/).isChecked()).toBe(true);
    await form.getByLabel(/^Tag deleted/).check();
    await form.getByLabel('Repository filter (optional)').fill('app');
    await form.getByRole('button', { name: 'Add webhook' }).click();

    const box = page.locator('.secret');
    await box.waitFor();
    const secret = ((await box.locator('code[data-secret]').textContent()) ?? '').trim();
    expect(secret).toMatch(/^whsec_/);
    expect(await box.textContent()).toContain('it will not be shown again');
    await box.getByRole('button', { name: 'I have copied it' }).click();

    const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: receiverUrl }) });
    await card.waitFor();
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('Push, Tag deleted');
    expect(text).toContain('Enabled');
    const { webhooks } = await apiJson<{ webhooks: { id: string; url: string; events: string[]; repository_filter: string | null; enabled: boolean }[] }>(`/registries/${registry}/webhooks`);
    expect(webhooks).toEqual([expect.objectContaining({ url: receiverUrl, events: ['push', 'tag.deleted'], repository_filter: 'app', enabled: true })]);
    const id = webhooks[0]!.id;

    // The test ping: delivered to the receiver, signed with the secret shown once.
    const before = received.length;
    await card.getByRole('button', { name: 'Send test' }).click();
    await card.getByRole('status').filter({ hasText: 'Test event sent' }).waitFor();
    await expect.poll(() => received.length, { timeout: 20_000 }).toBeGreaterThan(before);
    const ping = received[before]!;
    expect(ping.headers['berth-webhook-id']).toBe(id);
    const signature = String(ping.headers['berth-signature']);
    const t = /(?:^|,)t=(\d+)/.exec(signature)?.[1];
    const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(signature)?.[1];
    expect(t && v1, `a Berth-Signature header: ${signature}`).toBeTruthy();
    const expected = createHmac('sha256', secret).update(`${t}.`).update(ping.body).digest();
    expect(timingSafeEqual(Buffer.from(v1!, 'hex'), expected)).toBe(true);
    const event = JSON.parse(ping.body) as { type: string; data: { registry: string } };
    expect(event.type).toBe('berth.ping');
    expect(event.data.registry).toBe(registry);

    // The delivery log shows it delivered, with the receiver's answer.
    const log = card.locator('.delivery-log');
    const first = log.getByRole('row').filter({ hasText: 'Test ping' }).first();
    await first.getByText('Delivered').waitFor({ timeout: 20_000 });
    const cells = await first.getByRole('cell').allTextContents();
    expect(cells).toContain('200');
    expect(cells).toContain('1');
    expect(cells.some((c) => /^\d+ ms$/.test(c))).toBe(true);
    const { deliveries } = await apiJson<{ deliveries: { id: number; status: string; response_status: number; event_type: string }[] }>(`/registries/${registry}/webhooks/${id}/deliveries`);
    expect(deliveries[0]).toMatchObject({ status: 'delivered', response_status: 200, event_type: 'ping' });

    await screenshot(page, 'settings-webhooks');
    await expectAccessible(page, 'settings: webhooks with the delivery log');

    // Redeliver: a new delivery of the same event, which arrives too.
    const beforeRedelivery = received.length;
    await log.getByRole('button', { name: `Redeliver delivery ${deliveries[0]!.id}` }).click();
    await log.getByRole('status').filter({ hasText: `Delivery ${deliveries[0]!.id} sent again` }).waitFor();
    await expect.poll(() => received.length, { timeout: 20_000 }).toBeGreaterThan(beforeRedelivery);
    expect(JSON.parse(received[beforeRedelivery]!.body).id).toBe(JSON.parse(ping.body).id);
    await expect.poll(() => log.getByRole('row').filter({ hasText: 'Test ping' }).count(), { timeout: 20_000 }).toBe(2);
    await log.getByRole('row').filter({ hasText: `again: ${deliveries[0]!.id}` }).getByText('Delivered').waitFor({ timeout: 20_000 });

    // Edit: events and filters change in place; the secret stays (it is replaced from the card only).
    await card.getByRole('button', { name: 'Edit', exact: true }).click();
    const edit = card.locator('form', { has: page.getByRole('heading', { name: 'Edit webhook' }) });
    expect(await edit.getByLabel('Payload URL').inputValue()).toBe(receiverUrl);
    expect(await edit.getByLabel('Repository filter (optional)').inputValue()).toBe('app');
    expect(await edit.getByLabel('Signing secret (optional)').count()).toBe(0);
    await edit.getByLabel(/^Tag deleted/).uncheck();
    await edit.getByLabel('Tag filter (optional)').fill('release-*');
    await edit.getByRole('button', { name: 'Save webhook' }).click();
    await page.getByRole('status').filter({ hasText: `Webhook to ${receiverUrl} saved.` }).waitFor();
    await expect.poll(() => card.textContent()).toContain('release-*');
    expect(await edit.count()).toBe(0);
    expect((await apiJson<{ webhook: unknown }>(`/registries/${registry}/webhooks/${id}`)).webhook).toMatchObject({ events: ['push'], repository_filter: 'app', tag_filter: 'release-*', enabled: true });

    // Disable, confirmed: the badge says so, and the API agrees.
    await card.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.getByRole('dialog', { name: 'Disable this webhook?' }).getByRole('button', { name: 'Disable', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Webhook to ${receiverUrl} disabled.` }).waitFor();
    await card.getByText('Disabled', { exact: true }).waitFor();
    expect((await apiJson<{ webhook: { enabled: boolean } }>(`/registries/${registry}/webhooks/${id}`)).webhook.enabled).toBe(false);
    expect(await card.getByRole('button', { name: 'Send test' }).isDisabled()).toBe(true);
    errors.assertNoPageErrors();
  });

  it('edits a retention policy: Save waits for a preview of exactly these rules, which lists what the dry run lists', async () => {
    // A saved policy that deletes nothing now (untagged images older than 30 days), not scheduled.
    const saved = {
      id: 'ui-policy',
      description: 'leftovers',
      enabled: false,
      rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } }],
    };
    await apiJson(`/registries/${registry}/retention-policies`, { method: 'POST', body: JSON.stringify(saved) }, 201);

    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Retention');
    const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: /^ui-policy/ }) });
    await card.waitFor();
    expect(await card.textContent()).toContain('untagged: pushed more than 30 days ago');
    await card.getByRole('button', { name: 'Edit policy ui-policy' }).click();
    await page.getByRole('heading', { level: 2, name: 'Edit retention policy ui-policy' }).waitFor();
    const save = page.getByRole('button', { name: 'Save policy' });
    expect(await save.isDisabled()).toBe(true);

    // Keep only the newest image of each repository.
    const rule = page.getByRole('group', { name: 'Expire rule 1' });
    await rule.getByLabel('Selects').selectOption('any');
    await rule.getByLabel('Expire when').selectOption('imageCountMoreThan');
    await rule.getByLabel('Images to keep (newest by push)').fill('1');
    await page.getByRole('button', { name: 'Preview' }).click();
    const preview = page.locator('.preview');
    await preview.getByRole('heading', { name: 'Preview' }).waitFor();
    expect(await save.isEnabled()).toBe(true);

    // The same document through the API: the page lists exactly its expirations.
    const edited = { ...saved, rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] };
    const { retention_plan: plan } = await apiJson<{ retention_plan: { summary: { images_expired: number; manifests_expired: number; bytes_freed: number }; repositories: { repository: string; expire: { digest: string; tags: string[] }[] }[] } }>(
      `/registries/${registry}/retention-policies/dry-run?kept=false`,
      { method: 'POST', body: JSON.stringify(edited) },
    );
    expect(plan.summary.images_expired).toBeGreaterThan(0);
    const summary = (await preview.getByTestId('retention-summary').textContent()) ?? '';
    expect(summary).toContain(`Images to delete${plan.summary.images_expired}`);
    expect(summary).toContain(`Manifests to delete${plan.summary.manifests_expired}`);
    expect(summary).toContain(formatBytes(plan.summary.bytes_freed));
    const expired = plan.repositories.flatMap((r) => r.expire);
    const shown = await preview.locator('tbody tr td:first-child code').allTextContents();
    expect(shown).toEqual(expired.map((d) => shortDigest(d.digest)));
    // The seeded single-platform image is older than the index in the same repository: it goes.
    expect(expired.map((d) => d.digest)).toContain(env.seeded!.image.digest);
    expect(await preview.textContent()).toContain(env.seeded!.image.tag);

    await screenshot(page, 'settings-retention');
    await expectAccessible(page, 'settings: retention editor with its preview');

    // Any change after the preview: Save waits for another one.
    await rule.getByLabel('Description (optional)').fill('only the newest');
    expect(await save.isDisabled()).toBe(true);
    await page.getByText('The rules changed since the preview: preview again to save.').waitFor();
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => save.isEnabled()).toBe(true);
    await save.click();

    await page.getByRole('status').filter({ hasText: 'Retention policy ui-policy saved (revision 2).' }).waitFor();
    const { retention_policy: policy } = await apiJson<{ retention_policy: { revision: number; enabled: boolean; rules: unknown[] } }>(`/registries/${registry}/retention-policies/ui-policy`);
    expect(policy.revision).toBe(2);
    expect(policy.enabled).toBe(false);
    expect(policy.rules).toEqual([{ rulePriority: 1, description: 'only the newest', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }]);
    // The list reloads after the save's answer: wait for it rather than read it once.
    await expect.poll(() => card.textContent()).toContain('any: beyond the 1 newest');
    // Previewing and saving deleted nothing.
    expect((await env.api(`/v2/${registry}/${env.seeded!.image.repo}/manifests/${env.seeded!.image.digest}`, { method: 'HEAD' })).status).toBe(200);
    errors.assertNoPageErrors();
  });

  it('shows a rule the API refuses beside that rule', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Retention');
    await page.getByRole('button', { name: 'New policy' }).click();
    const rule = page.getByRole('group', { name: 'Expire rule 1' });
    await rule.getByLabel('Selects').selectOption('tagged');
    await rule.getByLabel('With tags').selectOption('patterns');
    await rule.getByLabel('Tag patterns').fill('a*b*c*d*e*f');
    await page.getByRole('button', { name: 'Preview' }).click();
    await rule.locator('.field-error', { hasText: 'At most 4 wildcards' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Expire rule 1: At most 4 wildcards' }).waitFor();
    expect(await page.getByRole('button', { name: 'Save policy' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('heading', { level: 2, name: 'Retention', exact: true }).waitFor();
    errors.assertNoPageErrors();
  });

  it('adds an immutable-tag rule and lifts it', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Immutable tags');
    await page.getByLabel('Tag pattern').fill('v*');
    await page.getByLabel('Repositories (optional)').fill('app');
    await page.getByRole('button', { name: 'Make immutable' }).click();
    await page.getByRole('status').filter({ hasText: 'Tags matching v* in app are now immutable.' }).waitFor();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'v*', exact: true }) });
    await row.waitFor();
    const { immutable_tags: rules } = await apiJson<{ immutable_tags: { id: number; tag_pattern: string; repository_pattern: string }[] }>(`/registries/${registry}/immutable-tags`);
    expect(rules).toEqual([expect.objectContaining({ tag_pattern: 'v*', repository_pattern: 'app' })]);

    await screenshot(page, 'settings-immutable');
    await expectAccessible(page, 'settings: immutable tags');

    await row.getByRole('button', { name: 'Lift the rule for v* in app' }).click();
    await page.getByRole('dialog', { name: 'Lift this rule?' }).getByRole('button', { name: 'Lift rule' }).click();
    await page.getByRole('status').filter({ hasText: 'Rule v* lifted' }).waitFor();
    await page.getByRole('heading', { name: 'No immutable tags' }).waitFor();
    expect((await apiJson<{ immutable_tags: unknown[] }>(`/registries/${registry}/immutable-tags`)).immutable_tags).toEqual([]);
    errors.assertNoPageErrors();
  });

  it('changes the pull policy', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Pull policy');
    const severity = page.getByLabel('Block images with findings of severity');
    await expect.poll(() => severity.inputValue()).toBe('');
    await severity.selectOption('HIGH');
    await page.getByLabel('Block images whose scan has not completed').check();
    await page.getByLabel('Allowlist').fill('CVE-2099-41002\nCVE-2099-41003');
    await page.getByRole('button', { name: 'Save pull policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Pull policy saved: pulls of images with high or worse findings are refused, and so are pulls of unscanned images.' }).waitFor();
    const { scan_policy: policy } = await apiJson<{ scan_policy: unknown }>(`/registries/${registry}/scan-policy`);
    expect(policy).toEqual({ block_severity: 'HIGH', block_unscanned: true, allowlist: ['CVE-2099-41002', 'CVE-2099-41003'] });

    // Shown as saved after a reload.
    await page.reload();
    await expect.poll(() => page.getByLabel('Block images with findings of severity').inputValue()).toBe('HIGH');
    expect(await page.getByLabel('Block images whose scan has not completed').isChecked()).toBe(true);
    expect(await page.getByLabel('Allowlist').inputValue()).toBe('CVE-2099-41002\nCVE-2099-41003');
    await screenshot(page, 'settings-policy');
    await expectAccessible(page, 'settings: pull policy');

    // Back to no blocking, so nothing else here is refused a pull.
    await page.getByLabel('Block images with findings of severity').selectOption('');
    await page.getByLabel('Block images whose scan has not completed').uncheck();
    await page.getByRole('button', { name: 'Save pull policy' }).click();
    await page.getByRole('status').filter({ hasText: 'vulnerabilities do not block pulls' }).waitFor();
    expect((await apiJson<{ scan_policy: { block_severity: string | null } }>(`/registries/${registry}/scan-policy`)).scan_policy.block_severity).toBeNull();
    errors.assertNoPageErrors();
  });

  it('makes the registry public after a confirmation, and private again', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await openSection(page, 'Visibility');
    const save = page.getByRole('button', { name: 'Save visibility' });
    await page.getByText('Now private.').waitFor();
    expect(await save.isDisabled()).toBe(true);
    await page.getByLabel('Public', { exact: true }).check();
    await save.click();
    const dialog = page.getByRole('dialog', { name: `Make ${registry} public?` });
    await expectAccessible(page, 'settings: make public dialog');
    await dialog.getByRole('button', { name: 'Make public' }).click();
    await page.getByRole('status').filter({ hasText: `${registry} is public: anyone can pull from it.` }).waitFor();
    expect((await apiJson<{ registry: { public: boolean } }>(`/registries/${registry}`)).registry.public).toBe(true);
    // Anonymous pull works now.
    expect((await fetch(`${env.baseUrl}/v2/${registry}/app/manifests/${env.seeded!.image.tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(200);
    await screenshot(page, 'settings-visibility');
    await expectAccessible(page, 'settings: visibility');

    await page.getByLabel('Private', { exact: true }).check();
    await save.click();
    await page.getByRole('status').filter({ hasText: `${registry} is private` }).waitFor();
    expect((await apiJson<{ registry: { public: boolean } }>(`/registries/${registry}`)).registry.public).toBe(false);
    errors.assertNoPageErrors();
  });

  it('fits a phone: every section without sideways scrolling at 375 px', async () => {
    const page = await newPage({ width: 375, height: 800 });
    const errors = watchPageErrors(page);
    for (const [link, heading] of [
      ['Members', 'Members'],
      ['Robot accounts', 'Robot accounts'],
      ['Webhooks', 'Webhooks'],
      ['Retention', 'Retention'],
      ['Immutable tags', 'Immutable tags'],
      ['Pull policy', 'Pull policy'],
      ['Visibility', 'Visibility'],
    ] as const) {
      await openSection(page, link, heading);
      await page.locator('.loading').first().waitFor({ state: 'detached' });
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${link} at 375 px`).toBeLessThanOrEqual(375);
    }
    await openSection(page, 'Webhooks');
    await screenshot(page, 'settings-phone');
    await expectAccessible(page, 'settings on a phone');
    errors.assertNoPageErrors();
  });
});
