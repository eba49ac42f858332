import { describe, expect, it } from 'vitest';
import { parseServer } from '../../src/cli/cli-config.js';
import { parseScope } from '../../src/cli/commands/tokens.js';

describe('parseScope', () => {
  it('registry:actions and registry/glob:actions', () => {
    expect(parseScope('team-a:pull,push')).toEqual({ registry: 'team-a', actions: ['pull', 'push'] });
    expect(parseScope('team-b/app/*:pull')).toEqual({ registry: 'team-b', repositories: 'team-b/app/*', actions: ['pull'] });
    expect(parseScope('*:pull')).toEqual({ registry: '*', actions: ['pull'] });
  });

  it('rejects missing or unknown actions', () => {
    expect(() => parseScope('team-a')).toThrow(/registry\[\/repository-glob\]:actions/);
    expect(() => parseScope('team-a:')).toThrow();
    expect(() => parseScope(':pull')).toThrow();
    expect(() => parseScope('team-a:pull,fly')).toThrow(/unknown action fly/);
  });
});

describe('parseServer', () => {
  it('http:// for loopback, https:// otherwise, unless a scheme is given', () => {
    expect(parseServer('127.0.0.1:5000')).toEqual({ url: 'http://127.0.0.1:5000', key: '127.0.0.1:5000' });
    expect(parseServer('localhost:5000').url).toBe('http://localhost:5000');
    expect(parseServer('registry.example.com')).toEqual({ url: 'https://registry.example.com', key: 'registry.example.com' });
    expect(parseServer('registry.example.com:8443').url).toBe('https://registry.example.com:8443');
    expect(parseServer('http://registry.example.com:5000/')).toEqual({ url: 'http://registry.example.com:5000', key: 'registry.example.com:5000' });
    expect(() => parseServer('ftp://x')).toThrow(/unsupported scheme/);
  });
});
