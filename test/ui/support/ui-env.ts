/**
 * The control panel's end-to-end harness: a real Berth process (access control
 * on, admin password known), Debian's Chromium driven by playwright-core, and
 * optionally a seeded registry (see seed.ts). Page tests start one environment
 * per file in beforeAll and close it in afterAll:
 *
 *   const env = await startUiEnv({ seed: true });
 *   const page = await signedInPage(env);
 *   const errors = watchPageErrors(page);
 *   await page.goto(`${env.baseUrl}/registries/${env.seeded!.registry}`);
 *   …
 *   await expectAccessible(page, 'registry page');
 *   errors.assertNoPageErrors();
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { startBerth, tempDir, type BerthProcess } from '../../support/berth-process.js';
import { requireTool } from '../../support/clients.js';
import { seedImages, type SeededImages } from './seed.js';
import { expectStatus } from './http.js';

export type { SeededImages } from './seed.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where screenshot() writes: test/ui/screenshots/. */
export const SCREENSHOT_DIR = resolve(HERE, '../screenshots');

/** The flags Chromium runs with: headless, no sandbox (root in a container), nothing fetched from outside. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export const DEFAULT_VIEWPORT = { width: 1280, height: 800 };

export interface UiEnv {
  berth: BerthProcess;
  /** e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  adminUser: 'admin';
  adminPassword: string;
  browser: Browser;
  /** Present when started with `seed: true`. */
  seeded?: SeededImages;
  /**
   * Basic-auth fetch as admin (for setup and cross-checks). A path starting with
   * `/api/` or `/v2/` is taken as it is; any other is under `/api/v2`
   * (`api('/registries')` is `GET /api/v2/registries`). A string body without a
   * content type is sent as JSON.
   */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** `api`, then the JSON body of an answer that must have `status` (default 200); throws quoting the answer otherwise. */
  apiJson<T>(path: string, init?: RequestInit, status?: number): Promise<T>;
  /** Closes the browser and stops Berth (its data is removed). */
  close(): Promise<void>;
}

export interface UiEnvOptions {
  /** Push the images described by SeededImages before returning (a few seconds more). */
  seed?: boolean;
  /** Extra environment for the Berth process (BERTH_* settings). */
  env?: Record<string, string>;
}

/** Starts Berth and Chromium (and seeds, when asked). On any failure both are stopped before it throws. */
export async function startUiEnv(options: UiEnvOptions = {}): Promise<UiEnv> {
  // Fails loudly with CI=true when Chromium is missing; elsewhere installs Debian's package.
  const executablePath = await requireTool('chromium');
  const work = tempDir('berth-ui-');
  const adminPassword = `ui-admin-${randomBytes(9).toString('hex')}`;
  const authorization = `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`;

  let berth: BerthProcess | undefined;
  let browser: Browser | undefined;
  const stopAll = async () => {
    await browser?.close().catch(() => undefined);
    await berth?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    [berth, browser] = await Promise.all([
      startBerth({ dataDir: join(work, 'data'), adminPassword, env: options.env }),
      chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 60_000 }),
    ]);
    const baseUrl = berth.url;
    const api = (path: string, init: RequestInit = {}): Promise<Response> => {
      const url = baseUrl + (/^\/(api|v2)\//.test(path) ? path : `/api/v2${path.startsWith('/') ? '' : '/'}${path}`);
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', authorization);
      if (typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return fetch(url, { ...init, headers });
    };
    const env: UiEnv = {
      berth,
      baseUrl,
      adminUser: 'admin',
      adminPassword,
      browser,
      api,
      apiJson: async <T,>(path: string, init?: RequestInit, status = 200) => JSON.parse(await expectStatus(await api(path, init), status, `${init?.method ?? 'GET'} ${path}`)) as T,
      close: stopAll,
    };
    if (options.seed) {
      env.seeded = await seedImages({ host: berth.host, adminUser: 'admin', adminPassword, api }, join(work, 'seed'));
    }
    return env;
  } catch (err) {
    const logs = berth?.logs() ?? '';
    await stopAll();
    if (logs && err instanceof Error) err.message += `\n--- berth log (last 4000 characters) ---\n${logs.slice(-4000)}`;
    throw err;
  }
}

