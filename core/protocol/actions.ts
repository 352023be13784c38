/**
 * The action contract: every action a vault user (or the Head's scheduler) can make a gateway
 * run, and for each one schema per hop. The CLI and the vault client build requests with these
 * types, the Router's catalog (router/actions/catalog.ts) and the gateway's handlers
 * (gateway/actions/index.ts) are mapped over ACTION_NAMES, so a misspelt name or a field one
 * side drops is a compile error in all three (./actions.contract.test.ts shows it).
 *
 *   vault   → Router   action.send {action, <what it addresses>, params}   ActionRequest<N>; params: `caller`
 *   Router  → gateway  action {id, action, params, timeoutMs}              ActionParams<N>: `params`
 *   gateway → Router   result {id, code, data}                             ActionResult<N>: `result`, when ok
 *
 * The frames themselves stay generic (./vault-api.ts `action.send`, ./gateway-wire.ts `action`):
 * a name the receiver does not know must still reach it and be refused by name, as it always was,
 * not as a malformed frame. Each hop is typed where it is built and parsed with these schemas
 * where it is received: the Router parses the caller's params (parseCallerParams), the gateway
 * the Router's (parseActionParams), and a vault that reads a result's fields checks them first
 * (parseActionResult). Decision record: docs/decisions/0015-action-contract.md.
 *
 * Caller parameters never name what the Router checks (the record, its resource, the admin
 * credential, the PAM configuration, the job, the requester): those travel beside the action
 * (`recordUid`, `configurationUid`, …) and the Router resolves, authorises and sets them itself.
 */
import { z } from 'zod';
import { PosternError } from '../errors.ts';
import { JOB_STATUSES, type ActionCode } from './gateway-wire.ts';
import { uid } from './vault-api.ts';
import { isSignallingSessionId } from './webrtc-signalling.ts';

/** Every action, in the order the Router lists them when it refuses an unknown one. */
export const ACTION_NAMES = ['rotate', 'job-info', 'job-cancel', 'gateway-info', 'discover-job-start', 'webrtc-session'] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export function isActionName(name: string): name is ActionName {
  return (ACTION_NAMES as readonly string[]).includes(name);
}

/** What an action addresses, and so what the vault names beside it and how the Router finds its gateway. */
export type ActionTarget = 'record' | 'configuration' | 'job' | 'gateway';

/** The resources a rotation runs on (a rotate's `resourceUid` names one of these, or nothing). */
export const ROTATION_RESOURCE_TYPES = ['pamMachine', 'pamDatabase', 'pamDirectory'] as const;
export function isRotationResourceType(type: string): type is (typeof ROTATION_RESOURCE_TYPES)[number] {
  return (ROTATION_RESOURCE_TYPES as readonly string[]).includes(type);
}

export interface ActionContract {
  /** `record`: a record through a PAM configuration; `configuration`: a PAM configuration; `job`: a job; `gateway`: a gateway itself. */
  target: ActionTarget;
  /** The Router resolves the record's linked resource and its admin credential, and names them (or their absence). */
  resource: boolean;
  /** Long work: the Router opens a job first and names it; the gateway answers with it and reports progress. */
  job: boolean;
  /** For a `record` action: the record types it works on, checked before anything else is resolved or opened (any when absent). */
  recordTypes?: readonly string[];
  /** Sets up WebRTC: the Router adds the gateway's own TURN credentials (its Relay). */
  relay: boolean;
  /** What the caller may put in `params`: strict, so a key the Router sets itself is refused. Flat scalars (./vault-api.ts). */
  caller: z.ZodObject;
  /** What the gateway receives. Not strict: a newer Router's extra field does not break an older gateway. */
  params: z.ZodObject;
  /** The `data` of an `ok` result. */
  result: z.ZodType;
}

/**
 * The caller's params. Each action's `params` spreads its caller's shape, so a field the caller
 * schema drops is gone from what the gateway gets too.
 */
const none = z.object({}).strict();
const rotateCaller = z.object({ resume: z.boolean().optional() }).strict();
// 32 KiB: a sealed WebRTC offer with every ICE candidate of a multi-homed host fits.
const webrtcCaller = z
  .object({ sessionId: z.string().refine(isSignallingSessionId, 'expected a signalling session id'), offer: z.string().min(1).max(32_768) })
  .strict();

/** Set by the Router on every action: who asked (a user UID; the schedule's owner for scheduled runs). */
const requestedBy = uid().optional();

