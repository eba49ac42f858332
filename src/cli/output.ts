import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CliError } from './api-client.js';

/** What list and create commands print: aligned columns for people, or --json for programs. */
export type Cell = string | number | boolean | null | undefined;

export function printTable(headers: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...text.map(line)].join('\n')}\n`);
}

function cellText(c: Cell): string {
  if (c === null || c === undefined || c === '') return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return String(c);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Notes that are not the command's output (warnings, hints) go to stderr so pipes stay clean. */
export function warn(line: string): void {
  process.stderr.write(`berth: ${line}\n`);
}

/** Shorter ISO times for tables: seconds, no milliseconds. */
export function when(iso: string | null | undefined): string | undefined {
  return iso ? iso.replace(/\.\d{3}Z$/, 'Z') : undefined;
}

/** Wraps an action: a CliError (or anything else) becomes `berth: <message>` and exit code 1. */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // `berth audit export | head` closes the pipe early: that is the reader's choice, not an error.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
      if (!(err instanceof CliError) && process.env.BERTH_DEBUG) console.error(err);
      process.exitCode = err instanceof CliError ? err.exitCode : 1;
    }
  };
}

/** Bad usage exits 2 (commander itself uses 1); help and --version still exit 0. */
export function exitOnUsageError(err: CommanderError): never {
  const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0;
  process.exit(ok ? 0 : 2);
}

/** A command group (`berth user ...`); its subcommands inherit the usage-error handling. */
export function group(program: Command, name: string, description: string): Command {
  return program.command(name).description(description).exitOverride(exitOnUsageError);
}

/** A command that talks to a server: every one takes --server. */
export function serverCommand(parent: Command, nameAndArgs: string, description: string): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .exitOverride(exitOnUsageError)
    .option('--server <url>', 'server URL or host:port (default: $BERTH_SERVER, else the last `berth login`)');
}

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive whole number');
  return Number(value);
}
