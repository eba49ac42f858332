import type { Command } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, examples, serverCommand } from '../output.js';
import { resolveRegistry } from './context.js';
import { expirySeconds, fetchDockerConfig } from './registry-extra.js';

interface Flags extends ConnectOptions {
  name?: string;
  namespace: string;
  registry?: string;
  expirySeconds: number;
}

/** DNS-1123 subdomain: what Kubernetes accepts as a Secret name and a namespace. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** A `kubernetes.io/dockerconfigjson` Secret holding a read-only config.json: what pods name in imagePullSecrets. */
export function pullSecretManifest(name: string, namespace: string, dockerConfig: unknown): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(dockerConfig)).toString('base64') },
  });
}

/** `berth registry kubernetes-manifest`, as doctl's: YAML for `kubectl apply -f -`. */
export function registerKubernetesCommand(registry: Command): void {
  examples(
    serverCommand(registry, 'kubernetes-manifest [registry]', 'print a Kubernetes Secret (YAML) that lets a cluster pull from a registry, read-only')
      .option('--registry <name>', 'the registry (same as the argument)')
      .option('--name <name>', 'the Secret’s name (default: registry-<registry>)')
      .option('--namespace <namespace>', 'the Secret’s namespace', 'kube-system')
      // A pull secret that silently expires breaks deployments months later, so this one never expires unless asked.
      .option('--expiry-seconds <n>', 'make the token expire after this long (default: 0, never)', expirySeconds, 0)
      .action(
        act(async (named: string | undefined, flags: Flags) => {
          const client = connect(flags);
          const registryName = await resolveRegistry(client, flags, named ?? flags.registry);
          const name = flags.name ?? `registry-${registryName}`;
          for (const [what, value] of [['--name', name], ['--namespace', flags.namespace]] as const) {
            if (!DNS_NAME.test(value)) throw new UsageError(`${what} ${value} is not a valid Kubernetes name (lower-case a-z, 0-9, "-", ".")`);
          }
          const config = await fetchDockerConfig(client, registryName, false, flags.expirySeconds);
          process.stdout.write(pullSecretManifest(name, flags.namespace, config));
        }),
      ),
    [
      'berth registry kubernetes-manifest team-a | kubectl apply -f -',
      'berth registry kubernetes-manifest --registry team-a --namespace default --name team-a-pull',
      '# then, in a pod spec: imagePullSecrets: [{name: registry-team-a}]',
    ],
  );
}
