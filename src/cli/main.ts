#!/usr/bin/env node
import { Command } from 'commander';
import { registerServeCommand } from './commands/serve.js';

const program = new Command('berth').description('Berth: a self-hosted, private OCI container registry').version('0.1.0');
registerServeCommand(program);
await program.parseAsync(process.argv);
