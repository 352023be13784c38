import { describe, expect, it } from 'vitest';
import { MAX_SEEN_RECORDS, mergeSeenRevisions, SeenRevisions, type SeenRevisionEntry } from './seen-revisions.ts';

describe('SeenRevisions', () => {
  it('accepts the same or a newer revision and refuses an older one', () => {
    const seen = new SeenRevisions();
    seen.observe('r1', 1, 'one');
    seen.observe('r1', 1, 'one');
    seen.observe('r1', 3, 'three');
    expect(seen.revisionOf('r1')).toBe(3);
    expect(() => seen.observe('r1', 2, 'two')).toThrow(
      expect.objectContaining({ code: 'rollback_detected', details: { recordUid: 'r1', revision: 2, seenRevision: 3 } }),
    );
    expect(() => seen.observe('r1', 3, 'not three')).toThrow(expect.objectContaining({ code: 'rollback_detected' }));
    expect(seen.revisionOf('r1')).toBe(3);
  });

  it('round-trips through its entries and reports when it changed', () => {
    const seen = new SeenRevisions();
    seen.observe('a', 2, 'x');
    expect(seen.changed).toBe(true);
    const restored = new SeenRevisions(seen.entries());
    expect(restored.changed).toBe(false);
    expect(() => restored.observe('a', 1, 'old')).toThrow(expect.objectContaining({ code: 'rollback_detected' }));
    restored.observe('a', 2, 'x');
    expect(restored.changed).toBe(false);
  });

  it('stays bounded, forgetting the least recently seen records first', () => {
    const seen = new SeenRevisions();
    for (let i = 0; i <= MAX_SEEN_RECORDS; i++) seen.observe(`r${i}`, 1, 'd');
    expect(seen.entries()).toHaveLength(MAX_SEEN_RECORDS);
    expect(seen.revisionOf('r0')).toBeUndefined();
    expect(seen.revisionOf(`r${MAX_SEEN_RECORDS}`)).toBe(1);
  });

  it('merges two memories keeping the higher revision of each record', () => {
    const a: SeenRevisionEntry[] = [
      ['x', 3, 'dx3'],
      ['y', 1, 'dy1'],
    ];
    const b: SeenRevisionEntry[] = [
      ['x', 2, 'dx2'],
      ['y', 4, 'dy4'],
      ['z', 1, 'dz1'],
    ];
    expect(new Map(mergeSeenRevisions(a, b).map((e) => [e[0], e]))).toEqual(
      new Map([
        ['x', ['x', 3, 'dx3']],
        ['y', ['y', 4, 'dy4']],
        ['z', ['z', 1, 'dz1']],
      ]),
    );
  });
});
