/**
 * Which addresses the gateway may dial for a tunnel or a rotation, per PAM configuration
 * (docs/decisions/0006-target-trust.md). A record names its target by host name, and a host name
 * resolves to whatever its DNS says, so every check resolves the name first and judges each
 * address it resolves to:
 *
 *  - cloud instance metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200, in any
 *    spelling a socket acts on) are refused unless the configuration sets `allowMetadataTargets`:
 *    they hand out the gateway host's own cloud credentials to whoever can reach them;
 *  - with `targetNetworks` (CIDRs) set, an address outside all of them is refused.
 *
 * One refused address refuses the name: a resolver may hand any of them to the socket. The
 * addresses that passed are returned so the caller can dial exactly those (no second lookup
 * that a rebinding DNS server could answer differently).
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { PosternError } from '../../core/errors.ts';
import { categorise, inCidr, isMetadataAddress, parseCidr, tryParseIpAddress, type CidrRange } from '../../core/net/ip-address.ts';

export interface TargetPolicy {
  /** `allowMetadataTargets` on the PAM configuration. */
  readonly allowMetadata: boolean;
  /** `targetNetworks`, parsed; empty: no restriction beyond the metadata rule. */
  readonly networks: readonly { text: string; range: CidrRange }[];
  /** The PAM configuration it came from, for messages. */
  readonly configurationUid?: string;
}

/** The default when no PAM configuration speaks: metadata refused, no network restriction. */
export const DEFAULT_TARGET_POLICY: TargetPolicy = { allowMetadata: false, networks: [] };

/** The policy of a PAM configuration's decrypted fields. */
export function targetPolicyOf(fields: Record<string, unknown>, configurationUid?: string): TargetPolicy {
  const text = typeof fields['targetNetworks'] === 'string' ? fields['targetNetworks'] : '';
  const networks = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t) => ({ text: t, range: parseCidr(t) }));
  return { allowMetadata: fields['allowMetadataTargets'] === true, networks, ...(configurationUid ? { configurationUid } : {}) };
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolve `host` (all addresses) with `lookup` (the system resolver by default). */
export function resolveAll(host: string, lookup: LookupFunction = dnsLookup as unknown as LookupFunction): Promise<ResolvedAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (err, addresses) => {
      if (err) return reject(err);
      const list = Array.isArray(addresses) ? addresses : [{ address: addresses as unknown as string, family: 0 }];
      resolve(list.map((a) => ({ address: a.address, family: a.family === 6 || a.address.includes(':') ? 6 : 4 })));
    });
  });
}

/**
 * Refuse (PosternError `not_allowed`) when any address `host` resolves to breaks the policy;
 * otherwise the addresses, which the caller should dial. Resolution errors are thrown as they
 * come (the caller reports them as an unreachable target).
 */
export async function admitTarget(host: string, policy: TargetPolicy, lookup?: LookupFunction): Promise<ResolvedAddress[]> {
  const addresses = await resolveAll(host, lookup);
  const from = policy.configurationUid ? `PAM configuration ${policy.configurationUid}` : 'the PAM configuration';
  const named = (address: string) => (address === host ? host : `${host} (resolves to ${address})`);
  for (const { address } of addresses) {
    if (!policy.allowMetadata && isMetadataAddress(address)) {
      throw new PosternError(
        'not_allowed',
        `Refused to connect to ${named(address)}: that is a cloud metadata address, which hands out the gateway host's own cloud credentials. If this target really is intended, set allowMetadataTargets=true on ${from}.`,
      );
    }
    if (policy.networks.length > 0 && !policy.networks.some((n) => inNetwork(address, n.range))) {
      throw new PosternError(
        'not_allowed',
        `Refused to connect to ${named(address)}: ${from} restricts targets to ${policy.networks.map((n) => n.text).join(', ')} (targetNetworks). Add the target's network there, or correct the resource's hostname.`,
      );
    }
  }
  return addresses;
}

function inNetwork(address: string, range: CidrRange): boolean {
  const bytes = tryParseIpAddress(address);
  if (!bytes) return false;
  if (inCidr(bytes, range)) return true;
  // An IPv4-mapped address is the IPv4 address on the wire (a dual-stack socket dials it).
  return categorise(bytes) === 'ipv4-mapped' && inCidr(bytes.subarray(12), range);
}

/** A resolver for net.connect that answers with addresses already admitted, and nothing else. */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all)
      callback(
        null,
        addresses.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  }) as unknown as LookupFunction;
}
