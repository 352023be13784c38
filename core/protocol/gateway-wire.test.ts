import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { generateAesKey } from '../crypto/index.ts';
import { newUid } from '../ids.ts';
import { decodeGatewayFrame, gatewayToRouterSchema, MAX_GATEWAY_FRAME_BYTES } from './gateway-wire.ts';
import { JOB_LINE_MAX, JOB_LINE_WIRE_MAX, JOB_MESSAGE_MAX, jobLogKey, sealJobLine, sealJobMessage } from './job-log.ts';
import { mulberry32 } from '../testing/prng.ts';

/** What the schema alone says about a frame: the reference the hand-checked path must match. */
function bySchema(text: string): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const parsed = gatewayToRouterSchema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false };
}

function decoded(text: string): { ok: true; value: unknown } | { ok: false; error: PosternError } {
  try {
    return { ok: true, value: decodeGatewayFrame(text) };
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    return { ok: false, error: err as PosternError };
  }
}

const VALUES: unknown[] = [
  0,
  1,
  -1,
  7.5,
  2 ** 53,
  2 ** 53 - 1,
  Number.POSITIVE_INFINITY,
  -0,
  '',
  'x',
  'a'.repeat(64),
  'a'.repeat(65),
  'm'.repeat(2000),
  'm'.repeat(2001),
  null,
  true,
  false,
  [],
  {},
  ['ok'],
  { nested: 1 },
  'ok',
  'timeout',
  'controller_down',
  'OK',
  'bad_state',
  'nope',
];

describe('gateway wire decoding', () => {
  it('decodes the frequent frames to exactly what the schema yields', () => {
    const cases = [
      '{"t":"ping","id":3}',
      '{"t":"pong","id":0,"extra":"dropped"}',
      '{"t":"result","id":"17","code":"ok"}',
      '{"t":"result","id":"17","code":"ok","data":{"version":"0.1.0"},"message":"done"}',
      '{"t":"result","id":"17","code":"timeout","data":null}',
    ];
    for (const text of cases) {
      const reference = bySchema(text);
      expect(reference.ok).toBe(true);
      expect(decodeGatewayFrame(text)).toStrictEqual((reference as { value: unknown }).value);
    }
  });

  it('refuses malformed frames with a typed error that says where', () => {
    const refused = (text: unknown) => {
      try {
        decodeGatewayFrame(text);
      } catch (err) {
        return err as PosternError;
      }
      throw new Error(`accepted ${String(text)}`);
    };
    expect(refused(new Uint8Array(3)).message).toBe('Gateway frames must be text.');
    expect(refused('{').message).toBe('Gateway frame is not JSON.');
    expect(refused('x'.repeat(MAX_GATEWAY_FRAME_BYTES + 1)).code).toBe('payload_too_large');
    expect(refused('{"t":"ping","id":-1}').message).toMatch(/^Gateway frame is malformed at id/);
    expect(refused('{"t":"ping","id":1.5}').code).toBe('bad_request');
    expect(refused('{"t":"result","id":"","code":"ok"}').message).toMatch(/at id/);
    expect(refused('{"t":"result","id":"1","code":"fine"}').message).toMatch(/at code/);
    expect(refused('{"t":"result","id":"1","code":"ok","message":7}').message).toMatch(/at message/);
    expect(refused('{"t":"launch"}').code).toBe('bad_request');
    expect(refused('[1,2]').code).toBe('bad_request');
  });

  it('carries a job update whose longest line and message are sealed, and nothing longer', async () => {
    const jobUid = newUid();
    const key = jobLogKey(generateAesKey(), jobUid);
    const line = await sealJobLine(key, jobUid, 12, '€'.repeat(JOB_LINE_MAX));
    const message = await sealJobMessage(key, jobUid, '€'.repeat(JOB_MESSAGE_MAX), 'host_key_mismatch');
    const frame = { t: 'job', job: { jobUid, status: 'failed', progress: 40, step: 'failed', message, log: [line] } };
    expect(decodeGatewayFrame(JSON.stringify(frame))).toStrictEqual(frame);
    const tooLong = { t: 'job', job: { jobUid, status: 'running', log: ['x'.repeat(JOB_LINE_WIRE_MAX + 1)] } };
    expect(() => decodeGatewayFrame(JSON.stringify(tooLong))).toThrow(/at job\.log\.0/);
  });

  it('agrees with the schema on 100,000 random and mutated frames', () => {
    const random = mulberry32(0x9e3779b9);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const kinds = ['ping', 'pong', 'result', 'job', 'auth', 'PING', '', 7, null];
    const keys = ['t', 'id', 'code', 'data', 'message', 'job', 'extra'];
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const frame: Record<string, unknown> = { t: pick(kinds) };
      for (const key of keys.slice(1)) if (random() < 0.6) frame[key] = pick(VALUES);
      if (random() < 0.5) frame['id'] = frame['t'] === 'result' ? String(Math.floor(random() * 1e6)) : Math.floor(random() * 1e6);
      if (random() < 0.5) frame['code'] = pick(['ok', 'bad_request', 'timeout', 'controller_down']);
      let text = JSON.stringify(random() < 0.1 ? pick(VALUES) : frame);
      // Byte-level damage on a tenth of them: the JSON parser's errors must come out typed too.
      if (random() < 0.1 && text.length > 0) {
        const at = Math.floor(random() * text.length);
        text = text.slice(0, at) + String.fromCharCode(Math.floor(random() * 128)) + text.slice(at + 1);
      }
      const reference = bySchema(text);
      const result = decoded(text);
      if (result.ok !== reference.ok || (result.ok && reference.ok && !isEqual(result.value, reference.value))) {
        throw new Error(`hand-checked and schema decoding disagree on ${text}`);
      }
      if (result.ok) accepted++;
    }
    // The generator must exercise both outcomes, or the comparison proves nothing.
    expect(accepted).toBeGreaterThan(10_000);
    expect(accepted).toBeLessThan(90_000);
  });
});

function isEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toStrictEqual(b);
    return true;
  } catch {
    return false;
  }
}