const iceServer = z.object({
  urls: z
    .array(
      z
        .string()
        .regex(/^turns?:/, 'expected turn: or turns: URLs')
        .max(512),
    )
    .min(1)
    .max(8),
  username: z.string().max(256),
  credential: z.string().max(256),
});

/** A job as the gateway tracks it (gateway/jobs.ts JobView). */
const jobView = z.object({
  jobUid: uid(),
  action: z.string(),
  recordUid: uid().nullable(),
  status: z.enum(JOB_STATUSES),
  progress: z.number(),
  step: z.string(),
  message: z.string().nullable(),
  code: z.string().nullable(),
  sealed: z.boolean(),
  startedAt: z.number(),
  updatedAt: z.number(),
  endedAt: z.number().nullable(),
});

export const ACTION_CONTRACTS = {
  /**
   * Rotate a pamUser's credential as a job. `resourceUid`/`adminCredentialUid` are what the Router
   * resolved and authorised for the requester (null: none); the gateway uses exactly these.
   * `resume`: only settle a rotation an earlier run left pending (`postern rotation resume`).
   */
  rotate: {
    target: 'record',
    recordTypes: ['pamUser'],
    resource: true,
    job: true,
    relay: false,
    caller: rotateCaller,
    params: z.object({
      jobUid: uid(),
      recordUid: uid(),
      configurationUid: uid(),
      resourceUid: uid().nullable(),
      adminCredentialUid: uid().nullable(),
      requestedBy,
      ...rotateCaller.shape,
    }),
    result: z.object({ jobUid: uid() }),
  },
  /** The status, progress and step of a job the gateway runs or ran recently. */
  'job-info': {
    target: 'job',
    resource: false,
    job: false,
    relay: false,
    caller: none,
    params: z.object({ jobUid: uid(), requestedBy }),
    result: jobView,
  },
  /** Stop a running job; it then reports `cancelled`. */
  'job-cancel': {
    target: 'job',
    resource: false,
    job: false,
    relay: false,
    caller: none,
    params: z.object({ jobUid: uid(), requestedBy }),
    result: z.object({ jobUid: uid(), status: z.literal('cancelled') }),
  },
  /** What an administrator needs to see about a running gateway; nothing from a key or a record. */
  'gateway-info': {
    target: 'gateway',
    resource: false,
    job: false,
    relay: false,
    caller: none,
    params: z.object({ requestedBy }),
    result: z.object({
      version: z.string(),
      gatewayUid: uid().nullable(),
      hostname: z.string(),
      platform: z.string(),
      arch: z.string(),
      node: z.string(),
      pid: z.number().int(),
      startedAt: z.number(),
      uptimeSeconds: z.number(),
      connectedSince: z.number().nullable(),
      runningTasks: z.number().int(),
    }),
  },
  /** Discovery on a PAM configuration's networks, as a job (no gateway implements it yet). */
  'discover-job-start': {
    target: 'configuration',
    resource: false,
    job: true,
    relay: false,
    caller: none,
    params: z.object({ jobUid: uid(), configurationUid: uid(), requestedBy }),
    result: z.object({ jobUid: uid() }),
  },
  /**
   * A tunnel to the resource `recordUid`: the offer is sealed end to end with the resource's
   * signalling key (./webrtc-signalling.ts), so the Router relays ciphertext; `iceServers` are the
   * gateway's own short-lived TURN credentials from the Router. The answer is sealed too.
   */
  'webrtc-session': {
    target: 'record',
    resource: false,
    job: false,
    relay: true,
    caller: webrtcCaller,
    params: z.object({
      recordUid: uid(),
      configurationUid: uid(),
      ...webrtcCaller.shape,
      iceServers: z.array(iceServer).max(4).default([]),
      requestedBy,
    }),
    result: z.object({ answer: z.string().min(1).max(32_768) }),
  },
} as const satisfies { readonly [N in ActionName]: ActionContract };

type Contracts = typeof ACTION_CONTRACTS;
export type ActionContractOf<N extends ActionName> = Contracts[N];
export type ActionTargetOf<N extends ActionName> = Contracts[N]['target'];

/** The caller's params as the vault writes them, and as the Router has them once checked. */
export type ActionCallerInput<N extends ActionName> = z.input<Contracts[N]['caller']>;
export type ActionCallerParams<N extends ActionName> = z.output<Contracts[N]['caller']>;
/** The params as the Router builds them (defaults may be left out), and as a gateway handler gets them. */
export type ActionParamsInput<N extends ActionName> = z.input<Contracts[N]['params']>;
export type ActionParams<N extends ActionName> = z.output<Contracts[N]['params']>;
/** The `data` of an `ok` result. */
export type ActionResult<N extends ActionName> = z.output<Contracts[N]['result']>;

