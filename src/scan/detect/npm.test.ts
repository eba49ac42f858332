import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LayerFile } from './detector.js';
import { MAX_LOCK_FILE_BYTES, MAX_PACKAGE_JSON_BYTES, npmDetector } from './npm.js';

const file = (path: string, size = 1000): LayerFile => ({ path, size, mode: 0o644 });
const detect = (path: string, json: unknown) =>
  npmDetector.detect(file(path), Readable.from([Buffer.from(typeof json === 'string' ? json : JSON.stringify(json))]));
const npm = (name: string, version: string, location: string, licenses?: string[]) => ({
  ecosystem: 'npm',
  versionScheme: 'semver',
  name,
  version,
  location,
  ...(licenses ? { licenses } : {}),
});

describe('npm detector: which files', () => {
  it.each([
    'app/node_modules/express/package.json',
    'node_modules/@babel/core/package.json',
    'usr/lib/node_modules/npm/node_modules/semver/package.json',
    'app/node_modules/a/node_modules/@types/node/package.json',
    'app/node_modules/.pnpm/lodash@4.17.21/node_modules/lodash/package.json',
    'app/package-lock.json',
    'package-lock.json',
    'srv/api/npm-shrinkwrap.json',
  ])('wants %s', (path) => expect(npmDetector.wants(file(path))).toBe(true));

  it.each([
    'app/package.json', // the application's own manifest: not an installed package
    'app/node_modules/x/lib/package.json',
    'app/node_modules/x/test/fixtures/y/package.json',
    'app/node_modules/uuid/dist/esm-node/package.json',
    'app/node_modules/@scope/package.json',
    'app/node_modules/.bin/package.json',
    'app/node_modules/.package-lock.json',
    'app/node_modules/x/package-lock.json', // describes an install node_modules already shows
    'app/node_modules/x/npm-shrinkwrap.json',
    'app/node_modules/x/package.json.bak',
  ])('skips %s', (path) => expect(npmDetector.wants(file(path))).toBe(false));
});

describe('npm detector: installed package.json', () => {
  it('reports name, version and license', async () => {
    const path = 'app/node_modules/express/package.json';
    const manifest = { name: 'express', version: '4.18.2', license: 'MIT', description: 'Fast, unopinionated, minimalist web framework', dependencies: { accepts: '~1.3.8' } };
    expect(await detect(path, manifest)).toEqual({ packages: [npm('express', '4.18.2', path, ['MIT'])] });
  });

  it('reads scoped names and old license forms', async () => {
    const path = 'node_modules/@scope/pkg/package.json';
    const manifest = { name: '@scope/pkg', version: '1.0.0-beta.1', license: { type: 'BSD-3-Clause' }, licenses: [{ type: 'MIT' }, 'BSD-3-Clause'] };
    expect(await detect(path, manifest)).toEqual({ packages: [npm('@scope/pkg', '1.0.0-beta.1', path, ['BSD-3-Clause', 'MIT'])] });
  });

  it('reports the name in the file for an aliased install (node_modules/foo holding bar)', async () => {
    const path = 'app/node_modules/foo/package.json';
    expect(await detect(path, { name: 'bar', version: '2.0.0' })).toEqual({ packages: [npm('bar', '2.0.0', path)] });
  });

  it('reports nothing for a package.json without a name or version', async () => {
    expect(await detect('app/node_modules/x/package.json', { name: 'x' })).toEqual({ packages: [] });
    expect(await detect('app/node_modules/x/package.json', { version: '1.0.0', private: true })).toEqual({ packages: [] });
  });

  it('throws (a note for this file) on malformed JSON or a non-object', async () => {
    await expect(detect('app/node_modules/x/package.json', '{"name": "x",')).rejects.toThrow(SyntaxError);
    await expect(detect('app/node_modules/x/package.json', '["x"]')).rejects.toThrow(/not a JSON object/);
  });

  it('refuses a package.json larger than the cap', async () => {
    const big = JSON.stringify({ name: 'x', version: '1.0.0', readme: 'x'.repeat(MAX_PACKAGE_JSON_BYTES) });
    await expect(detect('app/node_modules/x/package.json', big)).rejects.toThrow(/larger than/);
  });
});

