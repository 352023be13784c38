import { describe, expect, it } from 'vitest';
import {
  RECORD_TYPES,
  SECRET_FIELD_NAMES,
  fieldPaths,
  fieldSchemas,
  isRecordType,
  isSecretField,
  pamSettingsSchema,
  passwordComplexitySchema,
  requiredFields,
} from './record-types.ts';
import { isCidr, isUid, normaliseRotationSchedule, parsePortMappingEntry } from './validators.ts';
import { REQUIRED, UID_A, UID_B, UID_C } from './testing/fixtures.ts';

function randomUid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

describe('record types', () => {
  it('lists the seven types and recognises them exactly', () => {
    expect(RECORD_TYPES).toEqual(['login', 'pamMachine', 'pamDatabase', 'pamDirectory', 'pamRemoteBrowser', 'pamUser', 'pamConfiguration']);
    for (const t of RECORD_TYPES) expect(isRecordType(t)).toBe(true);
    for (const t of ['PAMMACHINE', 'pammachine', '', 'file', 1, null, undefined, {}]) expect(isRecordType(t)).toBe(false);
    expect(Object.keys(fieldSchemas).sort()).toEqual([...RECORD_TYPES].sort());
  });

  it('knows the required fields of each type', () => {
    for (const t of RECORD_TYPES) expect(requiredFields(t)).toEqual(REQUIRED[t]);
  });

  it('lists dotted field paths', () => {
    expect(fieldPaths('pamMachine')).toContain('pamSettings.protocol');
    expect(fieldPaths('pamMachine')).toContain('pamSettings.connection.<name>');
    expect(fieldPaths('pamMachine')).toContain('pamSettings.recording.graphical');
    expect(fieldPaths('pamConfiguration')).toContain('features.tunneling');
    expect(fieldPaths('pamUser')).toContain('passwordComplexity.length');
    expect(fieldPaths('login')).toEqual(['login', 'password', 'url', 'oneTimeCode']);
  });
});

describe('isUid', () => {
  it('accepts 16 random bytes in base64url', () => {
    for (let i = 0; i < 500; i++) expect(isUid(randomUid())).toBe(true);
    for (const u of [UID_A, UID_B, UID_C]) expect(isUid(u)).toBe(true);
  });
  it('rejects anything else', () => {
    for (const u of ['', 'A'.repeat(21), 'A'.repeat(23), 'AAAAAAAAAAAAAAAAAAAAA+', 'AAAAAAAAAAAAAAAAAAAAA=', 'AAAAAAAAAAAAAAAAAAAAAB', ` ${UID_A}`, 22, null]) {
      expect(isUid(u)).toBe(false);
    }
  });
});

describe('secret fields', () => {
  it('exports the secret names', () => {
    expect([...SECRET_FIELD_NAMES].sort()).toEqual(['clientSecret', 'oneTimeCode', 'password', 'privateKey', 'secretAccessKey', 'trafficEncryptionSeed']);
  });
  it('matches names, dotted paths and labels loosely', () => {
    for (const n of [
      'password',
      'privateKey',
      'secretAccessKey',
      'clientSecret',
      'oneTimeCode',
      'Password',
      'Private Key',
      'client_secret',
      'pamSettings.connection.password',
      'trafficEncryptionSeed',
    ]) {
      expect(isSecretField(n), n).toBe(true);
    }
    for (const n of ['login', 'hostname', 'Private Key Type', 'Private Key Rotate', 'passwordComplexity', 'passwordComplexity.length', 'accessKeyId']) {
      expect(isSecretField(n), n).toBe(false);
    }
  });
});

