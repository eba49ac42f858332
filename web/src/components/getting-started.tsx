import { useId } from 'react';
import { Link } from '../router';
import { useAccount } from '../session';
import { Command } from './copy-button';
import { imageRef, needsInsecureRegistry, registryHost } from './image-ref';

/**
 * How to sign in, push a first image and pull from Kubernetes, with the exact
 * commands for this server and registry, each with a copy button. `embedded`
 * leaves out the frame and the "no repositories yet" introduction (for a
 * disclosure below a list of repositories).
 */
export function GettingStarted({ registry, embedded = false }: { registry: string; embedded?: boolean }) {
  const { username } = useAccount();
  const headingId = useId();
  const host = registryHost();
  const target = imageRef(registry, 'my-app', { tag: 'latest' });
  const secret = `registry-${registry}`;
  return (
    <section className={embedded ? 'getting-started' : 'card getting-started'} aria-labelledby={embedded ? undefined : headingId} aria-label={embedded ? `Pushing to ${registry}` : undefined}>
      {!embedded && (
        <>
          <h2 id={headingId}>Getting started</h2>
          <p>
            Registry <strong>{registry}</strong> has no repositories yet. Push an image to <code>{imageRef(registry, '')}</code>
            <em>name</em> and it appears here.
          </p>
        </>
      )}

      {needsInsecureRegistry() && (
        <div className="secret" role="note">
          <p>
            <strong>This server speaks plain HTTP.</strong> Docker only talks HTTP to registries on this computer, so add <code>{host}</code> to{' '}
            <code>"insecure-registries"</code> in <code>/etc/docker/daemon.json</code> (Docker Desktop: Settings › Docker Engine) and restart Docker. Kubernetes
            nodes need the same setting in their container runtime.
          </p>
          <Command command={`{ "insecure-registries": ["${host}"] }`} label="Copy the insecure-registries setting" />
        </div>
      )}

      <ol className="steps">
        <li>
          <h3>Sign in</h3>
          <p>With the Berth CLI, which also signs Docker in:</p>
          <Command command={`berth login ${host} -u ${username}`} label="Copy the berth login command" />
          <Command command={`berth registry login ${registry}`} label="Copy the berth registry login command" />
          <p>Or with Docker alone, using your password or a <Link to="/tokens">personal access token</Link>:</p>
          <Command command={`docker login ${host} -u ${username}`} label="Copy the docker login command" />
        </li>
        <li>
          <h3>Tag and push an image</h3>
          <Command command={`docker tag my-app:latest ${target}`} label="Copy the docker tag command" />
          <Command command={`docker push ${target}`} label="Copy the docker push command" />
          <p className="hint">
            Replace <code>my-app:latest</code> with an image you have locally. A path may have several parts, e.g. <code>{imageRef(registry, 'team/api', { tag: 'v1' })}</code>.
          </p>
        </li>
        <li>
          <h3>Pull from Kubernetes</h3>
          <p>Create a pull secret with a read-only token for this registry:</p>
          <Command command={`berth registry kubernetes-manifest ${registry} --namespace default | kubectl apply -f -`} label="Copy the kubernetes-manifest command" />
          <p>Or with kubectl alone, using a personal access token as the password:</p>
          <Command
            command={`kubectl create secret docker-registry ${secret} --namespace default --docker-server=${host} --docker-username=${username} --docker-password=<token>`}
            label="Copy the kubectl create secret command"
          />
          <p className="hint">
            Then name it in your pod spec: <code>{`imagePullSecrets: [{ name: ${secret} }]`}</code>.
          </p>
        </li>
      </ol>
    </section>
  );
}
