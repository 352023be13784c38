import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { newRecordData, validateRecordData, type RecordData } from './record-data.ts';
import { RECORD_TYPES, type RecordType } from './record-types.ts';
import { PEM_KEY, REQUIRED, UID_A, UID_B, VALID_FIELDS } from './testing/fixtures.ts';

function fail(input: unknown): PosternError {
  try {
    validateRecordData(input);
  } catch (e) {
    expect(e).toBeInstanceOf(PosternError);
    return e as PosternError;
  }
  throw new Error('expected validateRecordData to throw');
}

function issues(e: PosternError): { path: string; message: string }[] {
  return (e.details?.['issues'] ?? []) as { path: string; message: string }[];
}

function rec(type: RecordType, fields: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return { type, title: 'T', fields, custom: [], ...extra };
}

describe('validateRecordData: valid records', () => {
  it.each(RECORD_TYPES)('accepts a full %s example', (type) => {
    const r = validateRecordData(rec(type, VALID_FIELDS[type], { notes: 'some notes' }));
    expect(r.type).toBe(type);
    expect(r.title).toBe('T');
    expect(r.notes).toBe('some notes');
    expect(r.custom).toEqual([]);
  });

  it('normalises a pamMachine', () => {
    const r = validateRecordData({ type: 'pamMachine', title: '  Local Linux  ', fields: VALID_FIELDS.pamMachine, custom: [] });
    expect(r.title).toBe('Local Linux');
    expect(r.fields).toEqual({
      hostname: 'local-linux-machine',
      port: 22,
      operatingSystem: 'linux',
      instanceName: 'vm-1',
      instanceId: 'i-0123',
      providerGroup: 'rg',
      providerRegion: 'us-east-1',
      sslVerification: true,
      pamSettings: {
        configurationUid: UID_A,
        adminCredentialUid: UID_B,
        protocol: 'ssh',
        connection: { port: 22, colorScheme: 'gray-black', recordingIncludeKeys: false },
        recording: { graphical: true, typescript: false },
        allowTunneling: true,
      },
    });
  });

  it('fills defaults: features, passwordComplexity.length (pamDatabase.useSSL stays unset: TLS when offered)', () => {
    expect(validateRecordData(rec('pamDatabase', { hostname: 'db', port: 5432 })).fields).toEqual({ hostname: 'db', port: 5432 });
    const cfg = validateRecordData(rec('pamConfiguration', { environment: 'LOCAL', gatewayUid: UID_A, applicationFolderUid: UID_B }));
    expect(cfg.fields).toEqual({
      environment: 'local',
      gatewayUid: UID_A,
      applicationFolderUid: UID_B,
      features: { rotation: false, connections: false, remoteBrowserIsolation: false, tunneling: false, graphicalRecording: false, typescriptRecording: false },
    });
    const user = validateRecordData(rec('pamUser', { login: 'x', passwordComplexity: {} }));
    expect(user.fields['passwordComplexity']).toEqual({ length: 32 });
  });

  it('keeps secrets exactly, trims other strings, drops empty optionals', () => {
    const r = validateRecordData(rec('login', { login: '  alice ', password: ' pa ss ', url: '', oneTimeCode: '   ' }));
    expect(r.fields).toEqual({ login: 'alice', password: ' pa ss ' });
    const u = validateRecordData(rec('pamUser', { login: 'root', privateKey: PEM_KEY }));
    expect(u.fields['privateKey']).toBe(PEM_KEY);
  });

  it('normalises enums, port mappings, CIDRs, schedules, lists', () => {
    const r = validateRecordData(
      rec('pamConfiguration', {
        environment: 'Azure',
        gatewayUid: UID_A,
        applicationFolderUid: UID_B,
        portMapping: [' 2222 = SSH', '', '3390=rdp'],
        networkCidr: '10.0.0.0/8 , FD00::/8',
        defaultRotationSchedule: 'WEEKLY',
        resourceGroups: [' rg1 ', '', 'rg2'],
        clientSecret: 'x',
      }),
    );
    expect(r.fields).toMatchObject({
      environment: 'azure',
      portMapping: ['2222=ssh', '3390=rdp'],
      networkCidr: '10.0.0.0/8,fd00::/8',
      defaultRotationSchedule: 'weekly',
      resourceGroups: ['rg1', 'rg2'],
    });
  });

  it('accepts missing fields/custom on a login and does not mutate its input', () => {
    const input = { type: 'login', title: 'x', fields: { login: ' a ' } };
    const copy = structuredClone(input);
    const r = validateRecordData(input);
    expect(r).toEqual({ type: 'login', title: 'x', fields: { login: 'a' }, custom: [] });
    expect(input).toEqual(copy);
  });

  it('output survives a JSON round trip unchanged', () => {
    for (const type of RECORD_TYPES) {
      const r = validateRecordData(rec(type, VALID_FIELDS[type]));
      expect(validateRecordData(JSON.parse(JSON.stringify(r)))).toEqual(r);
    }
  });

  it('newRecordData builds and validates', () => {
    const r: RecordData = newRecordData('pamMachine', 'Web', { hostname: 'web', port: 22 }, [{ label: 'noop', value: 'TRUE' }]);
    expect(r).toEqual({ type: 'pamMachine', title: 'Web', fields: { hostname: 'web', port: 22 }, custom: [{ label: 'NOOP', value: 'true' }] });
    expect(newRecordData('login', 'L')).toEqual({ type: 'login', title: 'L', fields: {}, custom: [] });
    expect(() => newRecordData('pamMachine', 'Web')).toThrow(PosternError);
    expect(() => newRecordData('nope', 'x')).toThrow(expect.objectContaining({ code: 'unknown_record_type' }));
  });
});

