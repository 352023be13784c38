import { describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { redactDatabaseUrl } from './commands/server.ts';
import { describeError, Output, printable, reportError, UsageError, type CliIo } from './output.ts';

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
    new Output(human, false).table(['UID', 'TITLE'], [['a', 'x'], ['bbbb', 'y']]);
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
    expect(describeError(Object.assign(new Error('ENOENT: no such file, open x'), { code: 'ENOENT', syscall: 'open' }))).toMatchObject({ code: 'bad_request', exitCode: 1 });
    expect(describeError(new Error('boom'))).toMatchObject({ code: 'internal', exitCode: 1 });
    const io = capture();
    reportError(io, false, { code: 'bad_request', message: 'two problems', details: { issues: [{ message: 'a: x' }, { message: 'b: y' }] }, exitCode: 1 });
    expect(io.text().err).toBe('postern: two problems (bad_request)\n  - a: x\n  - b: y\n');
  });

  it('never shows a database password', () => {
    expect(redactDatabaseUrl('postgres://postern:s3cret@db.internal:5432/postern')).toBe('postgres://postern:***@db.internal:5432/postern');
    expect(redactDatabaseUrl('/var/lib/postern/postern.db')).toBe('/var/lib/postern/postern.db');
  });
});
