/**
 * How a database plugin uses TLS, from the resource's fields (docs/decisions/0006-target-trust.md):
 *
 *  - `require` (useSSL true): TLS or nothing;
 *  - `prefer` (useSSL unset): TLS, and plaintext only when the server answers that it has no
 *    TLS at all, never after a failed handshake or a certificate that does not verify;
 *  - `off` (useSSL false): plaintext.
 *
 * The certificate is verified against `sslCaCertificate` when one is set, else against the
 * system's CAs when `sslVerification` (or, unset, useSSL true) says so; the job log says which.
 */
import { isIP, connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Endpoint, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';

export type TlsMode = 'require' | 'prefer' | 'off';

export function tlsModeOf(endpoint: Endpoint): TlsMode {
  if (endpoint.useSSL) return 'require';
  return endpoint.preferTls ? 'prefer' : 'off';
}

/** Node TLS options for the driver (`ca` replaces the system's CAs when set). */
export function tlsOptionsOf(endpoint: Endpoint): { rejectUnauthorized: boolean; ca?: string } {
  return { rejectUnauthorized: endpoint.verifyTls || endpoint.caCertificate !== undefined, ...(endpoint.caCertificate ? { ca: endpoint.caCertificate } : {}) };
}

/** For the job log, once connected: what protected the connection. */
export function tlsDescription(endpoint: Endpoint, usedTls: boolean): string {
  if (!usedTls) return tlsModeOf(endpoint) === 'off' ? 'plaintext: useSSL is false' : 'plaintext: the server offers no TLS';
  if (endpoint.caCertificate) return "TLS (certificate verified against the resource's CA)";
  if (endpoint.verifyTls) return "TLS (certificate verified against the system's CAs)";
  return 'TLS (not verified: no CA set)';
}

/** For a failed handshake: what was being checked, so the admin knows what to fix. */
export function tlsVerifyHint(endpoint: Endpoint): string {
  if (endpoint.caCertificate) return "; the certificate must chain to the resource's CA (sslCaCertificate) and name the host";
  if (endpoint.verifyTls) return "; the certificate is verified against the system's CAs (set sslCaCertificate for a private CA)";
  return '';
}

/**
 * Before a rotation stores anything: connect, let `negotiate` ask for TLS in the server's own
 * protocol (it resolves false when the server has none), complete the TLS handshake with the
 * certificate checks the resource asks for, and hang up. No user name and no credential is
 * sent. A certificate that does not verify, or a server without TLS for a resource that
 * requires it, fails here, so the rotation ends with nothing pending.
 */
export async function checkTlsBeforeLogin(target: RotationTarget, name: string, negotiate: (socket: Socket) => Promise<boolean>): Promise<void> {
  const { endpoint } = target;
  const mode = tlsModeOf(endpoint);
  if (mode === 'off') return;
  const at = `${endpoint.hostname}:${endpoint.port}`;
  const cancelled = () => new RotationFailure('failed', `${name}: cancelled while checking TLS with ${at}`);
  let socket: Socket | undefined;
  const timer = setTimeout(() => socket?.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), target.timeoutMs);
  const onAbort = () => socket?.destroy(new Error('cancelled'));
  target.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (target.signal.aborted) throw cancelled();
    const offered = await new Promise<boolean>((resolve, reject) => {
      const s = connectTcp({ host: endpoint.hostname, port: endpoint.port });
      socket = s;
      s.once('error', reject);
      s.once('close', () => reject(Object.assign(new Error('closed'), { code: 'ECONNRESET' })));
      negotiate(s).then(resolve, reject);
    }).catch((err: Error & { code?: string }) => {
      if (target.signal.aborted) throw cancelled();
      if (err instanceof RotationFailure) throw err;
      throw new RotationFailure('unreachable', `${name}: cannot reach ${at} (${err.code ?? err.message})`);
    });
    if (!offered) {
      if (mode === 'require') throw new RotationFailure('unreachable', `${name}: ${at} does not offer TLS, and this resource requires it (useSSL)`);
      return;
    }
    socket!.removeAllListeners();
    await new Promise<void>((resolve, reject) => {
      const secure = connectTls({
        socket: socket!,
        host: endpoint.hostname,
        ...tlsOptionsOf(endpoint),
        ...(isIP(endpoint.hostname) ? {} : { servername: endpoint.hostname }),
      });
      socket = secure;
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    }).catch((err: Error & { code?: string }) => {
      if (target.signal.aborted) throw cancelled();
      throw new RotationFailure(
        'unreachable',
        `${name}: the TLS handshake with ${at} failed (${err.code ?? 'TLS error'})${tlsVerifyHint(endpoint)}; nothing was sent`,
      );
    });
  } finally {
    clearTimeout(timer);
    target.signal.removeEventListener('abort', onAbort);
    socket?.on('error', () => {});
    socket?.destroy();
  }
}
