/**
 * Tunnels end to end: the real `postern tunnel start` (werift, sealed signalling through a real
 * Router) to a real `postern-gateway` (werift answering, dialling real TCP servers), directly and
 * through Postern's Relay.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSignallingSessionId, sealSignalling, deriveSignallingKey } from '../../core/protocol/webrtc-signalling.ts';
import { requireService } from '../support/services.ts';
import { spawnCli } from '../cli/support.ts';
import { TunnelLab, type RunningTunnel } from './lab.ts';

const run = promisify(execFile);

/** Echo server: every connection gets its bytes back, and its EOF. */
function echoServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Hashing sink: reads until EOF, then answers with the SHA-256 and byte count (a half-close test too). */
function hashServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    socket.on('end', () => socket.end(`${hash.digest('hex')} ${bytes}\n`));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `data` (honouring back-pressure), half-closes, and collects the reply until EOF. */
async function exchange(port: number, data: Buffer): Promise<Buffer> {
  const socket = await connect(port);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  for (let off = 0; off < data.length; off += 256 * 1024) {
    if (!socket.write(data.subarray(off, off + 256 * 1024))) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
  const reply = await done;
  socket.destroy();
  return reply;
}

/** Resolves with how the local socket ended: 'end' (EOF), 'close' or an error code. */
function ending(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
  });
}

