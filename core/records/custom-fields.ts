/**
 * Custom fields: free `{ label, value }` pairs on any record. On PAM record types a few labels
 * change what the gateway does (seed: "Advanced configuration of the Keeper gateway with Keeper
 * Vault custom fields"): Shell, NOOP, Kerberos, Private Key Type, Private Key Rotate. Their labels
 * match case-insensitively and their values are not case-sensitive.
 */
import { PosternError } from '../errors.ts';
import type { CustomField, RecordData } from './record-data.ts';

export const GATEWAY_CUSTOM_FIELDS = ['Shell', 'NOOP', 'Kerberos', 'Private Key Type', 'Private Key Rotate'] as const;
export type GatewayCustomField = (typeof GATEWAY_CUSTOM_FIELDS)[number];

/** Values of the `Private Key Type` custom field (normalised to lower case). */
export const PRIVATE_KEY_TYPES = ['ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-ed25519'] as const;
export type PrivateKeyType = (typeof PRIVATE_KEY_TYPES)[number];

export interface GatewayOptions {
  /** Shell used for rotation and post-rotation scripts; undefined = the gateway's default. */
  shell?: string;
  /** Skip the rotation itself and only run post-rotation scripts. Default false. */
  noop: boolean;
  /** Force Kerberos for WinRM. Default false (the gateway decides). */
  kerberos: boolean;
  /** Key algorithm for a rotated private key; undefined = keep the existing key's algorithm. */
  privateKeyType?: PrivateKeyType;
  /** Rotate the private key when one exists. Default true. */
  privateKeyRotate: boolean;
}

/** Case-insensitive comparison key for a custom-field label: trimmed, lower case, single spaces. */
export function labelKey(label: string): string {
  return label.trim().replace(/\s+/g, ' ').toLowerCase();
}

const GATEWAY_BY_KEY = new Map<string, GatewayCustomField>(GATEWAY_CUSTOM_FIELDS.map((l) => [l.toLowerCase().replace(/[\s_-]+/g, ''), l]));

/**
 * The canonical gateway label for `label`, or undefined. Matching ignores case, spaces, dashes and
 * underscores, so `noop`, `private key type`, `Private-Key-Type` and `privateKeyType` all match.
 */
export function canonicalGatewayLabel(label: string): GatewayCustomField | undefined {
  return GATEWAY_BY_KEY.get(label.toLowerCase().replace(/[\s_-]+/g, ''));
}

export type GatewayValueResult = { ok: true; value: string } | { ok: false; message: string };

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Validate and normalise the value of a gateway custom field (never echoes the value). */
export function normaliseGatewayValue(label: GatewayCustomField, value: string): GatewayValueResult {
  const v = value.trim();
  switch (label) {
    case 'Shell':
      if (v === '') return { ok: false, message: 'expected a shell path' };
      if (v.length > 1024 || CONTROL_CHARS.test(v)) return { ok: false, message: 'expected a shell path (at most 1024 characters, no control characters)' };
      return { ok: true, value: v };
    case 'NOOP':
    case 'Kerberos':
    case 'Private Key Rotate': {
      const lower = v.toLowerCase();
      if (lower === 'true' || lower === 'false') return { ok: true, value: lower };
      return { ok: false, message: 'expected true or false' };
    }
    case 'Private Key Type': {
      const lower = v.toLowerCase();
      if ((PRIVATE_KEY_TYPES as readonly string[]).includes(lower)) return { ok: true, value: lower };
      return { ok: false, message: `expected one of ${PRIVATE_KEY_TYPES.join(', ')}` };
    }
  }
}

function findCustom(custom: readonly CustomField[], label: string): CustomField | undefined {
  if (!Array.isArray(custom)) return undefined;
  const key = labelKey(label);
  const exact = custom.find((c) => typeof c?.label === 'string' && labelKey(c.label) === key);
  if (exact) return exact;
  const gw = canonicalGatewayLabel(label);
  if (gw === undefined) return undefined;
  return custom.find((c) => typeof c?.label === 'string' && canonicalGatewayLabel(c.label) === gw);
}

/** The value of the custom field `label` (case-insensitive), or undefined. */
export function customValue(record: Pick<RecordData, 'custom'>, label: string): string | undefined {
  const v = findCustom(record.custom, label)?.value;
  return typeof v === 'string' ? v : undefined;
}

/**
 * The gateway behaviour selected by the record's custom fields, with the seed's defaults
 * (NOOP false, Kerberos false, Private Key Rotate true, Private Key Type unset).
 * Throws PosternError 'bad_request' naming every field with an invalid value.
 */
export function gatewayOptions(record: Pick<RecordData, 'custom'>): GatewayOptions {
  const issues: { path: string; message: string }[] = [];
  const read = (label: GatewayCustomField): string | undefined => {
    const field = findCustom(record.custom, label);
    if (field === undefined) return undefined;
    if (typeof field.value !== 'string') {
      issues.push({ path: `custom.${label}`, message: `custom field "${label}": expected a string` });
      return undefined;
    }
    const r = normaliseGatewayValue(label, field.value);
    if (!r.ok) {
      issues.push({ path: `custom.${label}`, message: `custom field "${label}": ${r.message}` });
      return undefined;
    }
    return r.value;
  };
  const shell = read('Shell');
  const noop = read('NOOP');
  const kerberos = read('Kerberos');
  const privateKeyType = read('Private Key Type') as PrivateKeyType | undefined;
  const privateKeyRotate = read('Private Key Rotate');
  if (issues.length > 0) {
    const first = issues[0]?.message ?? 'invalid custom field';
    throw new PosternError('bad_request', issues.length === 1 ? first : `${first} (and ${issues.length - 1} more)`, {
      issues,
    });
  }
  return {
    ...(shell !== undefined ? { shell } : {}),
    noop: noop === 'true',
    kerberos: kerberos === 'true',
    ...(privateKeyType !== undefined ? { privateKeyType } : {}),
    privateKeyRotate: privateKeyRotate !== 'false',
  };
}
