/**
 * Randomised robustness: whatever comes in, only PosternError may come out, and whatever
 * validates is a fixed point of validation (validate(validate(x)) == validate(x)).
 */
import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { fieldValue, recordFieldsForDisplay } from './display.ts';
import { applyFieldAssignments, assignableFieldNames } from './field-assignments.ts';
import { newRecordData, validateRecordData, type RecordData } from './record-data.ts';
import { RECORD_TYPES, fieldPaths } from './record-types.ts';
import { VALID_FIELDS } from './testing/fixtures.ts';
import { mulberry32 as prng } from '../testing/prng.ts';

const SEED = 0x5eed;
const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

const KEYS = [
  ...new Set([
    ...RECORD_TYPES.flatMap((t) => fieldPaths(t).flatMap((p) => p.split('.'))),
    'type',
    'title',
    'fields',
    'custom',
    'notes',
    'label',
    'value',
    '__proto__',
    'constructor',
    'prototype',
    '',
    ' ',
    'toString',
    'x',
  ]),
];
const STRINGS = [
  '',
  ' ',
  'ssh',
  'SSH',
  'true',
  'FALSE',
  'yes',
  '22',
  '70000',
  'abc',
  '10.0.0.0/8',
  'fd00::/8',
  '2222=ssh',
  'https://example.com',
  'ftp://x',
  'AAAAAAAAAAAAAAAAAAAAAA',
  'daily',
  'cron:0 3 * * *',
  'noop',
  'NOOP',
  'Private Key Type',
  'ssh-ed25519',
  '-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----',
  '\u0000',
  '\n',
  '💥',
  'é',
  'x'.repeat(300),
  'y'.repeat(70000),
  '__proto__',
  'pamMachine',
  'login',
  'pamConfiguration',
  'local',
  'aws',
];

function randomString(): string {
  if (rnd() < 0.7) return pick(STRINGS);
  let s = '';
  const n = int(12);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rnd() < 0.8 ? 32 + int(95) : int(0x3000));
  return s;
}

function randomValue(depth: number): unknown {
  const r = rnd();
  if (depth > 4 || r < 0.35) {
    return pick<unknown>([null, undefined, true, false, 0, -1, 1, 22, 65535, 65536, 1.5, NaN, Infinity, -0, 1e21, randomString(), randomString()]);
  }
  if (r < 0.55) return Array.from({ length: int(5) }, () => randomValue(depth + 1));
  const o: Record<string, unknown> = {};
  const n = int(6);
  for (let i = 0; i < n; i++)
    Object.defineProperty(o, rnd() < 0.8 ? pick(KEYS) : randomString(), {
      value: randomValue(depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return o;
}

/** Record-shaped garbage: mostly valid scaffolding with random damage, to reach deep code paths. */
function randomRecord(): unknown {
  const r = rnd();
  if (r < 0.1) return randomValue(0);
  const type = rnd() < 0.9 ? pick(RECORD_TYPES) : randomValue(3);
  const fields: Record<string, unknown> =
    rnd() < 0.6 && typeof type === 'string' && type in VALID_FIELDS ? structuredClone(VALID_FIELDS[type as keyof typeof VALID_FIELDS]) : {};
  const damage = int(4);
  for (let i = 0; i < damage; i++) Object.defineProperty(fields, pick(KEYS), { value: randomValue(1), enumerable: true, writable: true, configurable: true });
  const rec: Record<string, unknown> = { type, title: rnd() < 0.8 ? 'T' : randomValue(3), fields: rnd() < 0.9 ? fields : randomValue(2) };
  if (rnd() < 0.5)
    rec['custom'] =
      rnd() < 0.7
        ? Array.from({ length: int(4) }, () => ({
            label: rnd() < 0.5 ? pick(['NOOP', 'shell', 'Private Key Type', 'Team']) : randomString(),
            value: randomValue(4),
          }))
        : randomValue(2);
  if (rnd() < 0.3) rec['notes'] = randomValue(4);
  if (rnd() < 0.1) rec[pick(KEYS)] = randomValue(3);
  return rec;
}

function expectOnlyPosternError(fn: () => unknown, input: unknown): unknown {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof PosternError)) {
      throw new Error(
        `non-PosternError for input ${(() => {
          try {
            return JSON.stringify(input).slice(0, 500);
          } catch {
            return String(input);
          }
        })()}: ${String(e)}`,
      );
    }
    expect(['bad_request', 'unknown_record_type']).toContain(e.code);
    expect(typeof e.message).toBe('string');
    return undefined;
  }
}

describe('fuzz (seed 0x5eed)', () => {
  it('validateRecordData: 2,000 random values throw only PosternError; valid output is a fixed point', () => {
    let ok = 0;
    for (let i = 0; i < 2000; i++) {
      const input = randomRecord();
      const out = expectOnlyPosternError(() => validateRecordData(input), input) as RecordData | undefined;
      if (out) {
        ok++;
        expect(validateRecordData(JSON.parse(JSON.stringify(out)))).toEqual(out);
        expect(() => recordFieldsForDisplay(out)).not.toThrow();
      }
    }
    expect(ok).toBeGreaterThan(50); // the generator does reach the success path
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('applyFieldAssignments: 2,000 random assignment lists throw only PosternError', () => {
    const bases = RECORD_TYPES.map((t) => newRecordData(t, 'T', VALID_FIELDS[t]));
    let ok = 0;
    for (let i = 0; i < 2000; i++) {
      const base = pick(bases);
      const names = [...assignableFieldNames(base.type), ...fieldPaths(base.type).map((p) => p.replace('<name>', randomString()))];
      const assignments = Array.from({ length: 1 + int(3) }, () => {
        const r = rnd();
        if (r < 0.15) return randomString();
        const name = r < 0.7 ? pick(names) : r < 0.8 ? `custom.${randomString()}` : randomString();
        const value = rnd() < 0.15 ? '' : rnd() < 0.5 ? pick(STRINGS) : randomString();
        return `${rnd() < 0.3 ? name.toUpperCase() : name}=${value}`;
      });
      const out = expectOnlyPosternError(() => applyFieldAssignments(base, assignments), assignments) as RecordData | undefined;
      if (out) {
        ok++;
        expect(validateRecordData(out)).toEqual(out);
        for (const row of recordFieldsForDisplay(out, { unmask: true })) expect(typeof fieldValue(out, row.name)).toBe('string');
      }
    }
    expect(ok).toBeGreaterThan(100);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('hostile non-JSON input', () => {
  it('throwing getters, proxies and cycles still give PosternError', () => {
    const getter = {
      type: 'login',
      get title(): string {
        throw new TypeError('boom');
      },
    };
    const proxy = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new RangeError('nope');
        },
        get: () => {
          throw new RangeError('nope');
        },
      },
    );
    const cyclic: Record<string, unknown> = { type: 'pamMachine', title: 'x' };
    cyclic['fields'] = { hostname: 'h', port: 1, pamSettings: { connection: cyclic } };
    for (const input of [getter, proxy, cyclic]) {
      expect(() => validateRecordData(input)).toThrow(PosternError);
      expect(() => applyFieldAssignments(input as unknown as RecordData, ['title=x'])).toThrow(PosternError);
    }
    const base = newRecordData('login', 'L');
    expect(() =>
      applyFieldAssignments(
        base,
        new Proxy([], {
          get: () => {
            throw new Error('x');
          },
        }) as unknown as string[],
      ),
    ).toThrow(PosternError);
  });
});
