/**
 * Database TLS on rotations (docs/decisions/0006-target-trust.md), end to end: `postern rotate`
 * through the CLI, a real Router, a real `postern-gateway` and the test PostgreSQL, which
 * scripts/services/postgres.sh runs with TLS and a test CA. With the CA on the resource the
 * rotation verifies the certificate and says so; with another CA (an impostor's chain, as far as
 * the gateway can tell) it fails before any credential is sent and changes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordData } from '../../core/records/index.ts';
import { RotationLab } from './lab.ts';
import { postgresTarget } from './targets/postgres.ts';
import { otherCa, TEST_PG_CA_FILE } from './tls-fixtures.ts';

const caFile = TEST_PG_CA_FILE;
const unavailable =
  postgresTarget.unavailable ?? (existsSync(caFile) ? null : `no test CA at ${caFile} (scripts/services/postgres.sh makes it when run as root)`);
const canary = 'Tls-Canary-Initial-5e2a!';

describe.skipIf(unavailable !== null)(`database TLS on rotation (CLI, gateway, real PostgreSQL)${unavailable ? ` — skipped: ${unavailable}` : ''}`, () => {
  let lab: RotationLab;

  async function account(extra: Record<string, unknown>) {
    const user = await postgresTarget.newUser(canary);
    const base = postgresTarget.resource();
    const resource = { ...base, fields: { ...(base.fields as Record<string, unknown>), ...extra } } as RecordData;
    return { user, ...(await lab.addTarget({ resource, admin: postgresTarget.admin(), user: { ...user, password: canary } })) };
  }

  const pendingRotations = async (userUid: string) =>
    (await lab.router.db.selectFrom('record_transactions').selectAll().where('record_uid', '=', userUid).execute()).length;

  beforeAll(async () => {
    await postgresTarget.setup();
    lab = await RotationLab.start('dbtls');
    await lab.startGateway();
  }, 120_000);

  afterAll(async () => {
    await lab?.close();
    await postgresTarget.cleanup();
  });

  it('uses TLS by default and verifies the certificate against the CA set on the resource', async () => {
    const plain = await account({});
    const opportunistic = await lab.rotate(plain.userUid);
    expect(opportunistic.code, opportunistic.stdout + opportunistic.stderr).toBe(0);
    expect(opportunistic.stdout).toContain('TLS (not verified: no CA set)');

    const pinned = await account({ sslCaCertificate: readFileSync(caFile, 'utf8') });
    const verified = await lab.rotate(pinned.userUid);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain("TLS (certificate verified against the resource's CA)");
    expect(await postgresTarget.canLogin(pinned.user, await lab.password(pinned.userUid))).toBe(true);
  });

  // threat model (docs/threat-model.md): gateway — an impostor database must not receive the admin password
  it('fails, changing nothing, when the certificate does not chain to the resource’s CA', async () => {
    const { user, userUid } = await account({ sslCaCertificate: otherCa() });
    const run = await lab.rotate(userUid);
    const out = run.stdout + run.stderr;
    expect(run.code, out).toBe(1);
    expect(out).toMatch(/unreachable: postgresql: the TLS handshake with .* failed/);
    expect(out).not.toMatch(/plaintext/);
    expect(await pendingRotations(userUid)).toBe(0);
    expect(await lab.password(userUid)).toBe(canary);
    expect(await postgresTarget.canLogin(user, canary)).toBe(true);
  });
});
