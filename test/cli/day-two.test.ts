/**
 * The CLI for day two (issue 12), through the real `postern` against a real Router: what an
 * administrator meets once the first day's setup is done.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, removeDir, runCli, runGateway, spawnCli, tempDir } from './support.ts';

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('postern on day two', () => {
  let router: TestRouter;
  let alice: CliUser;
  let serversUid: string;

  /** `postern record add` of a pamMachine in Servers, as alice; its UID. `extra`: more arguments (e.g. --field-stdin). */
  const addMachine = async (title: string, hostname: string, extra: string[] = [], stdin?: string): Promise<string> =>
    (
      await alice.ok(
        [
          '--json',
          'record',
          'add',
          '--type',
          'pamMachine',
          '--title',
          title,
          '--folder',
          serversUid,
          '--field',
          `hostname=${hostname}`,
          '--field',
          'port=22',
          ...extra,
        ],
        stdin === undefined ? {} : { stdin },
      )
    ).json().uid as string;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'alice@example.com');
    await alice.registerWithSdk();
    await alice.loginWithSdk();
    serversUid = (await alice.ok(['--json', 'folder', 'add', 'Servers'])).json().uid;
  });
  afterAll(async () => {
    alice?.cleanup();
    await router?.stop();
  });

  it('stops quietly with status 0 when its reader goes away (`postern events | head -1`)', async () => {
    // The reading end is closed before the CLI has started, so its first write meets EPIPE.
    const child = spawnCli(['--server', router.url, 'events'], { home: alice.home });
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin!.end();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('refuses a second folder of the same name in the same parent, unless --allow-duplicate', async () => {
    const again = await alice.run(['--json', 'folder', 'add', 'Servers']);
    expect(again.code).toBe(1);
    expect(again.error()).toMatchObject({ code: 'conflict', details: { folderUid: serversUid } });
    expect(again.error().message).toContain('A folder named "Servers" already exists at the top level');
    expect(again.error().message).toContain('--allow-duplicate');
    // The same name elsewhere is another folder; --allow-duplicate is for someone who means it.
    const inside = await alice.ok(['--json', 'folder', 'add', 'Servers', '--parent', serversUid]);
    expect(inside.json()).toMatchObject({ name: 'Servers', parentUid: serversUid });
    const twin = await alice.ok(['--json', 'folder', 'add', 'Servers', '--allow-duplicate']);
    expect(twin.json().uid).not.toBe(serversUid);
  });

  it('get masks every secret field, the traffic encryption seed included, unless --unmask', async () => {
    const seed = `seed-canary-${Date.now()}`;
    const uid = await addMachine(
      'web-1',
      '10.0.0.5',
      ['--field-stdin', 'trafficEncryptionSeed'],
      `${seed}
`,
    );
    for (const args of [
      ['get', uid],
      ['--json', 'get', uid],
    ]) {
      const shown = await alice.ok(args);
      expect(shown.stdout).not.toContain(seed);
      expect(shown.stdout).toContain('trafficEncryptionSeed');
      expect(shown.stdout).toContain('********');
    }
    expect((await alice.ok(['get', uid, '--unmask'])).stdout).toContain(seed);
  });

  it('rotate on a resource says it rotates an account, before asking for a configuration or opening a job', async () => {
    const machine = await addMachine('db-host', '10.0.0.6');
    for (const target of [machine, 'db-host']) {
      const r = await alice.run(['--json', 'rotate', target]);
      expect(r.code).toBe(1);
      expect(r.error()).toMatchObject({ code: 'bad_request', details: { recordUid: machine, type: 'pamMachine' } });
      expect(r.error().message).toContain('"rotate" works on a pamUser');
      expect(r.error().message).toContain(`postern rotate ACCOUNT --resource ${machine}`);
    }
    // Nothing was started: no job exists to list.
    expect((await alice.ok(['--json', 'job', 'list'])).json()).toEqual({ jobs: [] });
  });

  it('takes a title wherever it took a record UID: get, record edit, record link', async () => {
    const host = await addMachine('app-host', '10.0.0.7');
    const admin = (
      await alice.ok(['--json', 'record', 'add', '--type', 'pamUser', '--title', 'app-host admin', '--folder', serversUid, '--field', 'login=root'])
    ).json().uid as string;
    await alice.ok(['record', 'edit', 'app-host', '--field', 'port=2222']);
    expect((await alice.ok(['get', 'app-host', '--field', 'port'])).stdout).toBe('2222\n');
    await alice.ok(['record', 'link', 'app-host', 'app-host admin']);
    expect((await alice.ok(['--json', 'get', host])).json()).toMatchObject({ uid: host });
    const links = JSON.stringify((await alice.ok(['--json', 'get', 'app-host'])).json());
    expect(links).toContain(admin);
    // A title that names no record, or several, is refused with what to do.
    const missing = await alice.run(['--json', 'get', 'no such host']);
    expect(missing.error()).toMatchObject({ code: 'not_found' });
    expect(missing.error().message).toContain('no record titled "no such host"');
    await addMachine('app-host', '10.0.0.8');
    const several = await alice.run(['--json', 'get', 'app-host']);
    expect(several.error()).toMatchObject({ code: 'bad_request' });
    expect(several.error().message).toContain('several records are titled "app-host"');
  });

  it('remembers the server after logout: the next login goes back to it without --server', async () => {
    const carol = new CliUser(router.url, 'carol@example.com');
    try {
      await carol.registerWithSdk();
      await carol.login();
      await runCli(['logout'], { home: carol.home }).then((r) => expect(r.code, r.stderr).toBe(0));
      // No --server and no POSTERN_SERVER: the default would be another address.
      const again = await runCli(['--json', 'login', '--email', carol.email, '--password-stdin'], { home: carol.home, stdin: `${carol.password}\n` });
      expect(again.code, again.stderr).toBe(0);
      const who = await runCli(['--json', 'whoami'], { home: carol.home });
      expect(who.json().email).toBe(carol.email);
      expect(who.json().server).toBe(router.url);
    } finally {
      carol.cleanup();
    }
  });

  it('postern-gateway init with a bad token says how to get a good one (postern gateway create)', async () => {
    const host = new URL(router.url).host;
    const home = tempDir('postern-gateway-init-');
    try {
      const unknown = await runGateway(['init', '--config', `${home}/gateway.json`, '--token', `${host}:${'A'.repeat(43)}`], { home });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('does not know this one-time token');
      const malformed = await runGateway(['init', '--config', `${home}/gateway.json`, '--token', `${host}:not-a-token`], { home });
      expect(malformed.code).toBe(1);
      expect(malformed.stderr).toContain('malformed');
      for (const r of [unknown, malformed]) {
        expect(r.stderr).toContain('postern gateway create');
        expect(r.stderr).not.toContain('postern secrets init');
      }
    } finally {
      removeDir(home);
    }
  });

  it('says a server that does not answer is unreachable, not an internal error', async () => {
    const server = `http://127.0.0.1:${await closedPort()}`;
    const home = tempDir('postern-cli-unreachable-');
    try {
      const r = await runCli(['--json', '--server', server, 'login', '--email', 'alice@example.com', '--password-stdin'], { home, stdin: 'x\n' });
      expect(r.code).toBe(1);
      expect(r.error().code).toBe('unreachable');
      expect(r.error().message).toContain(`Cannot reach the Postern server at ${server}`);
      expect(r.error().message).toContain('ECONNREFUSED');
      // A logged-in user whose server has gone away gets the same code from any command.
      const other = await startTestRouter();
      const bob = new CliUser(other.url, 'bob@example.com');
      try {
        await bob.registerWithSdk();
        await bob.loginWithSdk();
        await other.stop();
        const down = await bob.run(['--json', 'ls']);
        expect(down.code).toBe(1);
        expect(down.error().code).toBe('unreachable');
        expect(down.error().message).toContain(`Cannot reach the Postern server at ${other.url}`);
      } finally {
        bob.cleanup();
      }
    } finally {
      removeDir(home);
    }
  });
});
