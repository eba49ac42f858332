import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LayerFile } from './detector.js';
import { MAX_HEADER_BYTES, pythonDetector } from './python.js';

const file = (path: string, size = 1000): LayerFile => ({ path, size, mode: 0o644 });
const detect = (path: string, text: string | Buffer) => pythonDetector.detect(file(path), Readable.from([Buffer.from(text)]));

// As pip writes it for a wheel: headers, a blank line, then the README as the body.
const REQUESTS_METADATA = `Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
License: Apache 2.0
Classifier: License :: OSI Approved :: Apache Software License
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer (<4,>=2)

# Requests

Name: not-a-header
Version: 0.0.0
`;

// Debian's python3-gi ships this as a single file, dist-packages/PyGObject-3.42.2.egg-info.
const PYGOBJECT_EGG_INFO = `Metadata-Version: 2.1
Name: PyGObject
Version: 3.42.2
Summary: Python bindings for GObject Introspection
License: GNU LGPL
Platform: POSIX, Windows
Classifier: License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)
Requires-Python: >=3.6, <4
`;

describe('python detector: which files', () => {
  it.each([
    'usr/local/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA',
    'usr/lib/python3/dist-packages/PyGObject-3.42.2.egg-info',
    'usr/lib/python3/dist-packages/cryptography.egg-info/PKG-INFO',
    'opt/venv/lib/python3.11/site-packages/setuptools-40.0.0-py3.7.egg/EGG-INFO/PKG-INFO',
  ])('wants %s', (path) => expect(pythonDetector.wants(file(path))).toBe(true));

  it.each([
    'usr/local/lib/python3.12/site-packages/requests-2.31.0.dist-info/RECORD',
    'usr/local/lib/python3.12/site-packages/requests/METADATA',
    'src/requests-2.31.0/PKG-INFO', // an unpacked sdist, not an installed package
    'usr/lib/python3/dist-packages/cryptography.egg-info/requires.txt',
  ])('skips %s', (path) => expect(pythonDetector.wants(file(path))).toBe(false));
});

describe('python detector: metadata', () => {
  it('reads a wheel METADATA up to the blank line, never the description', async () => {
    const path = 'usr/local/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA';
    expect(await detect(path, REQUESTS_METADATA)).toEqual({
      packages: [{ ecosystem: 'PyPI', versionScheme: 'pep440', name: 'requests', version: '2.31.0', location: path, licenses: ['Apache 2.0'] }],
    });
  });

  it('reads an .egg-info file (PKG-INFO without a body)', async () => {
    const path = 'usr/lib/python3/dist-packages/PyGObject-3.42.2.egg-info';
    expect(await detect(path, PYGOBJECT_EGG_INFO)).toEqual({
      packages: [{ ecosystem: 'PyPI', versionScheme: 'pep440', name: 'PyGObject', version: '3.42.2', location: path, licenses: ['GNU LGPL'] }],
    });
  });

  it('prefers License-Expression (metadata 2.4) to License and classifiers', async () => {
    const text = 'Metadata-Version: 2.4\nName: attrs\nVersion: 24.2.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n\nbody\n';
    const { packages } = await detect('x/attrs-24.2.0.dist-info/METADATA', text);
    expect(packages?.[0]?.licenses).toEqual(['MIT OR Apache-2.0']);
  });

  it('takes license names from classifiers when License holds the full text (folded lines)', async () => {
    const text = [
      'Metadata-Version: 2.1',
      'Name: scipy',
      'Version: 1.11.4',
      'License: Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers.',
      '         All rights reserved.',
      '        ',
      '         Redistribution and use in source and binary forms...',
      'Classifier: License :: OSI Approved :: BSD License',
      'Classifier: Programming Language :: Python',
      'Classifier: License :: OSI Approved',
      '',
      'SciPy (pronounced "Sigh Pie") is open-source software...',
    ].join('\n');
    const { packages } = await detect('x/scipy-1.11.4.dist-info/METADATA', text);
    expect(packages?.[0]).toMatchObject({ name: 'scipy', version: '1.11.4', licenses: ['BSD License'] });
  });

  it('reports no licenses for License: UNKNOWN without classifiers', async () => {
    const { packages } = await detect('x/foo.egg-info/PKG-INFO', 'Metadata-Version: 1.0\nName: foo\nVersion: 0.1\nLicense: UNKNOWN\n');
    expect(packages).toEqual([{ ecosystem: 'PyPI', versionScheme: 'pep440', name: 'foo', version: '0.1', location: 'x/foo.egg-info/PKG-INFO' }]);
  });

  it('reads CRLF files', async () => {
    const { packages } = await detect('x/foo-1.0.dist-info/METADATA', 'Name: foo\r\nVersion: 1.0rc1\r\nLicense: MIT\r\n\r\nName: body\r\n');
    expect(packages?.[0]).toMatchObject({ name: 'foo', version: '1.0rc1', licenses: ['MIT'] });
  });

  it('finds a blank line split across chunks and stops reading there', async () => {
    let pulled = 0;
    async function* chunks() {
      for (const part of ['Name: foo\nVersion: 2.0\n', '\r', '\nbody line\n']) {
        pulled++;
        yield Buffer.from(part);
      }
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield Buffer.alloc(64 * 1024, 0x61);
      }
    }
    const stream = Readable.from(chunks());
    const { packages } = await pythonDetector.detect(file('x/foo-2.0.dist-info/METADATA'), stream);
    expect(packages?.[0]).toMatchObject({ name: 'foo', version: '2.0' });
    expect(pulled).toBeLessThan(10);
    expect(stream.destroyed).toBe(true);
  });

  it('throws (a note for this file) when Name or Version is missing', async () => {
    await expect(detect('x/foo.egg-info/PKG-INFO', 'Metadata-Version: 2.1\nName: foo\n\nVersion: 1.0\n')).rejects.toThrow(/no Name or Version/);
    await expect(detect('x/foo.egg-info/PKG-INFO', Buffer.from([0x00, 0xff, 0xfe]))).rejects.toThrow(/no Name or Version/);
  });

  it('refuses headers larger than the cap', async () => {
    const huge = `Name: foo\nVersion: 1\nDescription: ${'x'.repeat(MAX_HEADER_BYTES)}\n\nbody`;
    await expect(detect('x/foo-1.dist-info/METADATA', huge)).rejects.toThrow(/larger than/);
  });
});
