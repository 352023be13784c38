/**
 * The CLI trusts a server's Router key the way SSH trusts a host key: the key seen at the last
 * login or registration is kept, and a server presenting another one (here: a real Router
 * restarted on a new data directory at the same address) is refused until the user confirms it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRouterPublicKey, routerKeyFingerprint } from '../../core/vault-client/index.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser } from './support.ts';

describe('postern login and register when the Router key changes', () => {
  let router: TestRouter;
  let alice: CliUser;
  let oldFingerprint: string;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'key-alice@example.com');
    await alice.register();
    await alice.login();
    oldFingerprint = routerKeyFingerprint(await fetchRouterPublicKey(router.url));
    await alice.ok(['logout']);
    // Same address, new data directory: a new Router key, as an impostor (or a rebuilt server) would present.
    const port = router.port;
    await router.stop();
    router = await startTestRouter({ port });
  });
  afterAll(async () => {
    alice?.cleanup();
    await router?.stop();
  });

  it('refuses, naming both fingerprints, until the user accepts the new key by its fingerprint', async () => {
    // threat model (docs/threat-model.md): anonymous (a server impersonating the Router)
    const newFingerprint = routerKeyFingerprint(await fetchRouterPublicKey(router.url));
    expect(newFingerprint).not.toBe(oldFingerprint);
    const stdin = `${alice.password}\n`;
    const [login, register, wrongAccept] = await Promise.all([
      alice.run(['--json', 'login', '--email', alice.email, '--password-stdin'], { stdin }),
      alice.run(['--json', 'register', '--email', alice.email, '--password-stdin'], { stdin }),
      alice.run(['--json', 'register', '--email', alice.email, '--password-stdin', '--accept-new-router-key', oldFingerprint], { stdin }),
    ]);
    for (const refused of [login, register, wrongAccept]) {
      expect(refused.code).toBe(1);
      expect(refused.error()).toMatchObject({
        code: 'router_key_changed',
        details: { knownFingerprint: oldFingerprint, presentedFingerprint: newFingerprint },
      });
      expect(refused.error().message).toContain(oldFingerprint);
      expect(refused.error().message).toContain(newFingerprint);
    }
    expect(login.error().message).toMatch(/--accept-new-router-key SHA256:/);
    expect(wrongAccept.error().message).toMatch(/does not match the key presented now/);
    // Nothing reached the new server: no account was created there.
    expect(await router.db.selectFrom('users').select('uid').execute()).toEqual([]);

    // Accepting the presented fingerprint registers, and from then on the new key is the trusted one.
    await alice.ok(['register', '--email', alice.email, '--password-stdin', '--accept-new-router-key', newFingerprint], { stdin });
    const login2 = await alice.ok(['--json', 'login', '--email', alice.email, '--password-stdin'], { stdin });
    expect(login2.json()).toMatchObject({ email: alice.email });
  });
});
