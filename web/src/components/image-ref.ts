/**
 * How docker names this server's images: `<host>/<registry>/<path>`, with the host
 * the panel was loaded from (Berth serves the registry and the panel on one address).
 */
export function registryHost(): string {
  return window.location.host;
}

/** `<host>/<registry>/<path>[:tag|@digest]`. In `library`, a one-component path is pulled without the registry, as Docker Hub's are. */
export function imageRef(registry: string, repository: string, at?: { tag?: string; digest?: string }): string {
  const base = registry === 'library' && !repository.includes('/') ? `${registryHost()}/${repository}` : `${registryHost()}/${registry}/${repository}`;
  if (at?.tag) return `${base}:${at.tag}`;
  if (at?.digest) return `${base}@${at.digest}`;
  return base;
}

/** Docker reaches a plain-HTTP registry only on loopback addresses unless told it is insecure. */
export function needsInsecureRegistry(): boolean {
  if (window.location.protocol === 'https:') return false;
  const host = window.location.hostname;
  return !(host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '[::1]' || host === '::1');
}
