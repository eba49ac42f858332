import { describe, expect, it } from 'vitest';
import { orderByForeignKeys } from './table-order.js';

describe('orderByForeignKeys', () => {
  it('puts every table after the tables it references, keeping the input order otherwise', () => {
    const order = orderByForeignKeys([
      { name: 'tags', references: ['repositories', 'manifests'] },
      { name: 'manifests', references: ['repositories'] },
      { name: 'users', references: [] },
      { name: 'repositories', references: ['registries'] },
      { name: 'registries', references: [] },
      { name: 'team_members', references: ['teams', 'users'] },
      { name: 'teams', references: [] },
    ]);
    expect(order).toEqual(['users', 'registries', 'repositories', 'manifests', 'tags', 'teams', 'team_members']);
  });

  it('ignores self-references and references to tables outside the set', () => {
    expect(orderByForeignKeys([
      { name: 'a', references: ['a', 'elsewhere'] },
      { name: 'b', references: ['a'] },
    ])).toEqual(['a', 'b']);
  });

  it('refuses a cycle, naming the tables in it', () => {
    expect(() => orderByForeignKeys([
      { name: 'a', references: ['b'] },
      { name: 'b', references: ['a'] },
      { name: 'c', references: [] },
    ])).toThrow(/cycle.*a, b/);
  });
});