/** A new browser context and page, signed in as admin through the sign-in form. */
export async function signedInPage(env: UiEnv, options: { viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await env.browser.newContext({ viewport: options.viewport ?? DEFAULT_VIEWPORT, baseURL: env.baseUrl });
  const page = await context.newPage();
  try {
    await signIn(page, env.baseUrl, env.adminUser, env.adminPassword);
  } catch (err) {
    await context.close().catch(() => undefined);
    throw err;
  }
  return page;
}

/**
 * Opens /sign-in, fills Username and Password, presses "Sign in" and waits for
 * the Registries heading. Throws with the alert's text when the form shows one.
 */
export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/sign-in`);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const registries = page.getByRole('heading', { level: 1, name: 'Registries', exact: true });
  const alert = page.getByRole('alert').filter({ hasText: /\S/ });
  await registries.or(alert).first().waitFor({ timeout: 15_000 });
  if (!(await registries.isVisible())) {
    throw new Error(`signing in as ${username} showed an alert instead of the Registries page: ${(await alert.first().textContent())?.trim()}`);
  }
}

/** Saves a full-page screenshot as test/ui/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`screenshot name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-'`);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

let axeSource: string | undefined;

interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  helpUrl: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/**
 * Runs axe-core on the page as it is now and throws, listing each rule's id,
 * impact, help and target selectors, when any violation is serious or
 * critical. Minor and moderate ones are printed as warnings.
 */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol, so a Content-Security-Policy does not block it.
  const loaded = await page.evaluate(`(() => { if (!window.axe) { ${axeSource}\n} return typeof (window.axe && window.axe.run); })()`);
  if (loaded !== 'function') throw new Error(`${label}: axe-core did not load into the page`);
  const violations = (await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, options: object): Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations;
  })) as AxeViolation[];
  const describe = (v: AxeViolation) =>
    `- ${v.id} (${v.impact}): ${v.help} [${v.helpUrl}]\n` + v.nodes.map((n) => `    at ${n.target.map((t) => (typeof t === 'string' ? t : JSON.stringify(t))).join(' > ')}`).join('\n');
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const other = violations.filter((v) => !blocking.includes(v));
  if (other.length > 0) console.warn(`${label}: ${other.length} minor/moderate accessibility issue(s):\n${other.map(describe).join('\n')}`);
  if (blocking.length > 0) {
    throw new Error(`${label}: ${blocking.length} serious or critical accessibility violation(s) (${page.url()}):\n${blocking.map(describe).join('\n')}`);
  }
}

export interface PageErrorWatch {
  /** Throws listing every uncaught page error and console error seen since watchPageErrors(). */
  assertNoPageErrors(): void;
  /** What was collected so far. */
  readonly errors: readonly string[];
}

/**
 * Collects uncaught exceptions and console errors of a page. Chromium's own
 * "Failed to load resource" console line for a 4xx answer from /api/ is not
 * counted (the app handles those: a 401 before sign-in, a 404 it shows);
 * for a 5xx, or for any other URL (a missing asset), it is. `ignore` drops more
 * messages by substring or pattern.
 */
export function watchPageErrors(page: Page, options: { ignore?: (string | RegExp)[] } = {}): PageErrorWatch {
  const errors: string[] = [];
  const ignored = (text: string) => (options.ignore ?? []).some((p) => (typeof p === 'string' ? text.includes(p) : p.test(text)));
  page.on('pageerror', (err) => {
    const text = `page error: ${err.stack ?? err.message}`;
    if (!ignored(text)) errors.push(text);
  });
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() !== 'error') return;
    const where = msg.location().url;
    const text = `console error: ${msg.text()}${where ? ` (${where})` : ''}`;
    const expectedApiAnswer = /Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text()) && /\/api\//.test(where);
    if (!expectedApiAnswer && !ignored(text)) errors.push(text);
  });
  return {
    errors,
    assertNoPageErrors() {
      if (errors.length > 0) throw new Error(`${errors.length} error(s) on ${page.url()}:\n${errors.join('\n')}`);
    },
  };
}
