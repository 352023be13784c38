/**
 * The gateway's side of a tunnel connection: dial the record's target over TCP, and nothing
 * else. A client that asks for another host or port is refused with 'not_allowed' before any
 * packet leaves; a tunnel is not a way into the rest of the customer's network.
 *
 * Even the record's own target is resolved and judged first by the PAM configuration's target
 * policy (../targets/target-policy.ts: no cloud metadata address, only `targetNetworks`), and
 * then dialled at exactly the addresses that passed.
 *
 * Failures become TunnelError reasons the CLI can show: ECONNREFUSED → 'refused', no answer
 * within connectTimeoutMs → 'timeout', a name that does not resolve or a network that cannot be
 * reached → 'unreachable', a policy refusal → 'not_allowed'.
 */
import { connect, type LookupFunction, type Socket } from 'node:net';
import { PosternError } from '../../core/errors.ts';
import { bridgeSocket } from '../../node/tunnel/node-socket.ts';
import { TunnelError, type TunnelDial, type TunnelEndpoint, type TunnelTarget } from '../../core/tunnel/mux.ts';
import { DEFAULT_TARGET_POLICY, admitTarget, pinnedLookup, type TargetPolicy } from '../targets/target-policy.ts';

export interface TargetDialerOptions {
  /** What the record (or the PAM configuration's port mapping) allows; the first is the default. */
  readonly allowed: readonly TunnelTarget[];
  readonly connectTimeoutMs: number;
  /** A resolver other than the system's (for tests, or to pin names). */
  readonly lookup?: LookupFunction;
  /** The PAM configuration's target policy; without one, metadata addresses are still refused. */
  readonly policy?: TargetPolicy;
}

const UNREACHABLE = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NODATA',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
]);

const show = (t: TunnelTarget): string => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

function isAllowed(allowed: readonly TunnelTarget[], wanted: TunnelTarget): TunnelTarget | undefined {
  const host = wanted.host.toLowerCase();
  return allowed.find((a) => a.port === wanted.port && a.host.toLowerCase() === host);
}

export function targetDialer(options: TargetDialerOptions): TunnelDial {
  const allowed = [...options.allowed];
  return async (wanted) => {
    const target = wanted ? isAllowed(allowed, wanted) : allowed[0];
    if (!target) {
      throw new TunnelError(
        'not_allowed',
        wanted ? `this record allows tunnels to ${allowed.map(show).join(', ') || 'no target'}, not ${show(wanted)}` : 'this record has no tunnel target',
      );
    }
    const socket = await dialTcp(target, options.connectTimeoutMs, options.lookup, options.policy ?? DEFAULT_TARGET_POLICY);
    const endpoint: TunnelEndpoint = { attach: (stream) => bridgeSocket(stream, socket) };
    return endpoint;
  };
}

function dialTcp(target: TunnelTarget, timeoutMs: number, lookup: LookupFunction | undefined, policy: TargetPolicy): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket?.destroy();
      reject(new TunnelError('timeout', `${show(target)} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    admitTarget(target.host, policy, lookup).then(
      (addresses) => {
        if (timedOut) return;
        open(connect({ host: target.host, port: target.port, allowHalfOpen: true, lookup: pinnedLookup(addresses) }));
      },
      (error: Error & { code?: string }) => {
        clearTimeout(timer);
        if (timedOut) return;
        if (error instanceof PosternError) reject(new TunnelError('not_allowed', error.message));
        else reject(new TunnelError('unreachable', `${show(target)} is unreachable (${error.code ?? 'the name does not resolve'})`));
      },
    );
    function open(s: Socket): void {
      socket = s;
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        // Until the bridge listens (attach, a tick later), an error must not crash the gateway.
        s.on('error', () => {});
        s.setNoDelay(true);
        resolve(s);
      });
      s.once('error', (error: Error & { code?: string }) => {
        clearTimeout(timer);
        s.destroy();
        const code = error.code ?? '';
        if (code === 'ECONNREFUSED') reject(new TunnelError('refused', `${show(target)} refused the connection`));
        else if (code === 'ETIMEDOUT') reject(new TunnelError('timeout', `${show(target)} did not answer`));
        else if (UNREACHABLE.has(code)) reject(new TunnelError('unreachable', `${show(target)} is unreachable (${code})`));
        else reject(new TunnelError('unreachable', `${show(target)} could not be reached${code ? ` (${code})` : ''}`));
      });
    }
  });
}
