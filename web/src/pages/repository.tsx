import { useEffect, useState, type ReactNode } from 'react';
import { api, query, seg } from '../api/client';
import type { ManifestDetail, ManifestItem, ManifestList, Platform, ScanSummary, TagItem, TagList } from '../api/repository-types';
import { useApi } from '../api/use-api';
import { CopyButton } from '../components/copy-button';
import { ConfirmDialog } from '../components/dialog';
import { Digest } from '../components/digest';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { imageRef } from '../components/image-ref';
import { PageHeader } from '../components/page-header';
import { Pager } from '../components/pager';
import { SeverityCounts } from '../components/severity';
import { Time } from '../components/time';
import { useConfirm } from '../components/use-confirm';
import { formatBytes, plural, shortDigest } from '../format';
import type { PageProps } from '../routes';
import { Link, navigate } from '../router';

const TAGS_PER_PAGE = 20;
/** Manifests are read in pages of this many: the untagged ones, and the referrers nested under what they refer to. */
const MANIFESTS_PER_PAGE = 200;

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const isIndex = (mediaType: string | undefined) => mediaType !== undefined && INDEX_TYPES.has(mediaType);

/** What a referrer is, from its artifact type: signatures, SBOMs, attestations. */
function artifactLabel(artifactType: string): string {
  const t = artifactType.toLowerCase();
  if (t.includes('spdx')) return 'SBOM (SPDX)';
  if (t.includes('cyclonedx')) return 'SBOM (CycloneDX)';
  if (t.includes('syft')) return 'SBOM';
  if (t.includes('signature') || t.includes('.sig') || t.includes('sigstore') || t.includes('notary')) return 'Signature';
  if (t.includes('in-toto') || t.includes('attestation') || t.includes('provenance')) return 'Attestation';
  if (t.includes('vex')) return 'VEX document';
  if (t.includes('helm')) return 'Helm chart';
  return 'Artifact';
}

const platformText = (p: Platform) => [p.os ?? 'unknown', p.architecture ?? 'unknown', p.variant].filter(Boolean).join('/');

type Deletion = { kind: 'tag'; tag: string; digest: string } | { kind: 'manifest'; digest: string; tags: string[]; what: string } | { kind: 'repository' };

const PENDING = new Set(['queued', 'scanning']);