describe('validateRecordData: errors', () => {
  it.each(RECORD_TYPES.filter((t) => REQUIRED[t].length > 0))('%s: each required field missing', (type) => {
    for (const field of REQUIRED[type]) {
      const fields = { ...VALID_FIELDS[type] };
      delete fields[field];
      const e = fail(rec(type, fields));
      expect(e.code).toBe('bad_request');
      expect(issues(e)).toContainEqual({ path: `fields.${field}`, message: `${type}.${field}: is required` });
      expect(e.message).toContain(`${type}.${field}`);
    }
  });

  it('unknown record type', () => {
    const e = fail({ type: 'pamWidget', title: 'x', fields: {} });
    expect(e.code).toBe('unknown_record_type');
    expect(e.message).toContain('pamWidget');
    expect(e.details?.['validTypes']).toEqual([...RECORD_TYPES]);
    expect(fail({ type: 'PAMMACHINE', title: 'x' }).code).toBe('unknown_record_type');
  });

  it('missing or non-string type, non-object records are bad_request', () => {
    for (const input of [{ title: 'x' }, { type: 5, title: 'x' }, null, 'pamMachine', [], 42]) expect(fail(input).code).toBe('bad_request');
  });

  it('port: "abc", 70000, 0, 22.5, "22"', () => {
    for (const port of ['abc', 70000, 0, 22.5, '22', -1, null, true]) {
      const e = fail(rec('pamMachine', { hostname: 'h', port }));
      expect(e.code).toBe('bad_request');
      expect(issues(e)).toEqual([{ path: 'fields.port', message: 'pamMachine.port: expected an integer from 1 to 65535' }]);
    }
    const e = fail(rec('pamConfiguration', { environment: 'domain', gatewayUid: UID_A, applicationFolderUid: UID_B, domainPort: 99999 }));
    expect(e.message).toBe('pamConfiguration.domainPort: expected an integer from 1 to 65535');
  });

  it('bad CIDR', () => {
    for (const networkCidr of ['10.0.0.0', '10.0.0.0/33', 'fd00::/200', 'not-a-cidr', '10.0.0.0/8,bad']) {
      const e = fail(rec('pamConfiguration', { environment: 'local', gatewayUid: UID_A, applicationFolderUid: UID_B, networkCidr }));
      expect(e.message, networkCidr).toMatch(/^pamConfiguration\.networkCidr: expected an IPv4 or IPv6 CIDR/);
    }
  });

  it('bad portMapping', () => {
    const base = { environment: 'local', gatewayUid: UID_A, applicationFolderUid: UID_B };
    expect(fail(rec('pamConfiguration', { ...base, portMapping: ['ssh=2222'] })).message).toMatch(
      /^pamConfiguration\.portMapping\[0\]: expected port=protocol/,
    );
    expect(fail(rec('pamConfiguration', { ...base, portMapping: ['22=ssh', '99999=ssh'] })).message).toMatch(/^pamConfiguration\.portMapping\[1\]/);
    expect(fail(rec('pamConfiguration', { ...base, portMapping: ['22=ssh', '22=rdp'] })).message).toContain('port 22 is mapped twice');
    expect(fail(rec('pamConfiguration', { ...base, portMapping: '22=ssh' })).message).toMatch(/^pamConfiguration\.portMapping: expected port=protocol/);
  });

  it('bad URL', () => {
    for (const url of ['ftp://example.com', 'javascript:alert(1)', 'example.com', 'https://', 'http://exa mple.com', '']) {
      const e = fail(rec('pamRemoteBrowser', { url }));
      expect(issues(e)[0]?.path, url).toBe('fields.url');
    }
  });

  it('bad protocol and other enums', () => {
    expect(fail(rec('pamMachine', { hostname: 'h', port: 22, pamSettings: { protocol: 'smb' } })).message).toBe(
      'pamMachine.pamSettings.protocol: expected one of ssh, rdp, vnc, telnet, mysql, postgresql, sqlserver, http, kubernetes',
    );
    expect(fail(rec('pamMachine', { hostname: 'h', port: 22, operatingSystem: 'beos' })).message).toContain('pamMachine.operatingSystem');
    expect(fail(rec('pamDatabase', { hostname: 'h', port: 1, databaseType: 'sqlite' })).message).toContain('pamDatabase.databaseType');
    expect(fail(rec('pamDirectory', { hostname: 'h', port: 1, directoryType: 'nis' })).message).toContain('pamDirectory.directoryType');
    expect(fail(rec('pamConfiguration', { environment: 'gcp', gatewayUid: UID_A, applicationFolderUid: UID_B })).message).toContain(
      'pamConfiguration.environment',
    );
  });

  it('wrong types for booleans, UIDs, lists, hostnames, schedules, private keys', () => {
    expect(fail(rec('pamDatabase', { hostname: 'h', port: 1, useSSL: 'yes' })).message).toBe('pamDatabase.useSSL: expected true or false');
    expect(fail(rec('pamMachine', { hostname: 'h', port: 1, pamSettings: { configurationUid: 'abc' } })).message).toContain(
      'pamMachine.pamSettings.configurationUid',
    );
    expect(fail(rec('pamConfiguration', { environment: 'aws', gatewayUid: UID_A, applicationFolderUid: UID_B, regionNames: 'us-east-1' })).message).toContain(
      'pamConfiguration.regionNames',
    );
    expect(fail(rec('pamMachine', { hostname: 'http://h/x', port: 1 })).message).toContain('pamMachine.hostname');
    expect(fail(rec('pamMachine', { hostname: 'a b', port: 1 })).message).toContain('pamMachine.hostname');
    expect(
      fail(rec('pamConfiguration', { environment: 'aws', gatewayUid: UID_A, applicationFolderUid: UID_B, defaultRotationSchedule: 'sometimes' })).message,
    ).toContain('pamConfiguration.defaultRotationSchedule');
    const e = fail(rec('pamUser', { login: 'root', privateKey: 'hunter2-not-a-key' }));
    expect(e.message).toContain('pamUser.privateKey');
    expect(e.message).not.toContain('hunter2');
    expect(fail(rec('pamUser', { login: 'root', passwordComplexity: { length: 10, upper: 6, lower: 6 } })).message).toContain('exceeds length');
    expect(fail(rec('pamMachine', { hostname: 'h', port: 1, pamSettings: { connection: { x: { y: 1 } } } })).message).toContain(
      'pamMachine.pamSettings.connection.x',
    );
  });

  it('unknown fields are rejected and the valid ones listed', () => {
    const e = fail(rec('pamMachine', { hostname: 'h', port: 1, hostnmae: 'x' }));
    expect(e.message).toBe(
      'pamMachine.hostnmae: unknown field (valid: hostname, port, operatingSystem, instanceName, instanceId, providerGroup, providerRegion, sslVerification, hostKey, pamSettings, trafficEncryptionSeed)',
    );
    expect(fail(rec('pamMachine', { hostname: 'h', port: 1, pamSettings: { proto: 'ssh' } })).message).toMatch(
      /^pamMachine\.pamSettings\.proto: unknown field \(valid: configurationUid/,
    );
    expect(fail({ type: 'login', title: 'x', uid: UID_A }).message).toMatch(/^login\.uid: unknown property/);
  });

  it('title rules', () => {
    for (const title of ['', '   ', 'x'.repeat(257), 'a\nb', undefined, 5]) {
      const e = fail({ type: 'login', title, fields: {} });
      expect(issues(e)[0]?.path).toBe('title');
    }
    expect(validateRecordData({ type: 'login', title: 'x'.repeat(256) }).title).toHaveLength(256);
  });

  it('custom fields: shape, duplicates, gateway values', () => {
    expect(fail({ type: 'login', title: 'x', custom: [{ label: 'a' }] }).message).toBe('login.custom[0].value: is required');
    expect(fail({ type: 'login', title: 'x', custom: 'nope' }).message).toContain('login.custom');
    expect(
      fail({
        type: 'login',
        title: 'x',
        custom: [
          { label: 'Env', value: '1' },
          { label: ' ENV ', value: '2' },
        ],
      }).message,
    ).toContain('duplicate label');
    expect(fail(rec('pamMachine', { hostname: 'h', port: 1 }, { custom: [{ label: 'noop', value: 'maybe' }] })).message).toBe(
      'pamMachine custom field "NOOP": expected true or false',
    );
    expect(fail(rec('pamUser', { login: 'u' }, { custom: [{ label: 'Private Key Type', value: 'rsa' }] })).message).toContain('Private Key Type');
    // duplicates after canonicalisation
    expect(
      fail(
        rec(
          'pamUser',
          { login: 'u' },
          {
            custom: [
              { label: 'NOOP', value: 'true' },
              { label: 'noop', value: 'false' },
            ],
          },
        ),
      ).message,
    ).toContain('duplicate');
    // gateway meaning only on PAM types: a login may have a "Kerberos" note
    expect(validateRecordData({ type: 'login', title: 'x', custom: [{ label: 'kerberos', value: 'realm EXAMPLE' }] }).custom).toEqual([
      { label: 'kerberos', value: 'realm EXAMPLE' },
    ]);
    const r = validateRecordData(
      rec(
        'pamUser',
        { login: 'u' },
        {
          custom: [
            { label: 'private key type', value: ' SSH-ED25519 ' },
            { label: 'Private Key Rotate', value: 'FALSE' },
            { label: 'shell', value: ' /bin/bash ' },
            { label: 'Team', value: ' keep me ' },
          ],
        },
      ),
    );
    expect(r.custom).toEqual([
      { label: 'Private Key Type', value: 'ssh-ed25519' },
      { label: 'Private Key Rotate', value: 'false' },
      { label: 'Shell', value: '/bin/bash' },
      { label: 'Team', value: ' keep me ' },
    ]);
  });

  it('collects several problems into details.issues', () => {
    const e = fail({ type: 'pamMachine', title: '', fields: { port: 'abc' }, custom: [{ label: 'NOOP', value: 'x' }] });
    expect(issues(e).map((i) => i.path)).toEqual(['title', 'fields.hostname', 'fields.port', 'custom.0.value']);
    expect(e.message).toMatch(/\(and 3 more problems\)$/);
    expect(e.details?.['type']).toBe('pamMachine');
  });

  it('never echoes secret values in errors', () => {
    const e = fail(rec('login', { password: 12345678, oneTimeCode: ['s3cr3t-value'] }));
    expect(JSON.stringify(e.toJSON())).not.toContain('12345678');
    expect(JSON.stringify(e.toJSON())).not.toContain('s3cr3t-value');
  });

  it('rejects prototype-polluting keys without polluting', () => {
    const input = JSON.parse(
      '{"type":"pamMachine","title":"x","fields":{"hostname":"h","port":1,"pamSettings":{"connection":{"__proto__":{"polluted":1}}},"__proto__":{"polluted":1}}}',
    );
    expect(() => validateRecordData(input)).toThrow(PosternError);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
