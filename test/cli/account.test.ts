/**
 * `postern register | login | logout | whoami`, the saved session file, and how errors and
 * usage mistakes are reported.
 */
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, removeDir, runCli, tempDir } from './support.ts';

describe('postern account commands', () => {
  let router: TestRouter;
  let alice: CliUser;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'alice@example.com', 'correct horse battery staple');
  });
  afterAll(async () => {
    alice?.cleanup();
    await router?.stop();
  });

  it.concurrent('reports usage errors with exit code 2, and --help exits 0 with an example', async () => {
    const home = tempDir('postern-cli-empty-');
    try {
      const [unknown, missing, help, notLoggedIn] = await Promise.all([
        runCli(['whoami', '--bogus'], { home }),
        runCli(['--json', 'folder', 'add'], { home }),
        runCli(['app', 'client', 'add', '--help'], { home }),
        runCli(['--server', router.url, 'whoami'], { home }),
      ]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
      expect(missing.code).toBe(2);
      expect(missing.error()).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/missing required argument 'name'/) });
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/--first-access-expires-in-min/);
      expect(help.stdout).toMatch(/Examples:\n\s+\$ postern app client add/);
      expect(notLoggedIn.code).toBe(1);
      expect(notLoggedIn.stderr).toMatch(/not logged in .*postern login/);
      expect(notLoggedIn.stderr).toMatch(/\(unauthorized\)/);
    } finally {
      removeDir(home);
    }
  });

  it.concurrent('registers, refusing master passwords shorter than 12 characters', async () => {
    const [short, created] = await Promise.all([
      alice.run(['register', '--email', 'short@example.com', '--password-stdin'], { stdin: 'elevenchars\n' }),
      alice.run(['--json', 'register', '--email', alice.email, '--password-stdin'], { stdin: `${alice.password}\n` }),
    ]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 12 characters/);
    expect(short.stderr).toMatch(/\(bad_request\)\n$/);
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ email: alice.email, server: router.url, userUid: expect.stringMatching(/^[\w-]{22}$/) });
  });

  it('rejects a wrong master password with unauthorized, then logs in and saves a private session', async () => {
    const [wrong, login] = await Promise.all([
      alice.run(['login', '--email', alice.email, '--password-stdin'], { stdin: 'not the right password\n' }),
      alice.ok(['--json', 'login', '--email', alice.email, '--password-stdin'], { stdin: `${alice.password}\n` }),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(/^postern: .+ \(unauthorized\)\n$/);
    expect(login.json()).toMatchObject({ email: alice.email, server: router.url });

    expect(statSync(alice.home).mode & 0o777).toBe(0o700);
    const file = join(alice.home, 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(alice.password);
    const config = JSON.parse(text);
    expect(config.currentServer).toBe(router.url);
    expect(Object.keys(config.sessions[router.url]).sort()).toEqual(['clientKey', 'email', 'routerPublicKey', 'server', 'sessionToken', 'userUid']);
  });

  it('whoami uses the saved session (the server comes from it when --server is omitted) and shows the policies', async () => {
    const [human, json] = await Promise.all([runCli(['whoami'], { home: alice.home }), alice.ok(['whoami', '--json'])]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/Email\s+alice@example\.com/);
    expect(human.stdout).toContain(router.url);
    // The first account on a server is its administrator, with every policy.
    expect(human.stdout).toMatch(/Administrator\s+yes \(manages roles: `postern role`\)\n/);
    expect(human.stdout).toMatch(/Policies\s+configure_connections, configure_remote_browsing, .*, view_recordings\n/);
    expect(json.json()).toMatchObject({
      email: alice.email,
      server: router.url,
      sessionExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      administrator: true,
      policies: expect.arrayContaining(['manage_gateways', 'rotate', 'configure_rotation']),
    });
  });

  it('logout ends the session on the server too: a copied session file stops working', async () => {
    const copyHome = tempDir('postern-cli-copy-');
    copyFileSync(join(alice.home, 'config.json'), join(copyHome, 'config.json'));
    try {
      const out = await alice.ok(['--json', 'logout']);
      expect(out.json()).toMatchObject({ loggedOut: true, endedOnServer: true });
      expect(JSON.parse(readFileSync(join(alice.home, 'config.json'), 'utf8')).sessions).toEqual({});

      const stale = await runCli(['--json', 'whoami'], { home: copyHome });
      expect(stale.code).toBe(1);
      expect(['unauthorized', 'session_expired']).toContain(stale.error().code);
      expect(stale.error().message).toMatch(/postern login/);
    } finally {
      removeDir(copyHome);
    }
  });

  it('takes the server from POSTERN_SERVER when --server is not given, and --server wins over it', async () => {
    // Not concurrent with Alice's registration above: the first account becomes the administrator.
    const home = tempDir('postern-cli-env-');
    const email = 'env@example.com';
    const stdin = 'env user long master password\n';
    const env = { POSTERN_SERVER: router.url };
    try {
      // A fresh home has no saved server: without the variable these would go to the local default.
      const registered = await runCli(['--json', 'register', '--email', email, '--password-stdin'], { home, env, stdin });
      expect(registered.code).toBe(0);
      expect(registered.json()).toMatchObject({ email, server: router.url });
      const login = await runCli(['--json', 'login', '--email', email, '--password-stdin'], { home, env, stdin });
      expect(login.code).toBe(0);
      expect(login.json()).toMatchObject({ email, server: router.url });

      const unreachable = 'http://127.0.0.1:9';
      const [whoami, overridden, redirected] = await Promise.all([
        runCli(['--json', 'whoami'], { home, env }),
        runCli(['--json', '--server', router.url, 'whoami'], { home, env: { POSTERN_SERVER: unreachable } }),
        runCli(['--json', 'whoami'], { home, env: { POSTERN_SERVER: unreachable } }),
      ]);
      expect(whoami.code).toBe(0);
      expect(whoami.json()).toMatchObject({ email, server: router.url, administrator: false });
      expect(overridden.code).toBe(0);
      expect(overridden.json()).toMatchObject({ email, server: router.url });
      // The variable is honoured even when a session for another server is saved.
      expect(redirected.code).toBe(1);
      expect(redirected.error().message).toContain('127.0.0.1:9');
    } finally {
      removeDir(home);
    }
  }, 120_000);
});
