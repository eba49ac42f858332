import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError } from './api-client.js';

/** What list and create commands print: aligned columns for people, or --json for programs. */
export type Cell = string | number | boolean | null | undefined;

export function printTable(headers: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...text.map(line)].join('\n')}\n`);
}

export function cellText(c: Cell): string {
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

// ---- lists with --output text|json, --format and --no-header (doctl's conventions) ----

export interface Column<T> {
  /** What --format names, e.g. TagCount. */
  name: string;
  header: string;
  value: (row: T) => Cell;
}

export interface ListFlags {
  output?: 'text' | 'json';
  format?: string;
  header?: boolean;
}

/** Adds --output, --format and --no-header; `columns` are listed in the help. */
export function listOptions<T>(command: Command, columns: Column<T>[]): Command {
  return command
    .addOption(new Option('-o, --output <format>', 'text (a table) or json').choices(['text', 'json']).default('text'))
    .option('--format <columns>', `columns to show, comma-separated${columns.length > 0 ? `: ${columns.map((c) => c.name).join(',')}` : ' (field names, e.g. Name,Public)'}`)
    .option('--no-header', 'leave out the header line');
}

/** Prints rows as a table of the chosen columns, or `json` as JSON. */
export function printList<T>(flags: ListFlags, columns: Column<T>[], rows: T[], json: unknown = rows): void {
  if (flags.output === 'json') return printJson(json);
  const chosen = chooseColumns(columns, flags.format);
  const cells = rows.map((r) => chosen.map((c) => c.value(r)));
  if (flags.header === false) {
    const text = cells.map((r) => r.map(cellText).join('\t'));
    if (text.length > 0) process.stdout.write(`${text.join('\n')}\n`);
    return;
  }
  printTable(chosen.map((c) => c.header), cells);
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

function chooseColumns<T>(columns: Column<T>[], format: string | undefined): Column<T>[] {
  if (!format) return columns;
  return format.split(',').map((name) => {
    const column = columns.find((c) => norm(c.name) === norm(name));
    if (!column) throw new CliError(`unknown column ${name} in --format; columns are ${columns.map((c) => c.name).join(', ')}`, 2);
    return column;
  });
}

/** Examples at the end of --help. */
export function examples(command: Command, lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Bytes for people: 1536 → 1.5 KiB. */
export function humanBytes(n: number | null | undefined): string | undefined {
  if (n === null || n === undefined) return undefined;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Asks before destroying something; --force skips it, and without a terminal --force is required. */
export async function confirm(question: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  if (!process.stdin.isTTY) throw new CliError(`${question} Refusing without --force when not on a terminal.`, 2);
  const { promptLine } = await import('./prompt.js');
  const answer = await promptLine(`${question} [y/N] `);
  if (!/^y(es)?$/i.test(answer)) throw new CliError('cancelled');
}