describe('tunnels through the gateway', () => {
  let lab: TunnelLab;
  let echo: Server;
  let sink: Server;
  let echoUid: string;
  let sinkUid: string;
  let tunnel: RunningTunnel;

  beforeAll(async () => {
    [echo, sink] = await Promise.all([echoServer(), hashServer()]);
    lab = await TunnelLab.start('tunnel');
    await lab.startGateway();
    echoUid = await lab.addResource('pamMachine', 'echo box', '127.0.0.1', portOf(echo));
    sinkUid = await lab.addResource('pamMachine', 'hash box', '127.0.0.1', portOf(sink));
    tunnel = await lab.tunnel(echoUid);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
    echo?.close();
    sink?.close();
  });

  it('prints its ready message as real lines for a person (no literal \\n), and stops on Ctrl-C', async () => {
    const child = spawnCli(['--server', lab.router.url, 'tunnel', 'start', echoUid], { home: lab.admin.home });
    child.stdin!.end();
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.includes('closes it.\n')) resolve();
        });
        void exited.then((code) => reject(new Error(`postern tunnel start exited ${code}:\n${stdout}`)));
      });
    } finally {
      child.kill('SIGINT');
    }
    await exited;
    const lines = stdout.split('\n');
    const ready = lines.findIndex((l) => l.startsWith('Tunnel to "echo box"'));
    expect(lines[ready]).toMatch(/is ready: connect to 127\.0\.0\.1:\d+$/);
    expect(lines[ready + 1]).toMatch(/^ {2}path .+, session \S+$/);
    expect(lines[ready + 1]).not.toContain('--relay-only');
    expect(lines[ready + 2]).toBe(`  Ctrl-C (or \`postern tunnel stop ${echoUid}\`) closes it.`);
    expect(stdout).not.toContain('\\n');
  });

  it('prints where to connect and carries bytes both ways, byte-exact', async () => {
    const ready = tunnel.events.find((e) => e.event === 'ready')!;
    expect(ready).toMatchObject({ listen: `127.0.0.1:${tunnel.port}`, target: `127.0.0.1:${portOf(echo)}`, resourceUid: echoUid });
    expect(tunnel.port).toBeGreaterThanOrEqual(49152);
    // Gateway and CLI on one host: SCTP path MTU discovery moves the tunnel to 16 KiB packets.
    await expect.poll(() => tunnel.events.find((e) => e.event === 'path')?.['path']).toBe('host→host (16 KiB packets)');
    const data = nodeRandomBytes(1024 * 1024);
    expect((await exchange(tunnel.port, data)).equals(data)).toBe(true);
    await expect.poll(() => tunnel.events.filter((e) => e.event === 'close' && e['reason'] === 'normal').length).toBeGreaterThan(0);
  }, 120_000);

  it('carries 50 parallel connections, each byte-exact', async () => {
    const payloads = Array.from({ length: 50 }, (_, i) => nodeRandomBytes(16 * 1024 + i * 997));
    const replies = await Promise.all(payloads.map((p) => exchange(tunnel.port, p)));
    replies.forEach((r, i) => expect(r.equals(payloads[i]!), `connection ${i}`).toBe(true));
  }, 120_000);

  it('moves 64 MiB to a real server byte-exact, and half-close lets the server answer after our EOF', async () => {
    const t = await lab.tunnel(sinkUid);
    const data = nodeRandomBytes(64 * 1024 * 1024);
    const reply = (await exchange(t.port, data)).toString('utf8').trim();
    expect(reply).toBe(`${createHash('sha256').update(data).digest('hex')} ${data.length}`);
    await t.stop();
  }, 300_000);

  it('runs a psql session against PostgreSQL through the tunnel', async () => {
    const url = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');
    if (!url) return; // scripts/test.sh always provides one; a bare `vitest run` outside CI may not.
    const pgUrl = new URL(url);
    const pgUid = await lab.addResource('pamDatabase', 'postgres', pgUrl.hostname, Number(pgUrl.port || 5432), { databaseType: 'postgresql' });
    const t = await lab.tunnel(pgUid);
    pgUrl.hostname = '127.0.0.1';
    pgUrl.port = String(t.port);
    const { stdout } = await run('psql', [pgUrl.toString(), '-At', '-c', "select 6 * 7, current_setting('server_version_num')::int > 0"], { timeout: 30_000 });
    expect(stdout.trim()).toBe('42|t');
    await t.stop();
  }, 180_000);

  it('refuses a target outside the record and says why', async () => {
    const t = await lab.tunnel(echoUid, ['--remote', `127.0.0.1:${portOf(sink)}`]);
    const socket = await connect(t.port);
    expect(['end', 'close', 'ECONNRESET']).toContain(await ending(socket));
    await expect.poll(() => t.events.find((e) => e.event === 'close')).toMatchObject({ reason: 'not_allowed' });
    await t.stop();
  }, 120_000);

  it('works relay-only, through the Relay', async () => {
    const before = lab.relay.server.metrics.bytesClientToPeer;
    const t = await lab.tunnel(echoUid, ['--relay-only']);
    expect(String(t.events.find((e) => e.event === 'ready')!['path'])).toMatch(/relay/);
    expect(t.events.find((e) => e.event === 'ready')).toMatchObject({ relayOnly: true });
    // The Relay listens on this host's loopback: the relayed path takes 16 KiB packets too.
    await expect.poll(() => t.events.find((e) => e.event === 'path')?.['path']).toMatch(/^relay→\w+ \(16 KiB packets\)$/);
    const data = nodeRandomBytes(2 * 1024 * 1024);
    expect((await exchange(t.port, data)).equals(data)).toBe(true);
    expect(lab.relay.server.metrics.bytesClientToPeer - before).toBeGreaterThan(2 * 1024 * 1024);
    const allocations = lab.relay.server.metrics.allocations;
    await t.stop();
    // Both ends give their allocations back (Refresh, LIFETIME 0) instead of leaving them to
    // expire in 10 minutes and count against the user's quota meanwhile.
    await expect.poll(() => lab.relay.server.metrics.allocations, { timeout: 10_000 }).toBeLessThanOrEqual(allocations - 2);
  }, 180_000);

  it('refuses a replayed offer, and the Router never sees the seed or the SDP', async () => {
    const record = await lab.vault.getRecord(echoUid);
    const seed = (record.data.fields as { trafficEncryptionSeed: string }).trafficEncryptionSeed;
    expect(seed).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const sessionId = newSignallingSessionId();
    const offer = await sealSignalling(deriveSignallingKey(seed, echoUid), echoUid, {
      v: 1,
      sessionId,
      issuedAt: Date.now(),
      description: { type: 'offer', sdp: 'v=0\r\n' },
    });
    const send = () =>
      lab.vault.sendAction({ action: 'webrtc-session', recordUid: echoUid, configurationUid: lab.configurationUid, params: { sessionId, offer } });
    await send(); // answered or not (werift takes almost any SDP), the session id is now spent
    const second = await send();
    expect(second).toMatchObject({ code: 'bad_request', message: expect.stringContaining('replayed') });

    const routerFiles = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? routerFiles(join(dir, n)) : [join(dir, n)]));
    for (const file of routerFiles(lab.routerDir)) {
      const text = readFileSync(file).toString('latin1');
      expect(text.includes(seed), file).toBe(false);
      expect(text.includes('a=fingerprint'), file).toBe(false);
      expect(text.includes('a=candidate'), file).toBe(false);
    }
  }, 120_000);

  it('lists running tunnels and stops one from another terminal', async () => {
    const t = await lab.tunnel(sinkUid);
    const listed = (await lab.admin.ok(['--json', 'tunnel', 'list'])).json<{ tunnels: { pid: number; resourceUid: string; listen: string }[] }>().tunnels;
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ pid: t.child.pid, resourceUid: sinkUid, listen: `127.0.0.1:${t.port}` })]));
    const stopped = (await lab.admin.ok(['--json', 'tunnel', 'stop', '--pid', String(t.child.pid)])).json<{ stopped: number[] }>();
    expect(stopped.stopped).toEqual([t.child.pid]);
    expect(await t.exited).toBe(0);
    expect(t.events.at(-1)).toMatchObject({ event: 'closed', why: 'stopped (SIGTERM)' });
    const after = (await lab.admin.ok(['--json', 'tunnel', 'list'])).json<{ tunnels: { pid: number }[] }>().tunnels;
    expect(after.map((x) => x.pid)).not.toContain(t.child.pid);
    expect((await lab.admin.run(['--json', 'tunnel', 'stop', '--pid', String(t.child.pid)])).error()).toMatchObject({ code: 'not_found' });
  }, 120_000);

  it('closes local sockets with a reason when the gateway dies', async () => {
    const t = await lab.tunnel(echoUid);
    const socket = await connect(t.port);
    socket.write('hello');
    await new Promise((r) => socket.once('data', r));
    const ended = ending(socket);
    await lab.stopGateway('SIGKILL');
    expect(['end', 'close', 'ECONNRESET']).toContain(await ended);
    expect(await t.exited).not.toBe(0);
    const closed = t.events.find((e) => e.event === 'close');
    expect(closed?.['reason']).toMatch(/peer_timeout|channel_closed/);
    expect(t.stderr()).toMatch(/tunnel .*ended/i);
  }, 180_000);
});

describe('tunnel refusals', () => {
  it('needs the tunneling feature on the PAM configuration', async () => {
    const lab = await TunnelLab.start('notunnel', { tunneling: false });
    try {
      await lab.startGateway();
      const uid = await lab.addResource('pamMachine', 'box', '127.0.0.1', 9);
      const result = await lab.admin.run(['--json', 'tunnel', 'start', uid]);
      expect(result.code).not.toBe(0);
      expect(result.error()).toMatchObject({ code: 'not_allowed', message: expect.stringContaining('tunneling') });
    } finally {
      await lab.close();
    }
  }, 180_000);
});
