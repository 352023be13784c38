import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { createGatewayLog, prettyLine } from './logger.ts';
import { recordSecretValues } from './record-secrets.ts';
import { MIN_SECRET_LENGTH, REDACTED, SecretScrubber } from './scrubber.ts';

const CANARY = 'canary-Pa55w0rd-7f3e9b';
const QUOTED = 'say "hi"\\back\nslash-canary';

describe('SecretScrubber', () => {
  it('replaces every registered secret, longest first, and ignores very short values', () => {
    const s = new SecretScrubber();
    s.add(CANARY, 'abc', '', null, undefined, 'canary-Pa55');
    expect(s.has('abc')).toBe(false);
    expect(MIN_SECRET_LENGTH).toBeGreaterThan(3);
    expect(s.scrub(`pw=${CANARY}; again ${CANARY}; part canary-Pa55 abc`)).toBe(`pw=${REDACTED}; again ${REDACTED}; part ${REDACTED} abc`);
    expect(s.scrub('nothing here')).toBe('nothing here');
    expect(new SecretScrubber().scrub(CANARY)).toBe(CANARY);
  });

  it('finds secrets in their JSON-escaped and URL-encoded forms', () => {
    const s = new SecretScrubber();
    s.add(QUOTED, 'p@ss word/+canary');
    const line = JSON.stringify({ msg: 'x', value: QUOTED, nested: JSON.stringify({ v: QUOTED }) });
    expect(line).not.toContain(QUOTED);
    const clean = s.scrub(line);
    expect(clean).not.toContain('slash-canary');
    expect(s.scrub(`https://h/?p=${encodeURIComponent('p@ss word/+canary')}`)).toBe(`https://h/?p=${REDACTED}`);
    expect(s.scrub('a.b*c(d)')).toBe('a.b*c(d)'); // regex metacharacters in text are harmless
    s.add('a.b*c(d)');
    expect(s.scrub('x a.b*c(d) y')).toBe(`x ${REDACTED} y`);
  });

  it('scrubs an error message, its stack and its cause', () => {
    const s = new SecretScrubber();
    s.add(CANARY);
    const inner = new Error(`inner failure with ${CANARY}`);
    const err = new Error(`could not log in as root/${CANARY}`, { cause: inner });
    expect(err.stack).toContain(CANARY);
    const text = s.scrubError(err);
    expect(text).not.toContain(CANARY);
    expect(text).toContain('could not log in as root/[REDACTED]');
    expect(text).toContain('inner failure with [REDACTED]');
    expect(text).toMatch(/at .*scrubber\.test\.ts/); // the stack itself is kept
    const copy = s.scrubbedError(err);
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).not.toContain(CANARY);
    expect(copy.stack).not.toContain(CANARY);
    expect(String((copy.cause as Error).stack)).not.toContain(CANARY);
    expect(s.scrubError('plain string ' + CANARY)).toBe(`plain string ${REDACTED}`);
  });

  it('can forget a secret', () => {
    const s = new SecretScrubber();
    s.add(CANARY);
    s.remove(CANARY);
    expect(s.scrub(CANARY)).toBe(CANARY);
    expect(s.size).toBe(0);
  });

  it('knows which values of a record are secrets', () => {
    const user = newRecordData('pamUser', 'root', { login: 'root', password: CANARY }, [
      { label: 'Client Secret', value: 'custom-canary-1' },
      { label: 'Note', value: 'not secret' },
    ]);
    expect(recordSecretValues(user).sort()).toEqual([CANARY, 'custom-canary-1'].sort());
    const uid = 'AAAAAAAAAAAAAAAAAAAAAA';
    const config = newRecordData('pamConfiguration', 'aws', {
      environment: 'aws',
      gatewayUid: uid,
      applicationFolderUid: uid,
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 'aws-secret-canary',
    });
    expect(recordSecretValues(config)).toEqual(['aws-secret-canary']);
  });
});

describe('gateway log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-gw-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes scrubbed JSON lines to a 0600 file in a 0700 directory, and pretty lines on the console', async () => {
    const logDir = join(dir, 'logs');
    const scrubber = new SecretScrubber();
    const consoleLines: string[] = [];
    const log = createGatewayLog({ dir: logDir, level: 'info', console: 'pretty', consoleStream: { write: (s: string) => consoleLines.push(s) }, scrubber });
    scrubber.add(CANARY);
    log.logger.info({ detail: `the value ${CANARY}` }, `message with ${CANARY}`);
    log.logger.warn({ err: new Error(`boom ${CANARY}`) }, 'an error object');
    log.logger.error({ err: scrubber.scrubError(new TypeError(`typed ${CANARY}`)) }, 'an error as text');
    log.logger.info({ password: 'not-registered-but-a-password-key', nested: { privateKey: 'pk-value-xyz' } }, 'keys that are secrets by name');
    log.logger.debug({}, 'not at info level');
    log.setLevel('debug');
    log.logger.debug({}, 'now at debug level');
    expect(log.level).toBe('debug');
    await log.close();

    const text = readFileSync(join(logDir, 'gateway.log'), 'utf8');
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain('not-registered-but-a-password-key');
    expect(text).not.toContain('pk-value-xyz');
    expect(text).toContain('message with [REDACTED]');
    expect(text).toContain('boom [REDACTED]');
    expect(text).not.toContain('not at info level');
    expect(text).toContain('now at debug level');
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ service: 'postern-gateway', level: 30, msg: 'message with [REDACTED]' });
    expect(statSync(join(logDir, 'gateway.log')).mode & 0o777).toBe(0o600);
    expect(statSync(logDir).mode & 0o777).toBe(0o700);
    expect(consoleLines.join('')).not.toContain(CANARY);
    expect(consoleLines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}message with \[REDACTED\]/);
  });

  it('rotates by size, keeps a bounded number of gzipped files', async () => {
    const logDir = join(dir, 'rotating');
    const log = createGatewayLog({ dir: logDir, level: 'info', console: 'none', scrubber: new SecretScrubber(), rotation: { size: '2K', maxFiles: 3 } });
    for (let i = 0; i < 200; i++) {
      log.logger.info({ i, filler: 'x'.repeat(100) }, 'line');
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    await log.close();
    const files = readdirSync(logDir);
    const rotated = files.filter((f) => f.endsWith('.gz'));
    expect(files).toContain('gateway.log');
    expect(rotated.length).toBeGreaterThanOrEqual(1);
    expect(rotated.length).toBeLessThanOrEqual(3);
    for (const f of rotated) expect(statSync(join(logDir, f)).mode & 0o077).toBe(0);
  });

  it('formats lines for a person', () => {
    expect(prettyLine(JSON.stringify({ level: 40, time: Date.UTC(2024, 0, 1, 12, 3, 4), msg: 'hello', code: 'x_y', n: 3, pid: 1 }))).toBe(
      '12:03:04 WARN  hello  code=x_y n=3\n',
    );
    expect(prettyLine('not json')).toBe('not json\n');
  });
});
