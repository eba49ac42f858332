import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { environmentVariables, loadConfig, splitListen } from './load.js';

const file = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'berth-cfg-')), 'berth.yaml');
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('needs nothing: every setting has a default', () => {
    const c = loadConfig();
    expect(c.listen).toBe('0.0.0.0:5000');
    expect(c.data).toBe('./data');
    expect(c.log.level).toBe('info');
  });

  it('layers file < environment < flags', () => {
    const path = file('listen: 127.0.0.1:6000\ndata: /srv/a\nhttp:\n  idleTimeoutSeconds: 30\n');
    const c = loadConfig({
      file: path,
      env: { BERTH_DATA: '/srv/b', BERTH_HTTP_IDLE_TIMEOUT_SECONDS: '45' },
      flags: { data: '/srv/c' },
    });
    expect(c).toMatchObject({ listen: '127.0.0.1:6000', data: '/srv/c', http: { idleTimeoutSeconds: 45 } });
  });

  it('says which value is wrong and where it came from', () => {
    expect(() => loadConfig({ env: { BERTH_LISTEN: 'nope' } })).toThrowError(/listen \(from environment\): expected HOST:PORT/);
    expect(() => loadConfig({ flags: { listen: '1.2.3.4:70000' } })).toThrowError(/listen \(from command line\): port must be at most 65535/);
    expect(() => loadConfig({ file: file('log:\n  level: loud\n') })).toThrowError(/log\.level \(from config file .*\): Invalid enum value/);
    expect(() => loadConfig({ file: file('listn: x\n') })).toThrowError(/Unrecognized key\(s\) in object: 'listn'/);
    expect(() => loadConfig({ env: { BERTH_HTTP_IDLE_TIMEOUT_SECONDS: 'soon' } })).toThrowError(/http\.idleTimeoutSeconds .*Expected number/);
    expect(() => loadConfig({ env: { BERTH_LISTN: 'x' } })).toThrowError(/unknown environment variable BERTH_LISTN/);
    expect(() => loadConfig({ file: '/nonexistent/berth.yaml' })).toThrowError(/cannot read config file/);
    expect(() => loadConfig({ file: file('listen: [\n') })).toThrowError(/not valid YAML/);
  });

  it('derives one environment variable per setting', () => {
    expect(environmentVariables().map((v) => v.variable)).toEqual(
      expect.arrayContaining(['BERTH_LISTEN', 'BERTH_DATA', 'BERTH_LOG_LEVEL', 'BERTH_HTTP_IDLE_TIMEOUT_SECONDS', 'BERTH_STORAGE_SQLITE_SYNCHRONOUS']),
    );
  });

  it('splits listen addresses, IPv6 included', () => {
    expect(splitListen('0.0.0.0:5000')).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(splitListen('[::1]:5001')).toEqual({ host: '::1', port: 5001 });
    expect(splitListen(':5002')).toEqual({ host: '0.0.0.0', port: 5002 });
  });
});
