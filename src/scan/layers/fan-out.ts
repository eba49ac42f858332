import { PassThrough, type Writable } from 'node:stream';
import type { Detector, DetectorResult, LayerFile } from '../detect/detector.js';
import type { FileFinding } from './layer-inventory.js';

const BRANCH_HIGH_WATER_MARK = 64 * 1024;

/**
 * Streams one file's content to every detector that wants it, at the pace of
 * the slowest, and returns their findings in detector order. The content is
 * always read to its end (the tar parser needs that to reach the next entry),
 * whatever the detectors do: a detector that stops reading, returns early or
 * throws only loses its own branch.
 */
export async function detectFile(file: LayerFile, content: AsyncIterable<Buffer>, detectors: readonly Detector[]): Promise<FileFinding[]> {
  const branches = detectors.map(() => {
    const branch = new PassThrough({ highWaterMark: BRANCH_HIGH_WATER_MARK });
    branch.on('error', () => {}); // a detector's own failure reaches it through its reads
    return branch;
  });
  const findings = Promise.all(detectors.map((detector, i) => runDetector(detector, file, branches[i]!)));
  try {
    for await (const chunk of content) {
      for (const branch of branches) {
        if (!isOpen(branch)) continue;
        if (!branch.write(chunk)) await drainedOrClosed(branch);
      }
    }
  } catch (err) {
    // The layer itself failed: end the detectors' reads so none is left waiting.
    for (const branch of branches) branch.destroy();
    await findings;
    throw err;
  }
  for (const branch of branches) if (isOpen(branch)) branch.end();
  return findings;
}

async function runDetector(detector: Detector, file: LayerFile, branch: PassThrough): Promise<FileFinding> {
  try {
    return finding(detector.name, await detector.detect(file, branch));
  } catch (err) {
    return { detector: detector.name, notes: [`${file.path}: the ${detector.name} detector could not read it: ${(err as Error).message}`] };
  } finally {
    // Unread content would otherwise hold the fan-out waiting for a drain that never comes.
    if (!branch.readableEnded) branch.destroy();
  }
}

/** Leaves out empty fields, so stored inventories stay small and compare simply. */
function finding(detector: string, result: DetectorResult): FileFinding {
  return {
    detector,
    ...(result.packages?.length ? { packages: result.packages } : {}),
    ...(result.os ? { os: result.os } : {}),
    ...(result.notes?.length ? { notes: result.notes } : {}),
  };
}

function isOpen(branch: Writable): boolean {
  return !branch.destroyed && !branch.writableEnded;
}

function drainedOrClosed(branch: Writable): Promise<void> {
  if (!isOpen(branch)) return Promise.resolve();
  return new Promise((resolve) => {
    const settle = () => {
      branch.off('drain', settle);
      branch.off('close', settle);
      resolve();
    };
    branch.on('drain', settle);
    branch.on('close', settle);
  });
}
