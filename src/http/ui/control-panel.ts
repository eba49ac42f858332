import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build` puts the panel: web/dist, beside src/ and dist/ in the package. */
export const DEFAULT_PANEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Hashed names never change content: cache for a year. Everything else is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The panel's only sources are this server; no framing (clickjacking), no inline
 * scripts. Inline style attributes are allowed: bar widths are set that way.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

interface PanelFile {
  type: string;
  etag: string;
  cacheControl: string;
  identity: Buffer;
  br?: Buffer;
  gzip?: Buffer;
}

/**
 * Serves the built control panel from memory (a few hundred KB, read once at
 * start): the brotli/gzip copies made at build time when the client accepts
 * them, ETags for revalidation, and index.html for every other page path so
 * the panel's own router can show it.
 */
export class ControlPanel {
  private constructor(private readonly files: Map<string, PanelFile>) {}

  /** The panel in `dir`, or undefined when it was not built there. */
  static load(dir = DEFAULT_PANEL_DIR): ControlPanel | undefined {
    if (!existsSync(join(dir, 'index.html'))) return undefined;
    const files = new Map<string, PanelFile>();
    for (const path of walk(dir)) {
      if (path.endsWith('.br') || path.endsWith('.gz')) continue;
      const urlPath = `/${relative(dir, path).split(sep).join('/')}`;
      const identity = readFileSync(path);
      const sibling = (suffix: string) => (existsSync(path + suffix) ? readFileSync(path + suffix) : undefined);
      files.set(urlPath, {
        type: TYPES[extname(path)] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 27)}"`,
        cacheControl: urlPath.startsWith('/assets/') ? IMMUTABLE : REVALIDATE,
        identity,
        br: sibling('.br'),
        gzip: sibling('.gz'),
      });
    }
    return new ControlPanel(files);
  }

  /**
   * Answers a GET/HEAD the server has no route for: a panel file, index.html for a
   * page path, or false (the caller answers 404) for anything else.
   */
  serve(req: FastifyRequest, reply: FastifyReply): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = req.url.split('?', 1)[0]!;
    let file = this.files.get(path);
    if (!file) {
      // A missing asset or top-level file (/robots.txt) is a 404, never the page: a stale hashed name must fail visibly.
      // Deeper paths are pages even with a dot in them: repository names may have one (/registries/acme/repositories/web.v2).
      const topLevelFile = path.lastIndexOf('/') === 0 && extname(path) !== '';
      if (path.startsWith('/assets/') || topLevelFile || !wantsHtml(req)) return false;
      file = this.files.get('/index.html')!;
    }
    reply.headers(SECURITY_HEADERS).header('cache-control', file.cacheControl).header('etag', file.etag).header('vary', 'accept-encoding').type(file.type);
    if (req.headers['if-none-match'] === file.etag) {
      reply.code(304).send();
      return true;
    }
    const accepted = String(req.headers['accept-encoding'] ?? '');
    let body = file.identity;
    if (file.br && /\bbr\b/.test(accepted)) {
      body = file.br;
      reply.header('content-encoding', 'br');
    } else if (file.gzip && /\bgzip\b/.test(accepted)) {
      body = file.gzip;
      reply.header('content-encoding', 'gzip');
    }
    reply.header('content-length', body.length);
    reply.send(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}

function wantsHtml(req: FastifyRequest): boolean {
  const accept = String(req.headers.accept ?? '');
  return accept === '' || accept.includes('text/html') || accept.includes('*/*');
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
