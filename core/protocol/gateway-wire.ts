/**
 * Router ⇄ gateway messages on the gateway's outbound WebSocket (`/api/v1/gateway/connect`).
 * Text frames, one JSON object each, `t` naming the kind. Messages carry record UIDs and
 * commands only, never a secret: the gateway fetches what it needs through the secrets API.
 *
 *   Router  → gateway  challenge {nonce}                      (first frame, fresh per connection)
 *   gateway → Router   auth {clientId, nonce, timestamp, version, signature}
 *   Router  → gateway  ready {gatewayUid, heartbeatMs}  |  error {code, message} and close
 *   either  → either   ping {id} / pong {id}                   (JSON heartbeats, always answered)
 *   Router  → gateway  action {id, action, params, timeoutMs}  (id = conversation id; params: ./actions.ts)
 *   gateway → Router   result {id, code, data?, message?}
 *   gateway → Router   job {job: JobUpdate}                    (progress of long work)
 *
 * Heartbeats go both ways. Where both ends can (RouterLink, and the Router on Node) they are
 * WebSocket ping/pong control frames, which the WebSocket layer answers by itself; the JSON
 * ping/pong frames remain for a peer that cannot send or see control frames.
 */
import { z } from 'zod';
import { concatBytes, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';
import { JOB_LINE_WIRE_MAX, JOB_MESSAGE_WIRE_MAX, JOB_STEP_MAX } from './job-log.ts';
import { actionName, b64u, uid } from './vault-api.ts';

export const GATEWAY_WS_PATH = '/api/v1/gateway/connect';
export const MAX_GATEWAY_FRAME_BYTES = 256 * 1024;
/** Each side pings at this interval and drops a peer silent for HEARTBEAT_TIMEOUT_MS. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
export const HEARTBEAT_TIMEOUT_MS = 25_000;

/** The result codes of an action, as the vault sees them. */
export const ACTION_CODES = ['ok', 'bad_request', 'not_allowed', 'timeout', 'controller_down', 'wrong_instance', 'bad_state'] as const;
export type ActionCode = (typeof ACTION_CODES)[number];

export const JOB_STATUSES = ['running', 'finished', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** What the gateway signs to prove it holds the device key, bound to this connection's nonce. */
export function gatewayAuthBytes(nonce: string, timestamp: number, clientId: string): Uint8Array {
  return concatBytes(utf8(`postern/gateway-auth/v1\n${nonce}\n${timestamp}\n${clientId}`));
}

/**
 * An action frame is the same for every action: the gateway looks the name up and parses `params`
 * with that action's schema (./actions.ts), so an unknown name is answered by name, not dropped
 * as a malformed frame. The Router builds `params` as ActionParamsInput<N>.
 */
const params = z.record(z.string(), z.unknown());

/**
 * A job's progress. For a job on a record, log lines and the message are sealed to the record's
 * readers (./job-log.ts), hence their lengths; the step name is plaintext and never names a host
 * or a login.
 */
export const jobUpdateSchema = z.object({
  jobUid: uid(),
  status: z.enum(JOB_STATUSES),
  progress: z.number().min(0).max(100).optional(),
  step: z.string().max(JOB_STEP_MAX).optional(),
  log: z.array(z.string().max(JOB_LINE_WIRE_MAX)).max(200).optional(),
  message: z.string().max(JOB_MESSAGE_WIRE_MAX).optional(),
});
export type JobUpdate = z.infer<typeof jobUpdateSchema>;

export const gatewayToRouterSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('auth'), clientId: b64u(128), nonce: b64u(64), timestamp: z.number().int(), version: z.string().max(64), signature: b64u(128) }),
  z.object({ t: z.literal('ping'), id: z.number().int().nonnegative() }),
  z.object({ t: z.literal('pong'), id: z.number().int().nonnegative() }),
  z.object({
    t: z.literal('result'),
    id: z.string().min(1).max(64),
    code: z.enum(ACTION_CODES),
    data: z.unknown().optional(),
    message: z.string().max(2000).optional(),
  }),
  z.object({ t: z.literal('job'), job: jobUpdateSchema }),
]);
export type GatewayToRouter = z.infer<typeof gatewayToRouterSchema>;

export const routerToGatewaySchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('challenge'), nonce: b64u(64), routerTime: z.number().int() }),
  z.object({ t: z.literal('ready'), gatewayUid: uid(), heartbeatMs: z.number().int().positive() }),
  z.object({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(2000) }),
  z.object({ t: z.literal('ping'), id: z.number().int().nonnegative() }),
  z.object({ t: z.literal('pong'), id: z.number().int().nonnegative() }),
  z.object({ t: z.literal('action'), id: z.string().min(1).max(64), action: actionName(), params, timeoutMs: z.number().int().positive().max(3_600_000) }),
]);
export type RouterToGateway = z.infer<typeof routerToGatewaySchema>;

function parseFrame(text: unknown, who: string): unknown {
  if (typeof text !== 'string') throw new PosternError('bad_request', `${who} frames must be text.`);
  if (text.length > MAX_GATEWAY_FRAME_BYTES) throw new PosternError('payload_too_large', `${who} frame exceeds ${MAX_GATEWAY_FRAME_BYTES} bytes.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new PosternError('bad_request', `${who} frame is not JSON.`);
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown, who: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PosternError('bad_request', `${who} frame is malformed${issue ? ` at ${issue.path.join('.') || '(root)'}: ${issue.message}` : ''}.`);
  }
  return parsed.data;
}

const actionCodes: ReadonlySet<unknown> = new Set(ACTION_CODES);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Heartbeats and action results are nearly all of what a Worker holding 10,000 gateways reads
 * (test/bench/gateways), and zod costs several allocations per frame, so those three kinds are
 * recognised by hand. Only a frame that is certainly valid takes this path and it yields what
 * zod would (unknown keys dropped); anything doubtful falls through to the schema, so errors
 * are the schema's. gateway-wire.test.ts checks both paths agree on random and mutated frames.
 */
function hotGatewayFrame(value: unknown): GatewayToRouter | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const f = value as Record<string, unknown>;
  switch (f['t']) {
    case 'ping':
    case 'pong':
      return isCount(f['id']) ? { t: f['t'], id: f['id'] } : undefined;
    case 'result': {
      const { id, code, data, message } = f;
      if (typeof id !== 'string' || id.length < 1 || id.length > 64 || !actionCodes.has(code)) return undefined;
      if (message !== undefined && (typeof message !== 'string' || message.length > 2000)) return undefined;
      const result: GatewayToRouter = { t: 'result', id, code: code as ActionCode };
      if ('data' in f) result.data = data;
      if (message !== undefined) result.message = message;
      return result;
    }
    default:
      return undefined;
  }
}

export function decodeGatewayFrame(text: unknown): GatewayToRouter {
  const value = parseFrame(text, 'Gateway');
  return hotGatewayFrame(value) ?? validate(gatewayToRouterSchema, value, 'Gateway');
}
export const decodeRouterFrame = (text: unknown): RouterToGateway => validate(routerToGatewaySchema, parseFrame(text, 'Router'), 'Router');
export const encodeFrame = (frame: GatewayToRouter | RouterToGateway): string => JSON.stringify(frame);
