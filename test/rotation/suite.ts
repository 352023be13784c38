/**
 * The end-to-end rotation suite every target runs (test/rotation/<target>.test.ts): `postern
 * rotate` through the CLI with a real `postern-gateway` against the real server. What differs
 * per target (how accounts are made and how a login is tried) is the TargetAdapter.
 *
 * Shown for each target: an on-demand rotation, step by step, after which the vault's password
 * logs in and the old one is refused; a scheduled rotation due in the test; a wrong admin
 * password, an unreachable host and (where the server has a password policy) a refused new
 * password each end as a failed job with a clear reason and the old credential still valid; a
 * gateway killed after each of the four steps, restarted and resumed, leaves a vault whose
 * password works; and no secret appears in the gateway log, the job logs or the CLI output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordData } from '../../core/records/index.ts';
import { FAULT_STEPS } from '../../gateway/rotation/fault.ts';
import { RotationLab } from './lab.ts';

export interface TargetAdapter {
  /** Why the suite is skipped, or null when the server is there. */
  unavailable: string | null;
  setup(): Promise<void>;
  cleanup(): Promise<void>;
  /** The resource record; `port` overrides the server's (for the unreachable case). */
  resource(port?: number): RecordData;
  admin(): { login: string; password: string; distinguishedName?: string };
  /** A fresh account on the target with this password; returns its login (and DN, for LDAP). */
  newUser(password: string): Promise<{ login: string; distinguishedName?: string }>;
  /** Real login: true accepted, false refused as a wrong password. */
  canLogin(user: { login: string; distinguishedName?: string }, password: string): Promise<boolean>;
  /**
   * Where the server enforces a password policy: the `--complexity` that makes the gateway
   * generate passwords the policy refuses (the policy itself is configured by setup()).
   */
  refusedComplexity?: string;
  /** Where the target logs in with keys (SSH): accounts that hold a key pair instead. */
  keys?: {
    /** A fresh account whose authorized_keys holds this key's public half and one unrelated line. */
    newKeyUser(): Promise<{ login: string; privateKey: string; unrelatedLine: string }>;
    canLoginWithKey(login: string, privateKey: string): Promise<boolean>;
    authorizedKeys(login: string): string;
    keyType(privateKey: string): string;
  };
}

