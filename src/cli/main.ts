#!/usr/bin/env node
import { Command } from 'commander';
import { registerAuditCommands } from './commands/audit.js';
import { registerContextCommands, registerGlobalOptions } from './commands/context.js';
import { registerGcCommands } from './commands/gc.js';
import { registerGrantCommands } from './commands/grants.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerLoginCommands } from './commands/login.js';
import { registerRegistryCommands } from './commands/registries.js';
import { registerRepositoryCommands } from './commands/repositories.js';
import { registerRobotCommands } from './commands/robots.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTeamCommands } from './commands/teams.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerUsageCommand } from './commands/usage.js';
import { registerUserCommands } from './commands/users.js';
import { exitOnUsageError } from './output.js';

const program = new Command('berth').description('Berth: a self-hosted, private OCI container registry').version('0.1.0');
registerServeCommand(program);
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
registerUsageCommand(program);
await program.parseAsync(process.argv);
