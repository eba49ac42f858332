/**
 * Signing in and out of the control panel in Chromium: the sign-in form (and
 * its error), the session cookie's attributes, CSRF protection of state-changing
 * API calls made with the cookie, the cookie never standing in for registry
 * credentials on /v2/, and sign-out ending the session on the server. A second
 * server behind a "trusted proxy" checks that the cookie is Secure when the
 * client came over HTTPS.
 */
import type { BrowserContext, Cookie, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { DEFAULT_VIEWPORT, expectAccessible, screenshot, signIn, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

const COOKIE = 'berth_session';

let env: UiEnv;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  env = await startUiEnv();
});

afterAll(async () => {
  await env?.close();
});

async function newPage(): Promise<Page> {
  const context = await env.browser.newContext({ viewport: DEFAULT_VIEWPORT });
  contexts.push(context);
  return context.newPage();
}

async function sessionCookie(page: Page): Promise<Cookie | undefined> {
  return (await page.context().cookies(env.baseUrl)).find((c) => c.name === COOKIE);
}

/** A request from Node carrying the browser's session cookie (and nothing else unless given). */
function withCookie(cookie: Cookie, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { cookie: `${COOKIE}=${cookie.value}`, ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(env.baseUrl + path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
}

const signInButton = (page: Page) => page.getByRole('button', { name: 'Sign in', exact: true });
const registriesHeading = (page: Page) => page.getByRole('heading', { level: 1, name: 'Registries', exact: true });

describe('signing in and out of the control panel', () => {
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  });

  it('sends an unauthenticated visit to / to the sign-in form, which is accessible', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/`);
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await expect(signInButton(page).isVisible()).resolves.toBe(true);
    await expect(page.getByLabel('Username', { exact: true }).isEditable()).resolves.toBe(true);
    await expect(page.getByLabel('Password', { exact: true }).getAttribute('type')).resolves.toBe('password');
    expect(await sessionCookie(page), 'a session cookie before signing in').toBeUndefined();
    await screenshot(page, 'sign-in');
    await expectAccessible(page, 'the sign-in page');
    errors.assertNoPageErrors();
  });

  it('shows "Wrong username or password" for a wrong password and starts no session', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${env.baseUrl}/sign-in`);
    await page.getByLabel('Username', { exact: true }).fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(`${env.adminPassword}-wrong`);
    await signInButton(page).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Wrong username or password' });
    await alert.waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    expect(await registriesHeading(page).count()).toBe(0);
    expect(await sessionCookie(page), 'a session cookie after a failed sign-in').toBeUndefined();
    await screenshot(page, 'sign-in-wrong-password');
    await expectAccessible(page, 'the sign-in page with its error');
    // The same form then signs in with the right password.
    await page.getByLabel('Password', { exact: true }).fill(env.adminPassword);
    await signInButton(page).click();
    await registriesHeading(page).waitFor({ timeout: 15_000 });
    errors.assertNoPageErrors();
  });

  it('signs in to the Registries page with an HttpOnly, SameSite=Lax session cookie that survives a reload', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await signIn(page, env.baseUrl, 'admin', env.adminPassword);
    expect(new URL(page.url()).pathname).toBe('/');
    await expect(registriesHeading(page).isVisible()).resolves.toBe(true);

    const cookie = await sessionCookie(page);
    expect(cookie, `no ${COOKIE} cookie after signing in`).toBeDefined();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/', domain: '127.0.0.1' });
    expect(cookie!.value.length, 'the cookie value is a secret').toBeGreaterThanOrEqual(20);
    // HttpOnly: the page's scripts cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain(COOKIE);

    // The cookie names the admin's session on the server.
    const res = await withCookie(cookie!, '/api/v2/session');
    expect(res.status).toBe(200);
    const session = (await res.json()) as { account: { username: string }; csrf_token: string; expires_at: string };
    expect(session.account.username).toBe('admin');
    expect(session.csrf_token).toMatch(/^\S{16,}$/);
    expect(Date.parse(session.expires_at)).toBeGreaterThan(Date.now());

    await page.reload();
    await registriesHeading(page).waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe('/');
    errors.assertNoPageErrors();
  });

  it('requires the X-CSRF-Token header on state-changing API calls authenticated by the cookie', async () => {
    const page = await newPage();
    await signIn(page, env.baseUrl, 'admin', env.adminPassword);
    const cookie = (await sessionCookie(page))!;
    const { csrf_token: csrf } = (await (await withCookie(cookie, '/api/v2/session')).json()) as { csrf_token: string };

    // Reads need no CSRF token.
    expect((await withCookie(cookie, '/api/v2/registries')).status).toBe(200);

    const missing = await withCookie(cookie, '/api/v2/tokens', { method: 'POST', body: { name: 'no-csrf' } });
    expect(missing.status).toBe(403);
    const refusal = (await missing.json()) as { id: string; message: string };
    expect(refusal.id).toBe('forbidden');
    expect(refusal.message).toMatch(/csrf/i);

    const wrong = await withCookie(cookie, '/api/v2/tokens', { method: 'POST', body: { name: 'wrong-csrf' }, headers: { 'x-csrf-token': `${csrf.slice(0, -2)}xx` } });
    expect(wrong.status).toBe(403);

    const ok = await withCookie(cookie, '/api/v2/tokens', { method: 'POST', body: { name: 'with-csrf' }, headers: { 'x-csrf-token': csrf } });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const created = (await ok.json()) as { token: { id: string; name: string }; secret: string };
    expect(created.token.name).toBe('with-csrf');

    // Only the one with the header was made.
    const listed = (await (await env.api('/tokens')).json()) as { tokens: { name: string }[] };
    expect(listed.tokens.map((t) => t.name).filter((n) => n.endsWith('csrf'))).toEqual(['with-csrf']);
  });

  it('never accepts the session cookie on the registry API (/v2/)', async () => {
    const page = await newPage();
    await signIn(page, env.baseUrl, 'admin', env.adminPassword);
    const cookie = (await sessionCookie(page))!;
    const catalog = await withCookie(cookie, '/v2/_catalog');
    expect(catalog.status).toBe(401);
    expect(catalog.headers.get('www-authenticate') ?? '').not.toBe('');
    // …while the admin's own credentials are accepted there.
    expect((await env.api('/v2/_catalog')).status).toBe(200);
  });

  it('signs out to the sign-in page and ends the session on the server', async () => {
    const page = await newPage();
    const errors = watchPageErrors(page);
    await signIn(page, env.baseUrl, 'admin', env.adminPassword);
    const cookie = (await sessionCookie(page))!;
    expect((await withCookie(cookie, '/api/v2/session')).status).toBe(200);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await signInButton(page).waitFor();
    const left = await sessionCookie(page);
    expect(left?.value ?? '', 'the cookie is cleared in the browser').toBe('');

    // The old cookie, copied before sign-out, is worthless now.
    const after = await withCookie(cookie, '/api/v2/session');
    expect(after.status).toBe(401);
    expect((await withCookie(cookie, '/api/v2/registries')).status).toBe(401);

    // And the panel asks to sign in again.
    await page.goto(`${env.baseUrl}/`);
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await signInButton(page).waitFor();
    errors.assertNoPageErrors();
  });
});

