import type { Command } from 'commander';
import type { KeyView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
}

function printKeys(keys: KeyView[]): void {
  printTable(['KID', 'STATUS', 'CREATED', 'RETIRED'], keys.map((k) => [k.kid, k.retired_at ? 'retired' : 'signing', when(k.created_at), when(k.retired_at)]));
}

/** `berth keys ...`: the keys that sign registry tokens. Rotating starts a new key; tokens signed by the old one stay valid until they expire. */
export function registerKeyCommands(program: Command): void {
  const keys = group(program, 'keys', 'list or rotate the token-signing keys (server administrators)');

  serverCommand(keys, 'list', 'list the signing keys')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const { keys: list } = await connect(flags).get<{ keys: KeyView[] }>('/api/v2/auth/keys');
        if (flags.json) return printJson(list);
        printKeys(list);
      }),
    );

  serverCommand(keys, 'rotate', 'make a new signing key')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const rotated = await connect(flags).post<{ kid: string; keys: KeyView[] }>('/api/v2/auth/keys/rotate');
        if (flags.json) return printJson(rotated);
        say(`New signing key ${rotated.kid}; tokens signed by older keys stay valid until they expire.`);
        printKeys(rotated.keys);
      }),
    );
}