describe('leaf validators', () => {
  it('CIDRs', () => {
    for (const c of ['10.0.0.0/8', '0.0.0.0/0', '192.168.1.0/24', '::/0', 'fd00::/8', '2001:db8::/32', '::ffff:10.0.0.0/104']) expect(isCidr(c), c).toBe(true);
    for (const c of ['10.0.0.0', '10.0.0.0/33', '256.0.0.0/8', '010.0.0.0/8', 'fd00::/129', '1::2::3/64', 'abc', '10.0.0/8', ''])
      expect(isCidr(c), c).toBe(false);
  });
  it('port mapping entries', () => {
    expect(parsePortMappingEntry('2222=ssh')).toBe('2222=ssh');
    expect(parsePortMappingEntry(' 3390 = RDP ')).toBe('3390=rdp');
    for (const e of ['ssh=2222', '0=ssh', '70000=ssh', '22=shh', '22', '=ssh', '22=', 'a=b=c']) expect(parsePortMappingEntry(e), e).toBeUndefined();
  });
  it('rotation schedules', () => {
    expect(normaliseRotationSchedule('Daily')).toBe('daily');
    expect(normaliseRotationSchedule('cron:0 3 * * *')).toBe('cron:0 3 * * *');
    expect(normaliseRotationSchedule('CRON:  */5  1-3 * * MON-FRI ')).toBe('cron:*/5 1-3 * * MON-FRI');
    for (const s of ['dailly', 'cron:0 3 * *', 'cron:', '', 'cron:0 3 * * * *', 'cron:0 3 * * ;rm']) expect(normaliseRotationSchedule(s), s).toBeUndefined();
  });
  it('pamSettings and passwordComplexity schemas are usable on their own', () => {
    expect(pamSettingsSchema.parse({ protocol: 'RDP', recording: {} })).toEqual({ protocol: 'rdp', recording: { graphical: false, typescript: false } });
    expect(passwordComplexitySchema.parse({})).toEqual({ length: 32 });
    expect(passwordComplexitySchema.safeParse({ length: 7 }).success).toBe(false);
    expect(passwordComplexitySchema.safeParse({ length: 129 }).success).toBe(false);
    expect(passwordComplexitySchema.safeParse({ upper: -1 }).success).toBe(false);
    expect(passwordComplexitySchema.safeParse({ length: 8, upper: 5, digits: 5 }).success).toBe(false);
    expect(passwordComplexitySchema.safeParse({ specialChars: 'abc' }).success).toBe(false);
    expect(passwordComplexitySchema.safeParse({ specialChars: ' !#' }).success).toBe(true);
  });
});

describe('target trust fields (docs/decisions/0006-target-trust.md)', () => {
  const ed = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const fp = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';
  it('pamMachine.hostKey takes key lines, known_hosts lines and SHA256 fingerprints, stored one per line', () => {
    const parse = (hostKey: string) => fieldSchemas.pamMachine.safeParse({ hostname: 'h', port: 22, hostKey });
    const ok = parse(`[h]:22 ssh-ed25519 ${ed} comment here,\n${fp}=\n# a comment\nssh-ed25519 ${ed}`);
    expect(ok.success && ok.data.hostKey).toBe(`ssh-ed25519 ${ed}\n${fp}`);
    expect(parse('  ').success && parse('  ').data?.hostKey).toBeUndefined();
    for (const bad of ['SHA256:short', 'ssh-dss AAAA', 'md5:aa:bb', 'ssh-ed25519 not*base64']) expect(parse(bad).success, bad).toBe(false);
  });
  it('pamDatabase.useSSL is unset unless given (TLS when offered); sslCaCertificate takes PEM certificates only', () => {
    const db = (extra: object) => fieldSchemas.pamDatabase.safeParse({ hostname: 'h', port: 5432, ...extra });
    expect(db({}).data?.useSSL).toBeUndefined();
    expect(db({ useSSL: false }).data?.useSSL).toBe(false);
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    expect(db({ sslCaCertificate: pem }).data?.sslCaCertificate).toBe(`${pem}\n`);
    expect(db({ sslCaCertificate: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----' }).success).toBe(false);
  });
  it('pamConfiguration.targetNetworks takes CIDRs and allowMetadataTargets a boolean', () => {
    const cfg = (extra: object) => fieldSchemas.pamConfiguration.safeParse({ environment: 'local', gatewayUid: UID_A, applicationFolderUid: UID_B, ...extra });
    expect(cfg({ targetNetworks: '10.0.0.0/8, FD00::/8', allowMetadataTargets: true }).data).toMatchObject({
      targetNetworks: '10.0.0.0/8,fd00::/8',
      allowMetadataTargets: true,
    });
    expect(cfg({ targetNetworks: '10.0.0.1' }).success).toBe(false);
  });
});
