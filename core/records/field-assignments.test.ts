import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { applyFieldAssignments, assignableFieldNames, parseBooleanWord } from './field-assignments.ts';
import { newRecordData, type RecordData } from './record-data.ts';
import { UID_A, UID_B } from './testing/fixtures.ts';

const machine = (): RecordData => newRecordData('pamMachine', 'Web', { hostname: 'web', port: 22 });
const config = (): RecordData => newRecordData('pamConfiguration', 'Cfg', { environment: 'local', gatewayUid: UID_A, applicationFolderUid: UID_B });
const user = (): RecordData => newRecordData('pamUser', 'Root', { login: 'root' });

function fail(record: RecordData, assignments: string[]): PosternError {
  try {
    applyFieldAssignments(record, assignments);
  } catch (e) {
    expect(e).toBeInstanceOf(PosternError);
    return e as PosternError;
  }
  throw new Error('expected applyFieldAssignments to throw');
}

describe('applyFieldAssignments', () => {
  it('sets plain fields with coercion and returns a new validated record', () => {
    const before = machine();
    const snapshot = structuredClone(before);
    const r = applyFieldAssignments(before, ['hostname= db1.example.com ', 'port=2222', 'operatingSystem=Windows', 'sslVerification=YES']);
    expect(r.fields).toEqual({ hostname: 'db1.example.com', port: 2222, operatingSystem: 'windows', sslVerification: true });
    expect(before).toEqual(snapshot);
  });

  it('splits at the first "="', () => {
    const r = applyFieldAssignments(newRecordData('login', 'L'), ['password=a=b==', 'url=https://x.example/?a=1&b=2']);
    expect(r.fields).toEqual({ password: 'a=b==', url: 'https://x.example/?a=1&b=2' });
  });

  it('field names are case-insensitive', () => {
    expect(applyFieldAssignments(machine(), ['HostName=x', 'PAMSETTINGS.Protocol=RDP']).fields).toMatchObject({
      hostname: 'x',
      pamSettings: { protocol: 'rdp' },
    });
  });

  it('dotted paths into nested groups', () => {
    const r = applyFieldAssignments(machine(), [
      'pamSettings.protocol=ssh',
      `pamSettings.configurationUid=${UID_A}`,
      'pamSettings.connection.port=2222',
      'pamSettings.connection.colorScheme=gray-black',
      'pamSettings.connection.enableSftp=TRUE',
      'pamSettings.connection.sftp.rootDirectory=/home',
      'pamSettings.recording.graphical=on'.replace('on', 'yes'),
      'pamSettings.allowTunneling=1',
    ]);
    expect(r.fields['pamSettings']).toEqual({
      protocol: 'ssh',
      configurationUid: UID_A,
      connection: { port: 2222, colorScheme: 'gray-black', enableSftp: true, 'sftp.rootDirectory': '/home' },
      recording: { graphical: true, typescript: false },
      allowTunneling: true,
    });
    const c = applyFieldAssignments(config(), ['features.tunneling=true', 'features.Rotation=Yes']);
    expect(c.fields['features']).toMatchObject({ tunneling: true, rotation: true, connections: false });
    const u = applyFieldAssignments(user(), ['passwordComplexity.length=40', 'passwordComplexity.special=2', 'passwordComplexity.specialChars=!@#']);
    expect(u.fields['passwordComplexity']).toEqual({ length: 40, special: 2, specialChars: '!@#' });
  });

  it('a whole group as JSON', () => {
    const r = applyFieldAssignments(machine(), ['pamSettings={"protocol":"VNC","connection":{"port":5901}}']);
    expect(r.fields['pamSettings']).toEqual({ protocol: 'vnc', connection: { port: 5901 } });
    expect(fail(machine(), ['pamSettings=ssh']).message).toContain('expected a JSON object');
  });

  it('booleans in mixed case', () => {
    for (const [v, want] of [
      ['TRUE', true],
      ['False', false],
      ['yEs', true],
      ['NO', false],
      ['1', true],
      ['0', false],
    ] as const) {
      expect(applyFieldAssignments(machine(), [`sslVerification=${v}`]).fields['sslVerification']).toBe(want);
    }
    expect(fail(machine(), ['sslVerification=maybe']).message).toBe('pamMachine.sslVerification: expected true or false');
    expect(parseBooleanWord(' On ')).toBeUndefined();
  });

  it('string lists and port mappings', () => {
    const r = applyFieldAssignments(config(), ['regionNames=us-east-1, us-west-2,,', 'portMapping=2222=ssh\n3390=RDP, 8443=https', 'networkCidr=10.0.0.0/8']);
    expect(r.fields).toMatchObject({ regionNames: ['us-east-1', 'us-west-2'], portMapping: ['2222=ssh', '3390=rdp', '8443=https'], networkCidr: '10.0.0.0/8' });
    expect(applyFieldAssignments(config(), ['resourceGroups=["a","b"]']).fields['resourceGroups']).toEqual(['a', 'b']);
    expect(fail(config(), ['portMapping=2222:ssh']).message).toMatch(/^pamConfiguration\.portMapping\[0\]/);
    expect(fail(config(), ['networkCidr=10.0.0.0/40']).message).toMatch(/^pamConfiguration\.networkCidr/);
  });

  it('bad values surface the field messages', () => {
    expect(fail(machine(), ['port=abc']).message).toBe('pamMachine.port: expected an integer from 1 to 65535');
    expect(fail(machine(), ['port=70000']).message).toBe('pamMachine.port: expected an integer from 1 to 65535');
    expect(fail(machine(), ['pamSettings.protocol=smb']).message).toContain('pamMachine.pamSettings.protocol: expected one of');
    expect(fail(newRecordData('pamRemoteBrowser', 'B', { url: 'https://x.example' }), ['url=ftp://x']).message).toContain('pamRemoteBrowser.url');
  });

  it('title and notes', () => {
    const r = applyFieldAssignments(machine(), ['title=  New Title ', 'notes=line 1\nline 2']);
    expect(r.title).toBe('New Title');
    expect(r.notes).toBe('line 1\nline 2');
    expect(applyFieldAssignments(r, ['notes=']).notes).toBeUndefined();
    expect(fail(machine(), ['title=']).message).toContain('title');
    expect(fail(machine(), ['type=pamUser']).message).toContain('type cannot be changed');
  });

  it('an empty value removes the field', () => {
    const r = applyFieldAssignments(machine(), ['operatingSystem=linux', 'pamSettings.protocol=ssh', 'pamSettings.connection.port=22']);
    const r2 = applyFieldAssignments(r, ['operatingSystem=', 'pamSettings.connection.port=', 'pamSettings.recording.graphical=']);
    expect(r2.fields).toEqual({ hostname: 'web', port: 22, pamSettings: { protocol: 'ssh', connection: {} } });
    expect(applyFieldAssignments(r, ['pamSettings=']).fields).toEqual({ hostname: 'web', port: 22, operatingSystem: 'linux' });
    // removing a required field is a validation error
    expect(fail(machine(), ['hostname=']).message).toBe('pamMachine.hostname: is required');
    // removing something absent is a no-op
    expect(applyFieldAssignments(machine(), ['instanceId=', 'pamSettings.protocol=']).fields).toEqual({ hostname: 'web', port: 22 });
  });

  it('unknown field names are errors listing the valid names', () => {
    const e = fail(machine(), ['hostnmae=x']);
    expect(e.code).toBe('bad_request');
    expect(e.message).toMatch(/^unknown field "hostnmae" for pamMachine; valid fields: title, notes, hostname, port, /);
    expect(e.message).toContain('pamSettings.protocol');
    expect(e.message).toContain('NOOP');
    expect(e.message).toContain('custom.<label>');
    expect(e.details?.['validFields']).toEqual(assignableFieldNames('pamMachine'));
    expect(fail(machine(), ['pamSettings.protocl=ssh']).message).toMatch(/^unknown field "pamSettings.protocl"/);
    expect(fail(machine(), ['hostname.sub=x']).message).toMatch(/^unknown field/);
    expect(fail(machine(), ['Team=blue']).message).toMatch(/^unknown field "Team"/);
    // gateway labels only exist on PAM types
    expect(fail(newRecordData('login', 'L'), ['noop=true']).message).toMatch(/^unknown field "noop" for login/);
  });

  it('malformed assignments', () => {
    const e = fail(machine(), ['hunter2']);
    expect(e.message).toContain("no '=' found");
    expect(e.message).not.toContain('hunter2');
    expect(fail(machine(), ['=x']).code).toBe('bad_request');
    expect(fail(machine(), ['custom.=x']).code).toBe('bad_request');
    expect(fail(machine(), ['custom=x']).code).toBe('bad_request');
    expect(fail(machine(), ['pamSettings.connection.=x']).code).toBe('bad_request');
    expect(fail(machine(), [5 as unknown as string]).code).toBe('bad_request');
  });

  it('gateway custom fields by label, case-insensitive, canonical label', () => {
    const r = applyFieldAssignments(machine(), ['noop=TRUE', 'Private Key Type=SSH-ED25519', 'kerberos=False', 'private key rotate=false', 'SHELL=/bin/zsh']);
    expect(r.custom).toEqual([
      { label: 'NOOP', value: 'true' },
      { label: 'Private Key Type', value: 'ssh-ed25519' },
      { label: 'Kerberos', value: 'false' },
      { label: 'Private Key Rotate', value: 'false' },
      { label: 'Shell', value: '/bin/zsh' },
    ]);
    const r2 = applyFieldAssignments(r, ['NoOp=false', 'custom.private key type=', 'custom.kerberos=TRUE']);
    expect(r2.custom).toEqual([
      { label: 'NOOP', value: 'false' },
      { label: 'Kerberos', value: 'true' },
      { label: 'Private Key Rotate', value: 'false' },
      { label: 'Shell', value: '/bin/zsh' },
    ]);
    expect(fail(machine(), ['NOOP=maybe']).message).toBe('pamMachine custom field "NOOP": expected true or false');
    expect(fail(machine(), ['Private Key Type=rsa']).message).toContain('expected one of ssh-rsa');
  });

  it('custom.<Any Label>=value sets arbitrary custom fields, matched case-insensitively', () => {
    const r = applyFieldAssignments(machine(), ['custom.Team=blue', 'custom.Cost Center= 42 ', 'custom.a.b=dotted']);
    expect(r.custom).toEqual([
      { label: 'Team', value: 'blue' },
      { label: 'Cost Center', value: ' 42 ' },
      { label: 'a.b', value: 'dotted' },
    ]);
    const r2 = applyFieldAssignments(r, ['custom.TEAM=red', 'custom.cost center=']);
    expect(r2.custom).toEqual([
      { label: 'Team', value: 'red' },
      { label: 'a.b', value: 'dotted' },
    ]);
    // custom fields work on login records too
    expect(applyFieldAssignments(newRecordData('login', 'L'), ['custom.NOOP=whatever']).custom).toEqual([{ label: 'NOOP', value: 'whatever' }]);
  });

  it('rejects unknown record types and bad inputs with PosternError', () => {
    expect(() => applyFieldAssignments({ type: 'x' } as unknown as RecordData, [])).toThrow(expect.objectContaining({ code: 'unknown_record_type' }));
    expect(() => applyFieldAssignments(null as unknown as RecordData, [])).toThrow(PosternError);
    expect(() => applyFieldAssignments(machine(), 'port=1' as unknown as string[])).toThrow(PosternError);
  });

  it('cannot pollute prototypes', () => {
    for (const a of [
      'pamSettings.connection.__proto__=1',
      '__proto__.polluted=1',
      'constructor.prototype.polluted=1',
      'pamSettings.__proto__.polluted=1',
      'custom.__proto__=1',
    ]) {
      try {
        applyFieldAssignments(machine(), [a]);
      } catch (e) {
        expect(e).toBeInstanceOf(PosternError);
      }
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(() => applyFieldAssignments(machine(), ['pamSettings.connection.__proto__=1'])).toThrow(PosternError);
  });
});
