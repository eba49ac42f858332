#!/usr/bin/env node
// Builds Berth's native modules (native/sendfile.c: zero-copy blob sends; native/receive.c: upload bodies read, hashed and written off the event loop; native/memory.c: malloc_trim)
// with the node-gyp that npm ships. It is optional: without it Berth sends blobs through
// reused userland buffers, so a machine without a C compiler still gets a working Berth.
// With CI=true (or BERTH_REQUIRE_NATIVE=1) a failed build fails, so tests never quietly
// cover only the fallback.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.env.CI === 'true' || process.env.BERTH_REQUIRE_NATIVE === '1';

if (process.platform !== 'linux') {
  console.log('native: not Linux; Berth sends blobs through userland buffers');
  process.exit(0);
}

const args = ['rebuild', '--directory', join(root, 'native')];
// Node's own headers, when the distribution installed them, spare node-gyp a download.
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const run = spawnSync(process.execPath, [nodeGyp(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (run.status === 0) {
  console.log('native: built native/build/Release/sendfile.node, receive.node and memory.node');
  process.exit(0);
}
process.stderr.write(run.stdout + run.stderr);
console.error(`native: the sendfile module did not build${required ? '' : '; Berth will send blobs through userland buffers'}`);
process.exit(required ? 1 : 0);

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  // npm's bundled copy, next to the npm that runs this (or the one on this machine).
  const candidates = [join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of the project: fine
  }
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    console.error('native: node-gyp not found (it ships with npm)');
    process.exit(required ? 1 : 0);
  }
  return found;
}
