import { describe, expect, it } from 'vitest';
import { MASK, fieldValue, recordFieldsForDisplay } from './display.ts';
import { newRecordData, validateRecordData } from './record-data.ts';
import { PEM_KEY, UID_A, UID_B, VALID_FIELDS } from './testing/fixtures.ts';

const user = () =>
  validateRecordData({
    type: 'pamUser',
    title: 'Root',
    fields: { login: 'root', password: 'hunter2', privateKey: PEM_KEY, passwordComplexity: { length: 20 } },
    custom: [
      { label: 'NOOP', value: 'true' },
      { label: 'Password', value: 'old-one' },
      { label: 'Team', value: 'blue' },
    ],
    notes: 'n',
  });

describe('recordFieldsForDisplay', () => {
  it('flattens with dotted names and masks secrets', () => {
    expect(recordFieldsForDisplay(user())).toEqual([
      { name: 'title', value: 'Root' },
      { name: 'login', value: 'root' },
      { name: 'password', value: MASK },
      { name: 'privateKey', value: MASK },
      { name: 'passwordComplexity.length', value: '20' },
      { name: 'custom.NOOP', value: 'true' },
      { name: 'custom.Password', value: MASK },
      { name: 'custom.Team', value: 'blue' },
      { name: 'notes', value: 'n' },
    ]);
    expect(MASK).toBe('********');
  });

  it('unmask shows the values', () => {
    const rows = recordFieldsForDisplay(user(), { unmask: true });
    expect(rows).toContainEqual({ name: 'password', value: 'hunter2' });
    expect(rows).toContainEqual({ name: 'privateKey', value: PEM_KEY });
    expect(rows).toContainEqual({ name: 'custom.Password', value: 'old-one' });
  });

  it('nested groups, maps, lists and all secret fields', () => {
    const m = validateRecordData({ type: 'pamMachine', title: 'M', fields: VALID_FIELDS.pamMachine });
    const rows = recordFieldsForDisplay(m);
    expect(rows).toContainEqual({ name: 'pamSettings.protocol', value: 'ssh' });
    expect(rows).toContainEqual({ name: 'pamSettings.connection.port', value: '22' });
    expect(rows).toContainEqual({ name: 'pamSettings.connection.recordingIncludeKeys', value: 'false' });
    expect(rows).toContainEqual({ name: 'pamSettings.recording.typescript', value: 'false' });
    const c = validateRecordData({ type: 'pamConfiguration', title: 'C', fields: { ...VALID_FIELDS.pamConfiguration, clientSecret: 'cs' } });
    const crow = recordFieldsForDisplay(c);
    expect(crow).toContainEqual({ name: 'portMapping', value: '2222=ssh, 3390=rdp' });
    expect(crow).toContainEqual({ name: 'secretAccessKey', value: MASK });
    expect(crow).toContainEqual({ name: 'clientSecret', value: MASK });
    expect(crow).toContainEqual({ name: 'features.rotation', value: 'true' });
    const l = validateRecordData({ type: 'login', title: 'L', fields: VALID_FIELDS.login });
    const lrows = recordFieldsForDisplay(l);
    expect(lrows).toContainEqual({ name: 'oneTimeCode', value: MASK });
    expect(lrows).toContainEqual({ name: 'password', value: MASK });
    expect(JSON.stringify(lrows)).not.toContain('s3cret');
    const masked = validateRecordData({ type: 'pamMachine', title: 'M', fields: { hostname: 'h', port: 1, pamSettings: { connection: { password: 'pw' } } } });
    expect(recordFieldsForDisplay(masked)).toContainEqual({ name: 'pamSettings.connection.password', value: MASK });
  });
});

describe('fieldValue', () => {
  it('returns raw values for dotted names, custom labels, title, notes', () => {
    const u = user();
    expect(fieldValue(u, 'password')).toBe('hunter2');
    expect(fieldValue(u, 'PASSWORD')).toBe('hunter2');
    expect(fieldValue(u, 'privateKey')).toBe(PEM_KEY);
    expect(fieldValue(u, 'passwordComplexity.length')).toBe('20');
    expect(fieldValue(u, 'passwordComplexity')).toBe('{"length":20}');
    expect(fieldValue(u, 'title')).toBe('Root');
    expect(fieldValue(u, 'notes')).toBe('n');
    expect(fieldValue(u, 'type')).toBe('pamUser');
    expect(fieldValue(u, 'noop')).toBe('true');
    expect(fieldValue(u, 'custom.team')).toBe('blue');
    expect(fieldValue(u, 'TEAM')).toBe('blue');
    expect(fieldValue(u, 'custom.password')).toBe('old-one');
    expect(fieldValue(u, 'nothing')).toBeUndefined();
    expect(fieldValue(u, 'login.x')).toBeUndefined();
    expect(fieldValue(u, '')).toBeUndefined();
  });

  it('lists as JSON, dotted map keys, booleans', () => {
    const c = newRecordData('pamConfiguration', 'C', { environment: 'aws', gatewayUid: UID_A, applicationFolderUid: UID_B, regionNames: ['a', 'b'] });
    expect(fieldValue(c, 'regionNames')).toBe('["a","b"]');
    expect(fieldValue(c, 'features.tunneling')).toBe('false');
    const m = newRecordData('pamMachine', 'M', { hostname: 'h', port: 1, pamSettings: { connection: { 'sftp.root': '/x' } } });
    expect(fieldValue(m, 'pamSettings.connection.sftp.root')).toBe('/x');
    expect(fieldValue(m, 'port')).toBe('1');
  });
});
