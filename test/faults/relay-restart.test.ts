/**
 * The Relay restarts under a relay-only tunnel (the real `postern tunnel start` and a real
 * `postern-gateway`, the Relay a UDP TURN server restarted on the same port with none of its
 * allocations): both ends notice within the tunnel's keepalive time and end the tunnel with a
 * clear reason, the local connection is closed rather than left hanging, the restarted Relay
 * holds no allocation for the dead session, and a new tunnel through it works at once.
 *
 * Recovery of the same session by an ICE restart is not attempted yet (docs/operations/dependencies.md).
 */
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../schedule/support.ts';
import { TunnelLab } from '../tunnel/lab.ts';
import { printFaultTable, recordFault } from './measure.ts';

afterAll(() => printFaultTable());

/** The tunnel's default keepalive: silence this long ends it (core/tunnel/mux.ts). */
const PEER_TIMEOUT_MS = 20_000;

function echoServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    // The gateway resets its side of a dead tunnel's connection: expected here, not a failure.
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.on('error', reject); // after connecting, a later reset is what the test looks at, not a crash
  });
}

async function echoOnce(port: number, bytes: number): Promise<boolean> {
  const socket = await connect(port);
  const data = randomBytes(bytes);
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= bytes) resolve();
    });
  });
  socket.write(data);
  await done;
  socket.destroy();
  return Buffer.concat(chunks).equals(data);
}

describe('the Relay restarts under a relayed tunnel', () => {
  let lab: TunnelLab;
  let echo: Server;
  let uid: string;

  beforeAll(async () => {
    echo = await echoServer();
    lab = await TunnelLab.start('fault-relay');
    await lab.startGateway();
    uid = await lab.addResource('pamMachine', 'echo box', '127.0.0.1', (echo.address() as { port: number }).port);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
    echo?.close();
  });

  it('ends the tunnel with a clear reason within the keepalive time, leaks no allocation, and the next tunnel works', async () => {
    const t = await lab.tunnel(uid, ['--relay-only']);
    expect(String(t.events.find((e) => e.event === 'ready')!['path'])).toMatch(/relay/);
    expect(await echoOnce(t.port, 64 * 1024)).toBe(true);

    const open = await connect(t.port);
    const ended = new Promise<string>((resolve) => {
      open.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      open.once('close', () => resolve('close'));
    });
    const restartedAt = Date.now();
    await lab.restartRelay();
    open.write('into the void');

    const code = await Promise.race([t.exited, sleep(PEER_TIMEOUT_MS + 15_000).then(() => 'still running' as const)]);
    const noticedMs = Date.now() - restartedAt;
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(noticedMs).toBeLessThan(PEER_TIMEOUT_MS + 10_000);
    expect(['close', 'ECONNRESET', 'EPIPE']).toContain(await ended);
    const closed = t.events.find((e) => e.event === 'close');
    expect(String(closed?.['reason'])).toMatch(/peer_timeout|channel_closed|ice|relay|disconnected/);
    expect(t.stderr()).toMatch(/tunnel .*ended/i);

    // The restarted Relay holds nothing for the dead session (the ends' refreshes of their old
    // allocations are refused, not turned into new ones).
    await sleep(1_000);
    expect(lab.relay.server.metrics.allocations).toBe(0);

    // The gateway is still there, and a new tunnel through the restarted Relay works.
    const recoveredFrom = Date.now();
    const again = await lab.tunnel(uid, ['--relay-only']);
    expect(await echoOnce(again.port, 64 * 1024)).toBe(true);
    const newTunnelMs = Date.now() - recoveredFrom;
    await again.stop();

    recordFault({
      fault: 'Relay restarted under a relay-only tunnel (tunnel ended; a new one opened)',
      firstErrorMs: noticedMs,
      recoveryMs: newTunnelMs,
      outcomes: [],
    });
    console.log(
      `[faults] Relay restart: the tunnel ended with "${String(closed?.['reason'])}" ${noticedMs} ms after it; a new relay-only tunnel carried data ${newTunnelMs} ms later`,
    );
  }, 120_000);
});
