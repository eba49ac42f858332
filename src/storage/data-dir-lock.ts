import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One Berth process per data directory: the embedded default keeps upload
 * state and read caches in memory, so a second process on the same files
 * would see stale answers. The lock is a file holding the owner's pid; a lock
 * left by a process that no longer runs (a crash) is taken over.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'berth.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
        throw new Error(`data directory ${dir} is in use by another Berth process (pid ${owner}); stop it first, or use another --data`);
      }
      await unlink(path).catch(() => undefined); // stale: its owner is gone
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
