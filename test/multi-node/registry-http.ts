/**
 * The Distribution API over plain HTTP (fetch), aimed at one node at a time:
 * what the multi-node test uses to force a session's requests onto different
 * nodes and to read a tag straight from each node.
 */
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../support/oci-layout.js';
import { sha256 } from './images.js';

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A registry token from `base`'s token endpoint (Docker token auth) for `scopes`. */
export async function fetchToken(base: string, authorization: string, scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: 'berth' });
  for (const s of scopes) query.append('scope', s);
  const res = await fetch(`${base}/token?${query}`, { headers: { authorization } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${base}/token: ${res.status} ${text}`);
  return (JSON.parse(text) as { token: string }).token;
}

/** Throws with the method, URL, status and body unless the answer has `status`. */
export async function expectStatus(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${await res.text()}`);
  return res;
}

/** One node, one bearer token. */
export class NodeClient {
  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  request(method: string, path: string, init: { body?: Buffer<ArrayBuffer>; headers?: Record<string, string> } = {}): Promise<Response> {
    return fetch(this.base + path, { method, body: init.body, headers: { authorization: `Bearer ${this.token}`, ...init.headers } });
  }

  /** A monolithic blob push (`POST ?digest=`). */
  async pushBlob(repo: string, data: Buffer<ArrayBuffer>): Promise<string> {
    const digest = sha256(data);
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await expectStatus(res, 201, `POST blob ${digest} to ${this.base}`);
    return digest;
  }

  async putManifest(repo: string, reference: string, body: Buffer<ArrayBuffer>, mediaType = OCI_MANIFEST): Promise<string> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { body, headers: { 'content-type': mediaType } });
    await expectStatus(res, 201, `PUT manifest ${repo}:${reference} on ${this.base}`);
    return res.headers.get('docker-content-digest') ?? '';
  }

  /** The digest a node answers for `repo:reference` (GET, every manifest type accepted). */
  async manifestDigest(repo: string, reference: string): Promise<string> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, {
      headers: { accept: `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json` },
    });
    const body = Buffer.from(await (await expectStatus(res, 200, `GET manifest ${repo}:${reference} on ${this.base}`)).arrayBuffer());
    const header = res.headers.get('docker-content-digest');
    if (header !== sha256(body)) throw new Error(`${this.base}: Docker-Content-Digest ${header} but the body hashes to ${sha256(body)}`);
    return header;
  }
}

/** A tiny image (one small layer) pushed over HTTP: for tag moves. Returns its manifest and digest. */
export async function pushTinyImage(client: NodeClient, repo: string, seed: string): Promise<{ body: Buffer<ArrayBuffer>; digest: string }> {
  const layer = Buffer.from(`layer ${seed}\n`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, seed }));
  const layerDigest = await client.pushBlob(repo, layer);
  const configDigest = await client.pushBlob(repo, config);
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: layer.length }],
    }),
  );
  return { body, digest: sha256(body) };
}