describe('the session API over Node fetch', () => {
  it('answers 401 without a cookie, and refuses a DELETE of the session without the CSRF header', async () => {
    expect((await fetch(`${env.baseUrl}/api/v2/session`)).status).toBe(401);
    const start = await fetch(`${env.baseUrl}/api/v2/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: env.adminPassword }),
    });
    expect(start.status).toBe(200);
    const setCookie = start.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${COOKIE}=[^;]+`));
    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    expect(setCookie).toMatch(/;\s*SameSite=Lax/i);
    expect(setCookie).toMatch(/;\s*Path=\/(;|$)/i);
    expect(setCookie).not.toMatch(/;\s*Secure/i);
    const body = (await start.json()) as { csrf_token: string };
    const cookie = setCookie.split(';', 1)[0]!;

    const noHeader = await fetch(`${env.baseUrl}/api/v2/session`, { method: 'DELETE', headers: { cookie } });
    expect(noHeader.status).toBe(403);
    expect((await fetch(`${env.baseUrl}/api/v2/session`, { headers: { cookie } })).status).toBe(200);

    const end = await fetch(`${env.baseUrl}/api/v2/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': body.csrf_token } });
    expect(end.status).toBe(204);
    const cleared = end.headers.get('set-cookie') ?? '';
    expect(cleared).toMatch(new RegExp(`^${COOKIE}=`));
    expect(cleared).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i);
    expect((await fetch(`${env.baseUrl}/api/v2/session`, { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a wrong password with 401 and no cookie', async () => {
    const res = await fetch(`${env.baseUrl}/api/v2/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'not-the-password-at-all' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('the session cookie behind a TLS-terminating proxy', () => {
  let proxied: BerthProcess;
  const password = 'proxied-admin-password-1';

  beforeAll(async () => {
    proxied = await startBerth({ adminPassword: password, env: { BERTH_HTTP_TRUSTED_PROXIES: '127.0.0.1' } });
  });

  afterAll(async () => {
    await proxied?.stop();
  });

  const startSession = (headers: Record<string, string>) =>
    fetch(`${proxied.url}/api/v2/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username: 'admin', password }) });

  it('marks the cookie Secure when the trusted proxy says the client came over HTTPS, and not otherwise', async () => {
    const https = await startSession({ 'x-forwarded-proto': 'https' });
    expect(https.status).toBe(200);
    expect(https.headers.get('set-cookie') ?? '').toMatch(/;\s*Secure/i);
    const http = await startSession({ 'x-forwarded-proto': 'http' });
    expect(http.status).toBe(200);
    expect(http.headers.get('set-cookie') ?? '').not.toMatch(/;\s*Secure/i);
  });

  it('ignores X-Forwarded-Proto from a client that is not a trusted proxy', async () => {
    // env's server trusts no proxy.
    const res = await fetch(`${env.baseUrl}/api/v2/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
      body: JSON.stringify({ username: 'admin', password: env.adminPassword }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie') ?? '').not.toMatch(/;\s*Secure/i);
  });
});
