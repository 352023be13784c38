/**
 * The gateway's side of a tunnel connection: dial the record's target over TCP, and nothing
 * else. A client that asks for another host or port is refused with 'not_allowed' before any
 * packet leaves; a tunnel is not a way into the rest of the customer's network.
 *
 * Failures become TunnelError reasons the CLI can show: ECONNREFUSED → 'refused', no answer
 * within connectTimeoutMs → 'timeout', a name that does not resolve or a network that cannot be
 * reached → 'unreachable'.
 */
import { connect, type LookupFunction, type Socket } from 'node:net';
import { bridgeSocket } from '../../core/tunnel/node-socket.ts';
import { TunnelError, type TunnelDial, type TunnelEndpoint, type TunnelTarget } from '../../core/tunnel/mux.ts';

export interface TargetDialerOptions {
  /** What the record (or the PAM configuration's port mapping) allows; the first is the default. */
  readonly allowed: readonly TunnelTarget[];
  readonly connectTimeoutMs: number;
  /** A resolver other than the system's (for tests, or to pin names). */
  readonly lookup?: LookupFunction;
}

const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

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
    const socket = await dialTcp(target, options.connectTimeoutMs, options.lookup);
    const endpoint: TunnelEndpoint = { attach: (stream) => bridgeSocket(stream, socket) };
    return endpoint;
  };
}

function dialTcp(target: TunnelTarget, timeoutMs: number, lookup: LookupFunction | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true, ...(lookup ? { lookup } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TunnelError('timeout', `${show(target)} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // Until the bridge listens (attach, a tick later), an error must not crash the gateway.
      socket.on('error', () => {});
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      const code = error.code ?? '';
      if (code === 'ECONNREFUSED') reject(new TunnelError('refused', `${show(target)} refused the connection`));
      else if (code === 'ETIMEDOUT') reject(new TunnelError('timeout', `${show(target)} did not answer`));
      else if (UNREACHABLE.has(code)) reject(new TunnelError('unreachable', `${show(target)} is unreachable (${code})`));
      else reject(new TunnelError('unreachable', `${show(target)} could not be reached${code ? ` (${code})` : ''}`));
    });
  });
}
