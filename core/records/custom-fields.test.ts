import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { GATEWAY_CUSTOM_FIELDS, PRIVATE_KEY_TYPES, canonicalGatewayLabel, customValue, gatewayOptions } from './custom-fields.ts';
import type { CustomField } from './record-data.ts';

const withCustom = (custom: CustomField[]) => ({ custom });

describe('custom fields', () => {
  it('exports the gateway labels and key types', () => {
    expect(GATEWAY_CUSTOM_FIELDS).toEqual(['Shell', 'NOOP', 'Kerberos', 'Private Key Type', 'Private Key Rotate']);
    expect(PRIVATE_KEY_TYPES).toEqual(['ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-ed25519']);
  });

  it('canonicalGatewayLabel matches loosely', () => {
    expect(canonicalGatewayLabel('noop')).toBe('NOOP');
    expect(canonicalGatewayLabel(' PRIVATE  KEY TYPE ')).toBe('Private Key Type');
    expect(canonicalGatewayLabel('privateKeyRotate')).toBe('Private Key Rotate');
    expect(canonicalGatewayLabel('private-key-type')).toBe('Private Key Type');
    expect(canonicalGatewayLabel('Private Key')).toBeUndefined();
    expect(canonicalGatewayLabel('shells')).toBeUndefined();
  });

  it('customValue is case-insensitive', () => {
    const r = withCustom([
      { label: 'Cost Center', value: ' 42 ' },
      { label: 'NOOP', value: 'true' },
    ]);
    expect(customValue(r, 'cost center')).toBe(' 42 ');
    expect(customValue(r, 'COST CENTER')).toBe(' 42 ');
    expect(customValue(r, 'noop')).toBe('true');
    expect(customValue(r, 'missing')).toBeUndefined();
    expect(customValue({ custom: undefined as unknown as CustomField[] }, 'x')).toBeUndefined();
  });

  it('gatewayOptions defaults (seed: NOOP false, Kerberos false, Private Key Rotate true, type unset)', () => {
    expect(gatewayOptions(withCustom([]))).toEqual({ noop: false, kerberos: false, privateKeyRotate: true });
    expect(gatewayOptions(withCustom([{ label: 'Team', value: 'x' }]))).toEqual({ noop: false, kerberos: false, privateKeyRotate: true });
  });

  it('gatewayOptions reads case-insensitive labels and values', () => {
    expect(
      gatewayOptions(
        withCustom([
          { label: 'shell', value: ' C:\\MY\\SHELL ' },
          { label: 'noop', value: 'TRUE' },
          { label: 'KERBEROS', value: 'True' },
          { label: 'private key type', value: 'ECDSA-SHA2-NISTP384' },
          { label: 'Private Key Rotate', value: 'FALSE' },
        ]),
      ),
    ).toEqual({ shell: 'C:\\MY\\SHELL', noop: true, kerberos: true, privateKeyType: 'ecdsa-sha2-nistp384', privateKeyRotate: false });
    expect(
      gatewayOptions(
        withCustom([
          { label: 'NOOP', value: 'false' },
          { label: 'Private Key Rotate', value: 'true' },
        ]),
      ),
    ).toEqual({
      noop: false,
      kerberos: false,
      privateKeyRotate: true,
    });
  });

  it('gatewayOptions rejects invalid values, naming the field', () => {
    const cases: [string, string][] = [
      ['NOOP', 'yes'],
      ['Kerberos', '1'],
      ['Private Key Rotate', 'maybe'],
      ['Private Key Type', 'rsa'],
      ['Shell', '   '],
    ];
    for (const [label, value] of cases) {
      let err: unknown;
      try {
        gatewayOptions(withCustom([{ label: label.toLowerCase(), value }]));
      } catch (e) {
        err = e;
      }
      expect(err, label).toBeInstanceOf(PosternError);
      expect((err as PosternError).code).toBe('bad_request');
      expect((err as PosternError).message).toContain(`"${label}"`);
    }
    let err: PosternError | undefined;
    try {
      gatewayOptions(
        withCustom([
          { label: 'NOOP', value: 'x' },
          { label: 'Kerberos', value: 'y' },
        ]),
      );
    } catch (e) {
      err = e as PosternError;
    }
    expect(err?.details?.['issues']).toHaveLength(2);
    expect(err?.message).toContain('(and 1 more)');
  });
});