describe('npm detector: lock files', () => {
  const at = 'srv/app/package-lock.json';

  it('lockfileVersion 1: walks the nested dependencies tree', async () => {
    const lock = {
      name: 'app',
      version: '1.0.0',
      lockfileVersion: 1,
      requires: true,
      dependencies: {
        accepts: { version: '1.3.8', resolved: 'https://registry.npmjs.org/accepts/-/accepts-1.3.8.tgz', integrity: 'sha512-x' },
        debug: {
          version: '2.6.9',
          dependencies: { ms: { version: '2.0.0' } },
        },
        ms: { version: '2.1.3' },
        jest: { version: '29.7.0', dev: true, dependencies: { 'jest-cli': { version: '29.7.0', dev: true } } },
        'string-width-cjs': { version: 'npm:string-width@4.2.3' },
        '@my/alias': { version: 'npm:@scope/real@1.2.3' },
        'from-github': { version: 'github:user/repo#0123456789abcdef', from: 'github:user/repo' },
        'from-disk': { version: 'file:../from-disk' },
        bundled: { version: '1.0.0', bundled: true },
        again: { version: '1.3.8', dependencies: { accepts: { version: '1.3.8' } } },
      },
    };
    expect(await detect(at, lock)).toEqual({
      packages: [
        npm('accepts', '1.3.8', at),
        npm('debug', '2.6.9', at),
        npm('ms', '2.0.0', at),
        npm('ms', '2.1.3', at),
        npm('string-width', '4.2.3', at),
        npm('@scope/real', '1.2.3', at),
        npm('bundled', '1.0.0', at),
        npm('again', '1.3.8', at),
      ],
    });
  });

  const packagesMap = {
    '': { name: 'app', version: '1.0.0', workspaces: ['packages/*'], dependencies: { express: '^4.18.2' } },
    'node_modules/express': { version: '4.18.2', resolved: 'https://registry.npmjs.org/express/-/express-4.18.2.tgz', license: 'MIT' },
    'node_modules/debug': { version: '2.6.9', license: 'MIT' },
    'node_modules/debug/node_modules/ms': { version: '2.0.0', license: 'MIT' },
    'node_modules/send/node_modules/ms': { version: '2.0.0', license: 'MIT' },
    'node_modules/ms': { version: '2.1.3', license: 'MIT' },
    'node_modules/@babel/core': { version: '7.23.0', dev: true, license: 'MIT' },
    'node_modules/fsevents': { version: '2.3.3', optional: true, os: ['darwin'], license: 'MIT' },
    'node_modules/string-width-cjs': { name: 'string-width', version: '4.2.3', license: 'MIT' },
    'node_modules/@app/shared': { resolved: 'packages/shared', link: true },
    'packages/shared': { name: '@app/shared', version: '0.0.1' },
    'packages/shared/node_modules/lodash': { version: '4.17.21', license: 'MIT' },
    'node_modules/no-version': {},
  };

  it('lockfileVersion 2: reads `packages`, not the v1 `dependencies` kept beside it', async () => {
    const lock = { name: 'app', lockfileVersion: 2, packages: packagesMap, dependencies: { ignored: { version: '9.9.9' } } };
    expect(await detect(at, lock)).toEqual({
      packages: [
        npm('express', '4.18.2', at, ['MIT']),
        npm('debug', '2.6.9', at, ['MIT']),
        npm('ms', '2.0.0', at, ['MIT']),
        npm('ms', '2.1.3', at, ['MIT']),
        npm('fsevents', '2.3.3', at, ['MIT']),
        npm('string-width', '4.2.3', at, ['MIT']),
        npm('lodash', '4.17.21', at, ['MIT']),
      ],
    });
  });

  it('lockfileVersion 3 and npm-shrinkwrap.json read the same way', async () => {
    const path = 'srv/app/npm-shrinkwrap.json';
    const { packages } = await detect(path, { name: 'app', lockfileVersion: 3, packages: packagesMap });
    expect(packages?.map((p) => `${p.name}@${p.version}`)).toEqual(['express@4.18.2', 'debug@2.6.9', 'ms@2.0.0', 'ms@2.1.3', 'fsevents@2.3.3', 'string-width@4.2.3', 'lodash@4.17.21']);
    expect(packages?.every((p) => p.location === path)).toBe(true);
  });

  it('reports nothing for a lock file of a project without dependencies', async () => {
    expect(await detect(at, { name: 'app', lockfileVersion: 3, packages: { '': { name: 'app', version: '1.0.0' } } })).toEqual({ packages: [] });
    expect(await detect(at, { name: 'app', lockfileVersion: 1 })).toEqual({ packages: [] });
  });

  it('throws on malformed JSON; refuses a lock file larger than the cap', async () => {
    await expect(detect(at, '{"lockfileVersion": 3, "packages": {')).rejects.toThrow(SyntaxError);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const chunks = Array.from({ length: MAX_LOCK_FILE_BYTES / chunk.length + 1 }, () => chunk);
    await expect(npmDetector.detect(file(at), Readable.from(chunks))).rejects.toThrow(/larger than/);
  });
});