/** A repository's tags and untagged manifests, with platforms, referrers, scans, pull commands and deletion. */
export function RepositoryPage({ params }: PageProps) {
  const registry = params.registry!;
  const repo = params.repo!;
  const registryPath = `/registries/${seg(registry)}`;
  const base = `${registryPath}/repositories/${seg(repo)}`;
  const [tagPage, setTagPage] = useState(1);
  const [manifestPage, setManifestPage] = useState(1);
  const tags = useApi<TagList>(`${base}/tags${query({ page: tagPage, per_page: TAGS_PER_PAGE })}`);
  const manifests = useApi<ManifestList>(`${base}/digests${query({ page: manifestPage, per_page: MANIFESTS_PER_PAGE })}`);
  const remove = useConfirm<Deletion>();
  const deletion = remove.target;
  const [notice, setNotice] = useState<string>();
  const reloadTags = tags.reload;
  const reloadManifests = manifests.reload;

  // While a scan is queued or running, look again every few seconds.
  const scanning = [...(tags.data?.tags ?? []).map((t) => t.vulnerabilities), ...(manifests.data?.manifests ?? []).map((m) => m.vulnerabilities)].some((v) => v && PENDING.has(v.status));
  useEffect(() => {
    if (!scanning) return;
    const timer = window.setTimeout(() => {
      reloadTags();
      reloadManifests();
    }, 4000);
    return () => window.clearTimeout(timer);
  }, [scanning, tags.data, manifests.data, reloadTags, reloadManifests]);

  const deleteNow = async (d: Deletion) => {
    await api(d.kind === 'tag' ? `${base}/tags/${seg(d.tag)}` : d.kind === 'manifest' ? `${base}/digests/${seg(d.digest)}` : base, { method: 'DELETE' });
    if (d.kind === 'repository') {
      navigate(registryPath);
      return;
    }
    setNotice(d.kind === 'tag' ? `Tag ${d.tag} deleted. Manifest ${shortDigest(d.digest)} is still there, untagged.` : `Manifest ${shortDigest(d.digest)} deleted.`);
    reloadTags();
    reloadManifests();
  };

  const gone = tags.error?.status === 404 || manifests.error?.status === 404;
  const error = tags.error ?? manifests.error;
  const retry = () => {
    reloadTags();
    reloadManifests();
  };

  const all = manifests.data?.manifests ?? [];
  const tagItems = tags.data?.tags ?? [];
  const present = new Set([...all.map((m) => m.digest), ...tagItems.map((t) => t.manifest_digest)]);
  const referrersOf = (digest: string) => all.filter((m) => m.subject_digest === digest);
  // Platform images of an index are shown through the index, not as untagged manifests of their own.
  const platformImages = new Set([...all, ...tagItems].flatMap((m) => (m.platforms ?? []).map((p) => p.digest)));
  const untagged = all.filter((m) => m.tags.length === 0 && !platformImages.has(m.digest) && !(m.subject_digest && present.has(m.subject_digest)));

  const header = (
    <PageHeader
      title={repo}
      subtitle={
        <span className="digest">
          <code>{imageRef(registry, repo)}</code>
          <CopyButton text={imageRef(registry, repo)} label="Copy the image name" />
        </span>
      }
      actions={
        !gone && (
          <button type="button" className="button secondary danger-text" onClick={() => remove.ask({ kind: 'repository' })}>
            Delete repository
          </button>
        )
      }
    />
  );

  if (gone) {
    return (
      <>
        {header}
        <EmptyState title="Repository not found">
          <p>
            There is no repository <strong>{repo}</strong> in {registry} (anymore), or you may not see it. <Link to={registryPath}>Back to the repositories of {registry}</Link>.
          </p>
        </EmptyState>
      </>
    );
  }

  const manifestRows = (m: ManifestItem, first: ReactNode, actions: ReactNode, depth: number, seen: Set<string>): ReactNode[] => {
    const children = seen.has(m.digest) ? [] : referrersOf(m.digest);
    const next = new Set(seen).add(m.digest);
    return [
      <ManifestRow key={`${depth}-${m.digest}`} digest={m.digest} first={first} detail={m} size={m.size_bytes} pushed={m.updated_at} scan={m.vulnerabilities} reportHref={`${base}/manifests/${seg(m.digest)}`} what={`${repo}@${shortDigest(m.digest)}`} actions={actions} depth={depth} />,
      ...children.flatMap((r) => referrerRows(r, depth + 1, next)),
    ];
  };

  const referrerRows = (r: ManifestItem, depth: number, seen: Set<string>): ReactNode[] =>
    manifestRows(
      r,
      <span className="referrer">
        <span aria-hidden="true">↳ </span>
        <span className="visually-hidden">Refers to the manifest above: </span>
        <strong>{artifactLabel(r.artifact_type ?? '')}</strong>
      </span>,
      <DeleteButton label="Delete" name={`Delete ${artifactLabel(r.artifact_type ?? '')} ${shortDigest(r.digest)}`} onClick={() => remove.ask({ kind: 'manifest', digest: r.digest, tags: r.tags, what: artifactLabel(r.artifact_type ?? '') })} />,
      depth,
      seen,
    );

  const firstTagOf = new Map<string, string>();
  for (const t of tagItems) if (!firstTagOf.has(t.manifest_digest)) firstTagOf.set(t.manifest_digest, t.tag);

  const tagRows = (t: TagItem): ReactNode[] => {
    const pull = `docker pull ${imageRef(registry, repo, { tag: t.tag })}`;
    const first = (
      <>
        <strong className="tag-name">{t.tag}</strong>
        <PullCommand command={pull} label={`Copy the pull command for ${repo}:${t.tag}`} />
      </>
    );
    const actions = <DeleteButton label="Delete" name={`Delete tag ${t.tag}`} onClick={() => remove.ask({ kind: 'tag', tag: t.tag, digest: t.manifest_digest })} />;
    return [
      <ManifestRow
        key={`tag-${t.tag}`}
        digest={t.manifest_digest}
        first={first}
        detail={t}
        size={t.size_bytes}
        pushed={t.updated_at}
        scan={t.vulnerabilities}
        reportHref={`${base}/manifests/${seg(t.manifest_digest)}`}
        what={`${repo}:${t.tag}`}
        actions={actions}
        depth={0}
      />,
      // Under the first of its tags only: one manifest's SBOM is not repeated under each of its tags.
      ...(firstTagOf.get(t.manifest_digest) === t.tag ? referrersOf(t.manifest_digest).flatMap((r) => referrerRows(r, 1, new Set([t.manifest_digest]))) : []),
    ];
  };

  const tagTotal = tags.data?.meta?.total ?? tags.data?.tags.length ?? 0;
  const manifestTotal = manifests.data?.meta?.total ?? all.length;

  return (
    <>
      {header}
      {notice && <Notice>{notice}</Notice>}
      {error && !gone && <ErrorMessage error={error} onRetry={retry} />}
      {(!tags.data || !manifests.data) && (tags.loading || manifests.loading) && <Loading label="Loading tags and manifests…" />}
      {tags.data && manifests.data && (
        <>
          <p className="muted">
            {plural(tagTotal, 'tag')} · {plural(manifestTotal, 'manifest')}
            {scanning && ' · scans in progress, refreshing…'}
          </p>
          <section aria-labelledby="tags-heading">
            <h2 id="tags-heading">Tags</h2>
            {tags.data.tags.length === 0 ? (
              <EmptyState title="No tags">
                <p>Nothing in this repository has a tag; its manifests can still be pulled by digest.</p>
              </EmptyState>
            ) : (
              <div className="table-wrap">
                <table className="manifest-table">
                  <caption className="visually-hidden">Tags of {repo}, with the manifests that refer to them nested below</caption>
                  <ManifestHead first="Tag and pull command" />
                  <tbody>{tags.data.tags.flatMap(tagRows)}</tbody>
                </table>
              </div>
            )}
            <Pager page={tagPage} perPage={TAGS_PER_PAGE} total={tagTotal} onPage={setTagPage} label="Tag pages" />
          </section>

          <section aria-labelledby="untagged-heading">
            <h2 id="untagged-heading">Untagged manifests</h2>
            {untagged.length === 0 ? (
              <p className="muted">None{manifestTotal > MANIFESTS_PER_PAGE ? ' on this page of manifests' : ''}. Signatures, SBOMs and attestations are listed under the image they refer to, and platform images under their index.</p>
            ) : (
              <div className="table-wrap">
                <table className="manifest-table">
                  <caption className="visually-hidden">Manifests of {repo} without a tag</caption>
                  <ManifestHead first="Pull by digest" />
                  <tbody>
                    {untagged.flatMap((m) => {
                      const orphan = m.subject_digest ? (
                        <p className="hint">
                          {artifactLabel(m.artifact_type ?? '')} of <code title={m.subject_digest}>{shortDigest(m.subject_digest)}</code>, which is not in this repository
                        </p>
                      ) : null;
                      const first = (
                        <>
                          {orphan}
                          <PullCommand command={`docker pull ${imageRef(registry, repo, { digest: m.digest })}`} label={`Copy the pull command for ${repo}@${shortDigest(m.digest)}`} />
                        </>
                      );
                      const actions = <DeleteButton label="Delete" name={`Delete manifest ${shortDigest(m.digest)}`} onClick={() => remove.ask({ kind: 'manifest', digest: m.digest, tags: m.tags, what: 'manifest' })} />;
                      return manifestRows(m, first, actions, 0, new Set());
                    })}
                  </tbody>
                </table>
              </div>
            )}
            <Pager page={manifestPage} perPage={MANIFESTS_PER_PAGE} total={manifestTotal} onPage={setManifestPage} label="Manifest pages" />
          </section>
        </>
      )}

      <ConfirmDialog
        {...remove.dialog}
        title={deletion?.kind === 'tag' ? `Delete tag ${deletion.tag}?` : deletion?.kind === 'manifest' ? `Delete ${deletion.what} ${shortDigest(deletion.digest)}?` : `Delete repository ${repo}?`}
        confirmLabel={deletion?.kind === 'tag' ? 'Delete tag' : deletion?.kind === 'manifest' ? 'Delete manifest' : 'Delete repository'}
        confirmText={deletion?.kind === 'repository' ? repo : undefined}
        onConfirm={() => void remove.confirm(deleteNow)}
      >
        {deletion?.kind === 'tag' && (
          <p>
            <code>{imageRef(registry, repo, { tag: deletion.tag })}</code> will no longer pull. The manifest <code>{shortDigest(deletion.digest)}</code> stays, and can still be pulled by
            digest or by its other tags.
          </p>
        )}
        {deletion?.kind === 'manifest' && (
          <p>
            The manifest <code title={deletion.digest}>{shortDigest(deletion.digest)}</code>
            {deletion.tags.length > 0 ? ` and its tags ${deletion.tags.join(', ')}` : ''} will be deleted; anything pulling it by digest will fail. This cannot be undone.
          </p>
        )}
        {deletion?.kind === 'repository' && (
          <p>
            This deletes every tag and manifest of <strong>{registry}/{repo}</strong>. Anything pulling them will fail. This cannot be undone.
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}

function ManifestHead({ first }: { first: string }) {
  return (
    <thead>
      <tr>
        <th scope="col">{first}</th>
        <th scope="col">Digest</th>
        <th scope="col">Type</th>
        <th scope="col" className="num">
          Size
        </th>
        <th scope="col">Pushed · pulled</th>
        <th scope="col">Vulnerabilities</th>
        <th scope="col">
          <span className="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  );
}

function ManifestRow(props: {
  digest: string;
  first: ReactNode;
  /** Its kind, platforms and last pull, from the tag's or the manifest's own row. */
  detail: ManifestDetail;
  size: number;
  pushed: string;
  scan: ScanSummary | null;
  reportHref: string;
  what: string;
  actions: ReactNode;
  depth: number;
}) {
  const { media_type: mediaType, artifact_type: artifactType, platforms, pulled_at: pulled } = props.detail;
  const index = isIndex(mediaType) || (platforms?.length ?? 0) > 0;
  return (
    <tr className={props.depth > 0 ? 'child' : undefined} style={props.depth > 1 ? { ['--depth' as string]: props.depth } : undefined}>
      <td className="first-cell">{props.first}</td>
      <td>
        <Digest digest={props.digest} label={`Copy the digest of ${props.what}`} />
      </td>
      <td>
        {index ? (
          <>
            <span className="kind">Index</span>
            {platforms && platforms.length > 0 && <span className="platforms">{platforms.map(platformText).join(', ')}</span>}
          </>
        ) : artifactType ? (
          <>
            <span className="kind">Artifact</span>
            <code className="artifact-type">{artifactType}</code>
          </>
        ) : (
          <span className="kind">Image</span>
        )}
      </td>
      <td className="num">{formatBytes(props.size)}</td>
      <td className="times">
        <span>
          Pushed <Time iso={props.pushed} />
        </span>
        <span>
          Pulled <Time iso={pulled ?? null} never={pulled === undefined ? 'unknown' : 'never'} />
        </span>
      </td>
      <td>
        <ScanCell scan={props.scan} href={props.reportHref} what={props.what} />
      </td>
      <td className="num">{props.actions}</td>
    </tr>
  );
}

/** A manifest's scan in a few words, with a link to its report. */
function ScanCell({ scan, href, what }: { scan: ScanSummary | null; href: string; what: string }) {
  const link = (text: string) => (
    <Link to={href} className="report-link">
      {text}
      <span className="visually-hidden"> for {what}</span>
    </Link>
  );
  if (!scan || scan.status === 'not scanned') {
    return (
      <span className="scan">
        <span className="muted">Not scanned</span> {link('Details')}
      </span>
    );
  }
  switch (scan.status) {
    case 'queued':
      return <span className="muted">Queued for scanning</span>;
    case 'scanning':
      return <span className="muted">Scanning…</span>;
    case 'failed':
      return (
        <span className="scan">
          <span className="field-error">Scan failed</span> {link('Details')}
        </span>
      );
    case 'unsupported':
      return <span className="muted">Not scannable</span>;
    default:
      return (
        <span className="scan">
          {scan.summary ? <SeverityCounts summary={scan.summary} /> : <span className="muted">Scanned</span>} {link('View report')}
        </span>
      );
  }
}

/** A `docker pull` command, selectable, with its copy button (the clipboard is unavailable on plain HTTP away from localhost). */
function PullCommand({ command, label }: { command: string; label: string }) {
  return (
    <span className="pull-command">
      <code>{command}</code>
      <CopyButton text={command} label={label} />
    </span>
  );
}

function DeleteButton({ label, name, onClick }: { label: string; name: string; onClick: () => void }) {
  return (
    <button type="button" className="button secondary small danger-text" onClick={onClick} aria-label={name}>
      {label}
    </button>
  );
}
