import { describe, expect, it } from 'vitest';
import { PosternError, UsageError } from '../../core/errors.ts';
import { redactDatabaseUrl } from './commands/server.ts';
import { CliError, describeError, Output, printable, relativeTime, reportError, whenText, type CliIo } from './output.ts';

function capture(): CliIo & { text: () => { out: string; err: string } } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (c: string | Uint8Array) => (out += String(c)) },
    stderr: { write: (c: string) => (err += c) },
    stdin: process.stdin,
    env: {},
    text: () => ({ out, err }),
  };
}

describe('CLI output', () => {
  it('escapes terminal control sequences that came from a vault', () => {
    expect(printable('db\u001b]0;pwned\u0007\nroot\u202e')).toBe('db\\u001b]0;pwned\\u0007\\nroot\\u202e');
    const io = capture();
    new Output(io, false).table(['TITLE'], [['a\u001b[2Jb']]);
    expect(io.text().out).toBe('TITLE\na\\u001b[2Jb\n');
  });

  it('aligns columns and prints JSON unchanged with --json', () => {
    const human = capture();
    new Output(human, false).table(
      ['UID', 'TITLE'],
      [
        ['a', 'x'],
        ['bbbb', 'y'],
      ],
    );
    expect(human.text().out).toBe('UID   TITLE\na     x\nbbbb  y\n');
    const json = capture();
    new Output(json, true).result({ title: 'a\u001bb' }, () => {
      throw new Error('not called');
    });
    expect(JSON.parse(json.text().out)).toEqual({ title: 'a\u001bb' });
  });

  it('maps errors to codes and exit codes', () => {
    expect(describeError(new UsageError('bad flag'))).toMatchObject({ code: 'bad_request', exitCode: 2 });
    expect(describeError(new PosternError('not_allowed', 'no'))).toMatchObject({ code: 'not_allowed', exitCode: 1 });
    expect(describeError(Object.assign(new Error('ENOENT: no such file, open x'), { code: 'ENOENT', syscall: 'open' }))).toMatchObject({
      code: 'bad_request',
      exitCode: 1,
    });
    expect(describeError(new Error('boom'))).toMatchObject({ code: 'internal', exitCode: 1 });
    const io = capture();
    reportError(io, false, { code: 'bad_request', message: 'two problems', details: { issues: [{ message: 'a: x' }, { message: 'b: y' }] }, exitCode: 1 });
    expect(io.text().err).toBe('postern: two problems (bad_request)\n  - a: x\n  - b: y\n');
  });

  it('never shows a database password', () => {
    expect(redactDatabaseUrl('postgres://postern:s3cret@db.internal:5432/postern')).toBe('postgres://postern:***@db.internal:5432/postern');
    expect(redactDatabaseUrl('/var/lib/postern/postern.db')).toBe('/var/lib/postern/postern.db');
  });

  it('says times relative to now, with the ISO time beside them', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(relativeTime(now - 2_000, now)).toBe('just now');
    expect(relativeTime(now - 45_000, now)).toBe('45 seconds ago');
    expect(relativeTime(now - 60_000, now)).toBe('1 minute ago');
    expect(relativeTime(now + 2 * 3_600_000 + 5, now)).toBe('in 2 hours');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 days ago');
    expect(relativeTime(now + 400 * 86_400_000, now)).toBe('in 1 year');
    expect(whenText(now - 60_000, now)).toBe('1 minute ago (2026-01-01T11:59:00.000Z)');
    expect(whenText(null, now)).toBe('');
  });

  it('reports gateway outcomes and job results with their own codes, exit 1', () => {
    expect(describeError(new CliError('controller_down', 'The gateway is down.', { gatewayUid: 'x' }))).toEqual({
      code: 'controller_down',
      message: 'The gateway is down.',
      details: { gatewayUid: 'x' },
      exitCode: 1,
    });
  });
});
