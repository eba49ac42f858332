/**
 * Control-panel sessions over HTTP, beyond what the browser tests cover: a
 * password change signs out every other session of that user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { stopAndClean } from '../conformance/helpers.js';

const ADMIN_PASSWORD = 'admin-password-for-sessions';
let berth: BerthProcess;

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(username: string, password: string): Promise<Session> {
  const res = await fetch(`${berth.url}/api/v2/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(res.status, await res.clone().text()).toBe(200);
  const cookie = /^(berth_session=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
  return { cookie, csrf: ((await res.json()) as { csrf_token: string }).csrf_token };
}

const alive = async (s: Session) => (await fetch(`${berth.url}/api/v2/session`, { headers: { cookie: s.cookie } })).status;

function call(s: Session, method: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${berth.url}/api/v2${path}`, { method, headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
  const res = await fetch(`${berth.url}/api/v2/users`, { method: 'POST', headers: { authorization: admin, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-password-1' }) });
  expect(res.status).toBe(201);
});

afterAll(async () => {
  if (berth) await stopAndClean(berth);
});

describe('control-panel sessions and passwords', () => {
  it("changing one's password keeps the session that did it and ends the others", async () => {
    const laptop = await signIn('carol', 'carol-password-1');
    const phone = await signIn('carol', 'carol-password-1');
    const res = await call(laptop, 'PUT', '/account/password', { current_password: 'carol-password-1', new_password: 'carol-password-2' });
    expect(res.status, await res.text()).toBe(204);
    expect(await alive(laptop)).toBe(200);
    expect(await alive(phone)).toBe(401);
  });

  it("an administrator setting a user's password ends all of that user's sessions, not their own", async () => {
    const carol = await signIn('carol', 'carol-password-2');
    const admin = await signIn('admin', ADMIN_PASSWORD);
    const res = await call(admin, 'PATCH', '/users/carol', { password: 'carol-password-3' });
    expect(res.status, await res.text()).toBe(200);
    expect(await alive(carol)).toBe(401);
    expect(await alive(admin)).toBe(200);
    expect(await alive(await signIn('carol', 'carol-password-3'))).toBe(200);
  });
});
