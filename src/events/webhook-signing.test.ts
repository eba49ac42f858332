import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { computeSignature, newWebhookSecret, signatureHeader, verifySignature } from './webhook-signing.js';

const secret = 'whsec_test-secret-0123456789';
const body = '{"specversion":"1.0","id":"e1","type":"berth.push"}';
const t = 1_700_000_000;

/** Whether a command is on the PATH. */
function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('webhook signatures', () => {
  it('are HMAC-SHA256 of "<t>.<body>" in hex, as the header says', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(computeSignature(secret, t, body)).toBe(expected);
    expect(signatureHeader(secret, t, Buffer.from(body))).toBe(`t=${t},v1=${expected}`);
  });

  it('verify with the right secret and body, within the tolerance', () => {
    const header = signatureHeader(secret, t, body);
    expect(verifySignature(secret, header, body, { nowSeconds: t + 299 })).toEqual({ ok: true, timestamp: t });
    expect(verifySignature(secret, header, Buffer.from(body), { nowSeconds: t - 10 })).toEqual({ ok: true, timestamp: t });
  });

  it('refuse another body, another secret, a replay past the tolerance, and malformed headers', () => {
    const header = signatureHeader(secret, t, body);
    expect(verifySignature(secret, header, `${body} `, { nowSeconds: t })).toMatchObject({ ok: false, reason: /does not match/ });
    expect(verifySignature('whsec_other-secret-000000', header, body, { nowSeconds: t })).toMatchObject({ ok: false });
    expect(verifySignature(secret, header, body, { nowSeconds: t + 301 })).toMatchObject({ ok: false, reason: /too old/ });
    expect(verifySignature(secret, header, body, { nowSeconds: t + 3600, toleranceSeconds: 7200 })).toMatchObject({ ok: true });
    // The time is signed too: changing it breaks the signature.
    expect(verifySignature(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, { nowSeconds: t })).toMatchObject({ ok: false, reason: /does not match/ });
    expect(verifySignature(secret, undefined, body)).toMatchObject({ ok: false });
    expect(verifySignature(secret, 'v1=abc', body)).toMatchObject({ ok: false, reason: /timestamp/ });
    expect(verifySignature(secret, `t=${t}`, body, { nowSeconds: t })).toMatchObject({ ok: false, reason: /v1/ });
  });

  it('accept any of several v1 entries (a receiver can check a rotated secret and the old one alike)', () => {
    const header = `t=${t},v1=${'0'.repeat(64)},v1=${computeSignature(secret, t, body)}`;
    expect(verifySignature(secret, header, body, { nowSeconds: t })).toMatchObject({ ok: true });
  });

  it('new secrets are prefixed and carry 256 random bits', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });

  describe('the recipes of docs/webhooks.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/webhooks.md', import.meta.url)), 'utf8');
    const block = (after: string, lang: string) => doc.slice(doc.indexOf(after)).match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'))![1]!;
    const now = Math.floor(Date.now() / 1000);
    const header = signatureHeader(secret, now, body);

    it('Node.js', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'berth-recipe-'));
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, block('Node.js (any framework', 'js'));
      const { verifyBerth } = (await import(pathToFileURL(file).href)) as { verifyBerth: (s: string, h: string, b: Buffer) => boolean };
      expect(verifyBerth(secret, header, Buffer.from(body))).toBe(true);
      expect(verifyBerth(secret, header, Buffer.from(`${body} `))).toBe(false);
      expect(verifyBerth('whsec_wrong-secret-0000000', header, Buffer.from(body))).toBe(false);
      expect(verifyBerth(secret, signatureHeader(secret, now - 600, body), Buffer.from(body))).toBe(false);
      rmSync(dir, { recursive: true, force: true });
    });

    it.skipIf(!has('openssl'))('shell (openssl)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'berth-recipe-'));
      writeFileSync(join(dir, 'body.json'), body);
      const run = (sig: string, key: string) => {
        const r = spawnSync('sh', ['-c', block('Shell, with the header', 'sh')], { cwd: dir, env: { ...process.env, SIG: sig, SECRET: key } });
        return `${r.status} ${r.stdout.toString().trim()}`;
      };
      expect(run(header, secret)).toBe('0 valid');
      expect(run(header, 'whsec_wrong-secret-0000000')).toBe('1 invalid');
      expect(run(signatureHeader(secret, now - 600, body), secret)).toBe('1 invalid');
      rmSync(dir, { recursive: true, force: true });
    });
  });
});
