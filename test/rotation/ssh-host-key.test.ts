/**
 * SSH host keys pinned on the pamMachine (docs/decisions/0006-target-trust.md), end to end: `postern
 * rotate` through the CLI, a real Router, a real `postern-gateway` and the test sshd. A resource
 * whose hostKey is another key fails with host_key_mismatch before anything is stored or sent;
 * a resource with no hostKey gets the key the sshd really has (trust on first use).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { newRecordData } from '../../core/records/index.ts';
import { RotationLab } from './lab.ts';
import { sshTarget } from './targets/ssh.ts';

const [host, port] = (process.env['POSTERN_TEST_SSH'] ?? '127.0.0.1:2222').split(':') as [string, string];
const canary = 'HostKey-Canary-Initial-7d1e!';

/** The sshd's real host keys, as `type base64` lines, asked of it by OpenSSH's own ssh-keyscan. */
function realHostKeys(): string[] {
  const out = execFileSync('ssh-keyscan', ['-p', port, '-T', '10', host], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return out
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(/\s+/).slice(1, 3).join(' '));
}

/** `SHA256:…` of a `type base64` line, by ssh-keygen -lf. */
function fingerprint(line: string): string {
  return execFileSync('ssh-keygen', ['-lf', '-'], { input: `${line}\n` })
    .toString()
    .split(/\s+/)[1]!;
}

describe.skipIf(sshTarget.unavailable !== null)(
  `SSH host key pinning (CLI, gateway, real sshd)${sshTarget.unavailable ? ` — skipped: ${sshTarget.unavailable}` : ''}`,
  () => {
    let lab: RotationLab;

    async function machine(hostKey?: string) {
      const user = await sshTarget.newUser(canary);
      const resource = newRecordData('pamMachine', `linux host-key`, {
        hostname: host,
        port: Number(port),
        operatingSystem: 'linux',
        ...(hostKey ? { hostKey } : {}),
      });
      const uids = await lab.addTarget({ resource, admin: sshTarget.admin(), user: { ...user, password: canary } });
      return { user, ...uids };
    }

    const hostKeyOf = async (resourceUid: string) => (await lab.vault.getRecord(resourceUid)).data.fields as { hostKey?: string };
    const pendingRotations = async (userUid: string) =>
      (await lab.router.db.selectFrom('record_transactions').selectAll().where('record_uid', '=', userUid).execute()).length;

    beforeAll(async () => {
      await sshTarget.setup();
      lab = await RotationLab.start('sshhostkey');
      await lab.startGateway();
    });

    afterAll(async () => {
      await lab?.close();
      await sshTarget.cleanup();
    });

    // threat model (docs/threat-model.md): gateway — a machine impersonated on the network (DNS or ARP spoofing) harvesting the admin password
    it('refuses a server whose host key is not the pinned one: host_key_mismatch, nothing stored, nothing changed', async () => {
      const other = ssh2.utils.generateKeyPairSync('ed25519').public.trim().split(/\s+/).slice(0, 2).join(' ');
      for (const pin of [other, fingerprint(other)]) {
        const { user, userUid, resourceUid } = await machine(pin);
        const before = await hostKeyOf(resourceUid);
        const run = await lab.rotate(userUid);
        const out = run.stdout + run.stderr;
        expect(run.code, out).toBe(1);
        expect(out).toMatch(/host_key_mismatch/);
        // The message names the key the server showed and the pinned one.
        expect(realHostKeys().some((k) => out.includes(fingerprint(k)))).toBe(true);
        expect(out).toContain(fingerprint(other));
        expect(out).not.toContain('Step 1/4');
        expect(await pendingRotations(userUid)).toBe(0);
        expect(await lab.password(userUid)).toBe(canary);
        expect(await sshTarget.canLogin(user, canary)).toBe(true);
        expect(await hostKeyOf(resourceUid)).toEqual(before);
      }
    });

    // threat model (docs/threat-model.md): gateway — trust on first use: the key seen first is the one required afterwards
    it('with no hostKey, records the key the sshd really has, then requires it (as a key line or as its SHA256 fingerprint)', async () => {
      const { user, userUid, resourceUid } = await machine();
      const first = await lab.rotate(userUid);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const pinned = (await hostKeyOf(resourceUid)).hostKey;
      expect(realHostKeys()).toContain(pinned);
      expect(first.stdout).toContain(`showed host key ${fingerprint(pinned!)}; nothing was pinned, so it is now recorded`);
      expect(await sshTarget.canLogin(user, await lab.password(userUid))).toBe(true);

      const second = await lab.rotate(userUid);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stdout).toContain(`host key ${fingerprint(pinned!)} matches the pinned key`);

      const byFingerprint = await machine(fingerprint(pinned!));
      const third = await lab.rotate(byFingerprint.userUid);
      expect(third.code, third.stdout + third.stderr).toBe(0);
      expect((await hostKeyOf(byFingerprint.resourceUid)).hostKey).toBe(fingerprint(pinned!));
    });
  },
);
