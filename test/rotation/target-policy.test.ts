/**
 * The PAM configuration's target policy on rotations (docs/decisions/0006-target-trust.md), end to
 * end: `postern rotate` through the CLI, a real Router and a real `postern-gateway`. A resource
 * aimed at a cloud metadata address, or outside the configuration's targetNetworks, is refused
 * before the gateway stores a pending secret or dials anything; no server is needed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import { RotationLab } from './lab.ts';

const canary = 'Policy-Canary-Initial-3c9b!';

describe('rotation target policy (CLI, gateway)', () => {
  let lab: RotationLab;

  async function database(hostname: string) {
    const resource = newRecordData('pamDatabase', `db ${hostname}`, { hostname, port: 5432, databaseType: 'postgresql' });
    return lab.addTarget({ resource, admin: { login: 'dba', password: 'Admin-Pw-For-Policy-1' }, user: { login: 'app', password: canary } });
  }

  const pendingRotations = async (userUid: string) =>
    (await lab.router.db.selectFrom('record_transactions').selectAll().where('record_uid', '=', userUid).execute()).length;

  async function setPolicy(fields: Record<string, unknown>): Promise<void> {
    await lab.vault.updateRecord(
      lab.configurationUid,
      (data) => ({ ...data, fields: { ...(data.fields as Record<string, unknown>), ...fields } }) as RecordData,
    );
  }

  beforeAll(async () => {
    lab = await RotationLab.start('targetpolicy');
    await lab.startGateway();
  }, 120_000);

  afterAll(async () => {
    await lab?.close();
  });

  // threat model (docs/threat-model.md): editor — a resource aimed at the cloud metadata service to reach the gateway host's credentials
  it('refuses a resource whose host is a cloud metadata address before storing anything', async () => {
    for (const host of ['169.254.169.254', '::ffff:169.254.169.254']) {
      const { userUid } = await database(host);
      const run = await lab.rotate(userUid);
      const out = run.stdout + run.stderr;
      expect(run.code, out).toBe(1);
      expect(out).toMatch(/not_allowed/);
      expect(out).toMatch(/cloud metadata address.*allowMetadataTargets=true/s);
      expect(out).not.toContain('Step 1/4');
      expect(await pendingRotations(userUid)).toBe(0);
      expect(await lab.password(userUid)).toBe(canary);
    }
  });

  // threat model (docs/threat-model.md): editor — a resource outside the networks the PAM configuration allows
  it('refuses a resource outside the configuration’s targetNetworks before storing anything', async () => {
    await setPolicy({ targetNetworks: '10.0.0.0/8' });
    try {
      const { userUid } = await database('127.0.0.1');
      const run = await lab.rotate(userUid);
      const out = run.stdout + run.stderr;
      expect(run.code, out).toBe(1);
      expect(out).toMatch(/not_allowed/);
      expect(out).toContain(`PAM configuration ${lab.configurationUid} restricts targets to 10.0.0.0/8 (targetNetworks)`);
      expect(out).not.toContain('Step 1/4');
      expect(await pendingRotations(userUid)).toBe(0);
      expect(await lab.password(userUid)).toBe(canary);
    } finally {
      await setPolicy({ targetNetworks: undefined });
    }
  });
});
