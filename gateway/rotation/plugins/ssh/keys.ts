/**
 * SSH key pairs: reading the vault's keys with ssh2, choosing what to generate (the `Private Key
 * Type` field, else the current key's algorithm and size), generating off the event loop, and
 * checking a new pair before its public half is authorised anywhere.
 */
import { createPublicKey } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import type { Credential, RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { where } from './messages.ts';

const { utils } = ssh2;

/** A key blob as it appears in an authorized_keys line. */
export const KEY_BLOB = /^[A-Za-z0-9+/]+={0,2}$/;
/** Key comments we carry over to the new key; anything else becomes `postern`. */
const SAFE_COMMENT = /^[A-Za-z0-9@._+:=,/-]{1,100}$/;
const DEFAULT_RSA_BITS = 4096;

/** What to generate: an algorithm, and its size where it has a choice. */
export type KeySpec = { alg: 'ed25519' } | { alg: 'ecdsa'; bits: 256 | 384 | 521 } | { alg: 'rsa'; bits: number };
export type SshKeyType = ParsedKey['type'];
/** A credential that is an OpenSSH key pair. */
export type KeyCredential = Extract<Credential, { kind: 'key' }>;

function parseOne(data: string, passphrase?: string): ParsedKey | Error {
  const parsed = utils.parseKey(data, passphrase) as ParsedKey | ParsedKey[] | Error;
  if (Array.isArray(parsed)) return parsed.length === 1 && parsed[0] ? parsed[0] : new Error('expected exactly one key');
  return parsed;
}

export function privateKeyOf(credential: KeyCredential, target: RotationTarget, what: string): ParsedKey {
  const key = parseOne(credential.privateKey, credential.passphrase);
  if (key instanceof Error || !key.isPrivateKey()) {
    // ssh2's message can quote the input; keep only our own words.
    const whose = `${what} private key of '${target.user.login}'`;
    throw new RotationFailure('failed', `ssh ${where(target)}: ${whose} cannot be read (wrong passphrase or unsupported format)`);
  }
  return key;
}

function rsaBits(key: ParsedKey): number {
  const bits = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails?.modulusLength;
  return typeof bits === 'number' && bits > 0 ? bits : DEFAULT_RSA_BITS;
}

/** What to generate: the `Private Key Type` field when set, else the current key's algorithm and size. */
export function keySpec(type: SshKeyType, current: ParsedKey, target: RotationTarget): KeySpec {
  switch (type) {
    case 'ssh-ed25519':
      return { alg: 'ed25519' };
    case 'ecdsa-sha2-nistp256':
      return { alg: 'ecdsa', bits: 256 };
    case 'ecdsa-sha2-nistp384':
      return { alg: 'ecdsa', bits: 384 };
    case 'ecdsa-sha2-nistp521':
      return { alg: 'ecdsa', bits: 521 };
    case 'ssh-rsa':
      // Switching to RSA from another algorithm: 4096 bits. Staying on RSA: keep the modulus.
      return { alg: 'rsa', bits: current.type === 'ssh-rsa' ? rsaBits(current) : DEFAULT_RSA_BITS };
    case 'ssh-dss':
      // DSA is limited to 1024 bits, disabled in OpenSSH since 7.0 and removed in 10.0.
      throw new RotationFailure(
        'unsupported',
        `ssh ${where(target)}: DSA (ssh-dss) keys are not generated; set Private Key Type to ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa`,
      );
    default:
      throw new RotationFailure('unsupported', `ssh ${where(target)}: key type ${String(type)} is not supported`);
  }
}

export function generate(spec: KeySpec, comment: string): Promise<{ private: string; public: string }> {
  // The async form runs in libuv's pool, so an RSA 4096 key does not stall the gateway.
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, pair: { private: string; public: string }) => (err ? reject(err) : resolve(pair));
    if (spec.alg === 'ed25519') utils.generateKeyPair('ed25519', { comment }, done);
    else if (spec.alg === 'ecdsa') utils.generateKeyPair('ecdsa', { bits: spec.bits, comment }, done);
    else utils.generateKeyPair('rsa', { bits: spec.bits, comment }, done);
  });
}

/** The comment of an authorized_keys line `type blob comment`, when it is safe to carry over. */
export function commentOf(publicKeyLine: string, fallback = ''): string {
  const comment = publicKeyLine.trim().split(/\s+/).slice(2).join(' ');
  if (SAFE_COMMENT.test(comment)) return comment;
  return SAFE_COMMENT.test(fallback) ? fallback : 'postern';
}

/** The new key pair, checked: both halves parse, match, and are not DSA. Returns the validated line parts. */
export function checkNewKey(next: KeyCredential, target: RotationTarget): { type: SshKeyType; blob: string; comment: string } {
  const priv = parseOne(next.privateKey, next.passphrase);
  const pub = parseOne(next.publicKey);
  if (priv instanceof Error || !priv.isPrivateKey() || pub instanceof Error) {
    throw new RotationFailure('failed', `ssh ${where(target)}: the new key pair for '${target.user.login}' cannot be read`);
  }
  if (!priv.getPublicSSH().equals(pub.getPublicSSH())) {
    // Never authorise a public key whose private half the vault does not hold.
    throw new RotationFailure('failed', `ssh ${where(target)}: the new public key does not belong to the new private key`);
  }
  if (pub.type === 'ssh-dss') throw new RotationFailure('unsupported', `ssh ${where(target)}: DSA (ssh-dss) keys are not installed`);
  const blob = pub.getPublicSSH().toString('base64');
  if (!KEY_BLOB.test(blob)) throw new RotationFailure('failed', `ssh ${where(target)}: the new public key is malformed`);
  return { type: pub.type, blob, comment: commentOf(next.publicKey) };
}
