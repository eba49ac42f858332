import { CliError } from './api-client.js';

/** Reading secrets: from stdin for scripts, or from a terminal prompt that does not echo. */


/** All of stdin, without the trailing newline `echo` adds. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function readPassword(fromStdin: boolean | undefined, prompt: string, confirm = false): Promise<string> {
  if (fromStdin) return readStdin();
  if (!process.stdin.isTTY) throw new CliError('no password given: use --password-stdin, or run on a terminal to be prompted', 2);
  const first = await promptHidden(prompt);
  if (confirm && (await promptHidden('Repeat it: ')) !== first) throw new CliError('the passwords do not match');
  return first;
}

export async function promptLine(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}

/** A prompt in raw mode: typed characters are never echoed. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CliError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