export function describeRotation(name: string, target: TargetAdapter): void {
  const canary = `${name}-Canary-Initial-9f3a!`.replace(/[^A-Za-z0-9!-]/g, '');
  describe.skipIf(target.unavailable !== null)(
    `rotation on ${name} (CLI, gateway, real server)${target.unavailable ? ` — skipped: ${target.unavailable}` : ''}`,
    () => {
      let lab: RotationLab;

      async function account(password = canary, admin = target.admin(), resource = target.resource()) {
        const user = await target.newUser(password);
        const uids = await lab.addTarget({ resource, admin, user: { ...user, password } });
        return { user, ...uids };
      }

      beforeAll(async () => {
        await target.setup();
        lab = await RotationLab.start(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
        await lab.startGateway();
      });

      afterAll(async () => {
        await lab?.close();
        await target.cleanup();
      });

      it('rotates on demand through the CLI, step by step; the new password logs in and the old one is refused', async () => {
        const { user, userUid } = await account();
        const run = await lab.rotate(userUid);
        expect(run.code, run.stdout + run.stderr).toBe(0);
        for (const step of [
          'Step 1/4: storing a new password',
          'Step 2/4: changing the credential',
          'Step 3/4: logging in with the new secret',
          'Step 4/4: finalizing',
        ]) {
          expect(run.stdout).toContain(step);
        }
        const now = await lab.password(userUid);
        expect(now).not.toBe(canary);
        expect(await target.canLogin(user, now)).toBe(true);
        expect(await target.canLogin(user, canary)).toBe(false);
        // A second rotation makes another new password.
        const second = await lab.rotate(userUid);
        expect(second.code, second.stdout + second.stderr).toBe(0);
        const again = await lab.password(userUid);
        expect(again).not.toBe(now);
        expect(await target.canLogin(user, again)).toBe(true);
        // No secret in the gateway's log, the job logs the Router keeps, or what the CLI printed.
        const jobLines = JSON.stringify(await lab.router.db.selectFrom('job_logs').selectAll().execute());
        for (const secret of [canary, now, again, target.admin().password]) {
          expect(lab.gatewayLog()).not.toContain(secret);
          expect(jobLines).not.toContain(secret);
          expect(run.stdout + run.stderr + second.stdout + second.stderr).not.toContain(secret);
        }
      });

      it('fires a scheduled rotation that comes due during the test', async () => {
        const { user, userUid, resourceUid } = await account();
        await lab.admin.ok(['rotation', 'set', userUid, '--config', lab.configurationUid, '--resource', resourceUid, '--schedule', 'once:+2s']);
        await expect.poll(() => lab.password(userUid), { timeout: 30_000, interval: 250 }).not.toBe(canary);
        const now = await lab.password(userUid);
        expect(await target.canLogin(user, now)).toBe(true);
        expect(await target.canLogin(user, canary)).toBe(false);
      });

      it('fails clearly on a wrong admin password and on an unreachable host, keeping the old password valid', async () => {
        const wrong = await account(canary, { ...target.admin(), password: 'not-the-admin-password-1' });
        const refused = await lab.rotate(wrong.userUid);
        expect(refused.code).toBe(1);
        expect(refused.stdout + refused.stderr).toMatch(/admin_refused/);
        expect(await lab.password(wrong.userUid)).toBe(canary);
        expect(await target.canLogin(wrong.user, canary)).toBe(true);

        const down = await account(canary, target.admin(), target.resource(1));
        const unreachable = await lab.rotate(down.userUid);
        expect(unreachable.code).toBe(1);
        expect(unreachable.stdout + unreachable.stderr).toMatch(/unreachable/);
        expect(await lab.password(down.userUid)).toBe(canary);
        expect(await target.canLogin(down.user, canary)).toBe(true);
      });

      it.skipIf(!target.refusedComplexity)('fails clearly when the server refuses the new password for policy reasons, keeping the old one', async () => {
        const { user, userUid } = await account();
        await lab.admin.ok(['rotation', 'set', userUid, '--config', lab.configurationUid, '--complexity', target.refusedComplexity!]);
        const run = await lab.rotate(userUid);
        expect(run.code).toBe(1);
        expect(run.stdout + run.stderr).toMatch(/policy_refused/);
        expect(await lab.password(userUid)).toBe(canary);
        expect(await target.canLogin(user, canary)).toBe(true);
      });

      it.skipIf(!target.keys)('rotates a key pair through the CLI: same algorithm, the new key logs in, the old one is refused, other keys stay', async () => {
        const keys = target.keys!;
        const { login, privateKey, unrelatedLine } = await keys.newKeyUser();
        const { userUid } = await lab.addTarget({ resource: target.resource(), admin: target.admin(), user: { login, privateKey } });
        const run = await lab.rotate(userUid);
        expect(run.code, run.stdout + run.stderr).toBe(0);
        expect(run.stdout).toContain('Step 1/4: storing a new key pair');
        const record = await lab.vault.getRecord(userUid);
        const rotated = (record.data.fields as { privateKey: string }).privateKey;
        expect(rotated).not.toBe(privateKey);
        expect(keys.keyType(rotated)).toBe(keys.keyType(privateKey));
        expect(await keys.canLoginWithKey(login, rotated)).toBe(true);
        expect(await keys.canLoginWithKey(login, privateKey)).toBe(false);
        expect(keys.authorizedKeys(login)).toContain(unrelatedLine);
        expect(lab.gatewayLog()).not.toContain(rotated.split('\n')[1]!);
      });

      describe('a gateway killed after each step, then restarted and resumed', () => {
        for (const step of FAULT_STEPS) {
          it(`after "${step}": the vault's password works on the server`, async () => {
            const { user, userUid } = await account();
            const gateway = await lab.startGateway(step);
            const started = await lab.rotate(userUid, ['--no-wait']);
            expect(started.code, started.stderr).toBe(0);
            const killed = await gateway.exited;
            expect(killed.signal).toBe('SIGKILL');
            await lab.startGateway();
            const resumed = await lab.resume(userUid);
            expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
            const now = await lab.password(userUid);
            expect(await target.canLogin(user, now)).toBe(true);
            // From "change" on, the server had the new password: the vault must have kept it.
            if (step === 'store') expect(resumed.stdout).toMatch(/rolled back/);
            else expect(now).not.toBe(canary);
            // And the next rotation runs normally from there.
            const next = await lab.rotate(userUid);
            expect(next.code, next.stdout + next.stderr).toBe(0);
            expect(await target.canLogin(user, await lab.password(userUid))).toBe(true);
          });
        }
      });
    },
  );
}
