#!/usr/bin/env node
// First: it holds V8's young generation small while everything below loads.
import { releaseYoungGenerationGrowth } from './hold-young-generation.js';
import { Command } from 'commander';
import { registerAuditCommands } from './commands/audit.js';
import { registerContextCommands, registerGlobalOptions } from './commands/context.js';
import { registerGcCommands } from './commands/gc.js';
import { registerImmutableTagCommands } from './commands/immutable-tags.js';
import { registerGrantCommands } from './commands/grants.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerLoginCommands } from './commands/login.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerMigrateStorageCommand } from './commands/migrate-storage.js';
import { registerRegistryCommands } from './commands/registries.js';
import { registerRepositoryCommands } from './commands/repositories.js';
import { registerRetentionCommands } from './commands/retention.js';
import { registerRobotCommands } from './commands/robots.js';
import { registerScanCommands } from './commands/scan.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTeamCommands } from './commands/teams.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerUsageCommand } from './commands/usage.js';
import { registerUserCommands } from './commands/users.js';
import { registerVulnDbCommands } from './commands/vulndb.js';
import { registerWebhookCommands } from './commands/webhook.js';
import { exitOnUsageError } from './output.js';

const program = new Command('berth').description('Berth: a self-hosted, private OCI container registry').version('0.1.0');
registerServeCommand(program);
registerMigrateCommand(program);
registerMigrateStorageCommand(program);
// Bad usage of berth itself (an unknown command, say) exits 2, like every client command below.
program.exitOverride(exitOnUsageError);
registerGlobalOptions(program);
registerLoginCommands(program);
registerContextCommands(program);
registerUserCommands(program);
registerTeamCommands(program);
registerRegistryCommands(program);
registerGrantCommands(program);
registerRobotCommands(program);
registerTokenCommands(program);
registerAuditCommands(program);
registerKeyCommands(program);
registerRepositoryCommands(program);
registerGcCommands(program);
registerImmutableTagCommands(program);
registerRetentionCommands(program);
registerScanCommands(program);
registerVulnDbCommands(program);
registerWebhookCommands(program);
registerUsageCommand(program);
// `serve` keeps the hold until the server's own cap takes over (startServer); every other command runs with V8's default.
program.hook('preAction', (_program, command) => {
  if (command.name() !== 'serve') releaseYoungGenerationGrowth();
});
await program.parseAsync(process.argv);