/** A UID the vault names beside action N and the Router passes on (checked) as the gateway's param K. */
type Passed<N extends ActionName, K extends string> = K extends keyof ActionParams<N> ? NonNullable<ActionParams<N>[K]> : never;

/** What the vault names beside action N, by what the action addresses. */
interface AddressedBy<N extends ActionName> {
  /** `configurationUid` may be left out when the record's rotation settings name one. */
  record: { recordUid: Passed<N, 'recordUid'>; configurationUid?: Passed<N, 'configurationUid'> };
  configuration: { configurationUid: Passed<N, 'configurationUid'> };
  job: { jobUid: Passed<N, 'jobUid'> };
  /** The gateway itself: the Router routes by it and does not pass it on. */
  gateway: { gatewayUid: string };
}

/**
 * `action.send` for action N, as the CLI and the web vault build it (core/vault-client `action`):
 * what it addresses, the resource when the action takes one, and the caller's params.
 */
export type ActionRequest<N extends ActionName> = AddressedBy<N>[ActionTargetOf<N>] &
  (Contracts[N]['resource'] extends true ? { /** Which resource, when the Router cannot tell alone. */ resourceUid?: Passed<N, 'resourceUid'> } : unknown) &
  // params may be left out when the action takes none or only optional ones.
  (Record<never, never> extends ActionCallerInput<N> ? { params?: ActionCallerInput<N> } : { params: ActionCallerInput<N> }) & { timeoutMs?: number };

/** A gateway's answer to action N: the typed `data` when ok, a message otherwise. */
export type ActionReplyOf<N extends ActionName> = { code: 'ok'; data: ActionResult<N> } | { code: Exclude<ActionCode, 'ok'>; message: string };

function firstIssue(error: z.ZodError): { where: string; message: string; issue: z.core.$ZodIssue | undefined } {
  const issue = error.issues[0];
  return { where: issue?.path.length ? issue.path.join('.') : '', message: issue?.message ?? 'invalid', issue };
}

/**
 * The caller's params of action N, checked by the Router. A key the schema does not take (the
 * record, resource, configuration, job: the Router sets those) is refused by name.
 */
export function parseCallerParams<N extends ActionName>(name: N, params: unknown): ActionCallerParams<N> {
  const schema: z.ZodObject = ACTION_CONTRACTS[name].caller;
  const parsed = schema.safeParse(params ?? {});
  if (parsed.success) return parsed.data as ActionCallerParams<N>;
  const { where, message, issue } = firstIssue(parsed.error);
  const allowed = Object.keys(schema.shape);
  throw new PosternError(
    'bad_request',
    issue?.code === 'unrecognized_keys'
      ? `"${name}" does not take the parameter(s) ${issue.keys.join(', ')}; it takes ${allowed.length ? allowed.join(', ') : 'none'}. The Router sets the record, resource, admin credential, configuration and job itself.`
      : `"${name}" params are invalid at ${where || '(params)'}: ${message}.`,
    { action: name },
  );
}

/** The params of action N as a gateway receives them; `bad_request` naming the first problem. */
export function parseActionParams<N extends ActionName>(name: N, params: unknown): ActionParams<N> {
  const parsed = (ACTION_CONTRACTS[name].params as z.ZodObject).safeParse(params);
  if (parsed.success) return parsed.data as ActionParams<N>;
  const { where, message } = firstIssue(parsed.error);
  throw new PosternError('bad_request', `"${name}" params are invalid at ${where || '(params)'}: ${message}.`, { action: name });
}

/**
 * The `data` of an `ok` result of action N, for a vault that reads its fields. What the gateway
 * sent is returned as it came (a newer gateway's extra fields stay); `bad_request` when a field
 * the contract names is missing or of the wrong kind.
 */
export function parseActionResult<N extends ActionName>(name: N, data: unknown): ActionResult<N> {
  const parsed = (ACTION_CONTRACTS[name].result as z.ZodType).safeParse(data);
  if (parsed.success) return data as ActionResult<N>;
  const { where, message } = firstIssue(parsed.error);
  throw new PosternError('bad_request', `The gateway's "${name}" result is malformed at ${where || '(data)'}: ${message}.`, { action: name });
}
