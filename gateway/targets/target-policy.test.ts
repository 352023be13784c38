import { describe, expect, it } from 'vitest';
import { admitTarget, targetPolicyOf } from './target-policy.ts';

const resolvesTo = (...addresses: string[]) =>
  ((_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) =>
    cb(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as never;

describe('target policy', () => {
  // threat model (docs/threat-model.md): editor — a target name that resolves to the metadata service
  it('refuses a name if any address it resolves to is a metadata address, unless the configuration allows them', async () => {
    const lookup = resolvesTo('192.0.2.10', 'fd00:ec2::254');
    await expect(admitTarget('db.example', targetPolicyOf({}), lookup)).rejects.toMatchObject({
      code: 'not_allowed',
      message: expect.stringContaining('db.example (resolves to fd00:ec2::254)'),
    });
    expect(await admitTarget('db.example', targetPolicyOf({ allowMetadataTargets: true }), lookup)).toHaveLength(2);
  });

  // threat model (docs/threat-model.md): editor — a target outside the configured networks
  it('with targetNetworks, admits only addresses inside them (IPv4-mapped addresses by their IPv4 address)', async () => {
    const policy = targetPolicyOf({ targetNetworks: '10.1.0.0/16,fd00::/8' });
    expect(await admitTarget('a', policy, resolvesTo('10.1.2.3', 'fd00::1', '::ffff:10.1.0.9'))).toHaveLength(3);
    await expect(admitTarget('b', policy, resolvesTo('10.1.2.3', '10.2.0.1'))).rejects.toMatchObject({
      code: 'not_allowed',
      message: expect.stringContaining('b (resolves to 10.2.0.1)'),
    });
    // Without targetNetworks, ordinary private and loopback targets are fine.
    expect(await admitTarget('localhost', targetPolicyOf({}), resolvesTo('127.0.0.1'))).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});
