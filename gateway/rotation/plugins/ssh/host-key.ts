/**
 * Host key pinning (docs/decisions/0006-target-trust.md): the resource's `hostKey` entries (key lines
 * or SHA256 fingerprints), the verifier every connection hands ssh2 so that a key that is not
 * pinned ends it before any credential is sent (`host_key_mismatch`), and checkHostKey, the
 * check that runs first in every rotation: a key exchange without authenticating, so the key it
 * sees is one the server proved it holds, then a match with the pin, or the key recorded in the
 * resource when nothing is pinned (trust on first use).
 */
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { settleOnce } from '../common.ts';
import { cancelled, where } from './messages.ts';

const { Client } = ssh2;

type Pin = { kind: 'key'; type: string; blob: string } | { kind: 'fingerprint'; sha256: string };

/** The `hostKey` field's entries (already normalised by the record schema; anything else is skipped). */
function pinsOf(target: RotationTarget): Pin[] {
  const pins: Pin[] = [];
  for (const entry of (target.endpoint.hostKey ?? '').split(/\r?\n/)) {
    const e = entry.trim();
    if (e.startsWith('SHA256:')) pins.push({ kind: 'fingerprint', sha256: e.slice(7).replace(/=+$/, '') });
    else {
      const [type, blob] = e.split(/\s+/);
      if (type && blob) pins.push({ kind: 'key', type, blob: blob.replace(/=+$/, '') });
    }
  }
  return pins;
}

const resourceName = (target: RotationTarget): string => (target.endpoint.resourceUid ? `resource ${target.endpoint.resourceUid}` : 'the resource');

const fingerprintOf = (key: Buffer): string => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;

/** `type base64` of a host key blob in SSH wire form (string type, then the key's fields). */
function keyLineOf(key: Buffer): string {
  const len = key.length >= 4 ? key.readUInt32BE(0) : 0;
  const type = len > 0 && len < 64 && key.length >= 4 + len ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
  return `${type} ${key.toString('base64')}`;
}

/** Host key algorithms that produce keys of these types (RSA keys sign with three). */
function algorithmsFor(types: readonly string[]): string[] {
  return types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
}

export interface HostKeyCheck {
  /** For ssh2's `hostVerifier`: true when the offered key is pinned (or nothing is pinned). */
  verify(key: Buffer): boolean;
  /** What the server showed, once it has. */
  seen: { line: string; fingerprint: string } | null;
  /** With only key lines pinned, negotiate only their algorithms, so the server shows a pinned one. */
  algorithms?: string[];
  /** The failure for a refused key. */
  mismatch(): RotationFailure;
}

export function hostKeyCheck(target: RotationTarget): HostKeyCheck {
  const pins = pinsOf(target);
  const check: HostKeyCheck = {
    seen: null,
    verify(key) {
      const fingerprint = fingerprintOf(key);
      check.seen = { line: keyLineOf(key), fingerprint };
      if (pins.length === 0) return true;
      const blob = key.toString('base64').replace(/=+$/, '');
      return pins.some((p) => (p.kind === 'key' ? p.blob === blob : `SHA256:${p.sha256}` === fingerprint));
    },
    mismatch() {
      const pinned = pins.map((p) => (p.kind === 'fingerprint' ? `SHA256:${p.sha256}` : fingerprintOf(Buffer.from(p.blob, 'base64')))).join(', ');
      return new RotationFailure(
        'host_key_mismatch',
        `ssh ${where(target)}: the server's host key ${check.seen?.fingerprint ?? '(unknown)'} is not the one pinned on ${resourceName(target)} (${pinned}); ` +
          "nothing was sent and nothing changed. If the machine's host key really changed, check the new fingerprint on the machine " +
          "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and replace the resource's hostKey; otherwise something is answering in its place.",
      );
    },
  };
  if (pins.length > 0 && pins.every((p) => p.kind === 'key')) {
    const types = [...new Set(pins.map((p) => (p as Extract<Pin, { kind: 'key' }>).type))];
    check.algorithms = algorithmsFor(types);
  }
  return check;
}

/**
 * Complete a key exchange with the server (so it proves it holds the key it shows) and hang up
 * before authenticating: no user name that matters and no credential leaves the gateway. Then
 * compare with the pin, or pin the key on first use.
 */
export async function checkHostKey(target: RotationTarget): Promise<void> {
  const { hostname, port } = target.endpoint;
  const check = hostKeyCheck(target);
  await new Promise<void>((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    const client = new Client();
    const finish = settleOnce(
      target.signal,
      () => cancelled(target),
      (err) => {
        client.end();
        if (err) reject(err);
        else resolve();
      },
    );
    // 'handshake' comes once the key exchange (and the server's signature) checked out.
    client.on('handshake', () => finish(null));
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (check.seen && /Host denied/.test(err.message)) return finish(check.mismatch());
      const why = err.code ?? (err.level === 'client-timeout' ? `no SSH handshake within ${target.timeoutMs} ms` : (err.level ?? 'error'));
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${why})`));
    });
    client.on('close', () => finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection closed during the key exchange`)));
    try {
      client.connect({
        host: hostname,
        port,
        username: 'postern-host-key-check',
        readyTimeout: target.timeoutMs,
        // Never authenticate on this connection, whatever happens after the handshake.
        authHandler: (_methods, _partial, next) => next(false as never),
        hostVerifier: (key: Buffer) => check.verify(key),
        ...(check.algorithms ? { algorithms: { serverHostKey: check.algorithms as never } } : {}),
      });
    } catch (err) {
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${(err as { code?: string }).code ?? 'bad connection settings'})`));
    }
  });
  const seen = check.seen!;
  if (target.endpoint.hostKey) {
    target.log(`ssh: ${hostname}:${port} host key ${seen.fingerprint} matches the pinned key`);
    return;
  }
  if (!target.pinHostKey) {
    throw new RotationFailure(
      'host_key_unpinned',
      `ssh ${hostname}:${port}: no host key is pinned on the resource and this gateway cannot record one; ` +
        `check ${seen.fingerprint} on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and set the resource's hostKey to it.`,
    );
  }
  try {
    await target.pinHostKey(seen.line);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new RotationFailure(
      'host_key_unpinned',
      `ssh ${hostname}:${port}: no host key is pinned on ${resourceName(target)} and the gateway could not record the one it saw, ` +
        `${seen.fingerprint} (${why}); nothing was sent. Check that fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) ` +
        "and set the resource's hostKey to it, or give the gateway's application edit rights on the resource.",
    );
  }
  target.endpoint.hostKey = seen.line;
  target.log(
    `ssh: ${hostname}:${port} showed host key ${seen.fingerprint}; ` +
      "nothing was pinned, so it is now recorded in the resource's hostKey (trust on first use) and required from now on",
  );
}
