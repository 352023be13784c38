/**
 * Relay hardening, attacked end to end (issue 10, items 4, 11 and the Relay part of 15): a real
 * Relay, as `postern server start` builds it (startEmbeddedRelay) or as `postern relay start`
 * does (startRelay with its limits), TURN credentials from a real Router's `relay.credentials`
 * or from the same REST formula, and the relay's own TURN test client. Timeouts only turn a lost
 * answer into a failure; nothing measures time.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoPeer, errorCode, TurnTestClient } from '../../relay/adapters/node/testing/turn-test-client.ts';
import { startRelay, type Relay } from '../../relay/adapters/node/relay-service.ts';
import { codecs, encodeAttribute, readAttribute, type TransportAddressInput } from '../../relay/stun/attributes.ts';
import { ADDRESS_FAMILY, METHOD } from '../../relay/stun/constants.ts';
import { iceServersFor, type RelayConfig } from '../../router/relay/ice-servers.ts';
import { startEmbeddedRelay, type EmbeddedRelay } from '../../vault/cli/embedded-relay.ts';
import { CliUser, removeDir, tempDir } from '../cli/support.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';

const SECRET = 'relay-hardening-secret-0123456789';

/** TURN credentials for `who` exactly as the Router issues them. */
function credentialsFor(config: RelayConfig, who: string): { username: string; password: string } {
  const [server] = iceServersFor(config, who, Date.now()).iceServers;
  return { username: server!.username!, password: server!.credential! };
}

function udpListener(listeners: readonly { transport: string; address: string; port: number }[]): TransportAddressInput {
  const l = listeners.find((x) => x.transport === 'udp')!;
  return { address: l.address, port: l.port };
}

async function allocated(c: TurnTestClient, creds: { username: string; password: string }, family?: 'ipv6'): Promise<TransportAddressInput> {
  const extra = family ? [encodeAttribute(codecs.requestedAddressFamily, ADDRESS_FAMILY.IPV6)] : [];
  const res = await c.allocate(creds.username, creds.password, extra);
  expect(res.messageClass, `Allocate answered ${errorCode(res)}`).toBe('success');
  const relayed = readAttribute(res, codecs.xorRelayedAddress)!;
  return { address: relayed.address, port: relayed.port };
}

/**
 * Whatever the relay sent `socket` before now has arrived once a probe sent after it from another
 * socket has: loopback delivers in order, and the relay sends synchronously while it handles a
 * request, so a Binding round trip first puts any relayed datagram ahead of the probe.
 */
async function settle(client: TurnTestClient, target: { received: Uint8Array[]; address: TransportAddressInput }): Promise<string[]> {
  await client.request(METHOD.BINDING, [], false);
  const probe = createSocket('udp4');
  try {
    await new Promise<void>((r) => probe.send('probe', target.address.port, target.address.address, () => r()));
    for (let i = 0; i < 400 && !target.received.some((b) => Buffer.from(b).toString() === 'probe'); i++) await new Promise((r) => setTimeout(r, 5));
  } finally {
    probe.close();
  }
  return target.received.map((b) => Buffer.from(b).toString());
}

/** A plain UDP socket on 127.0.0.1:port that records what it receives. */
async function listenOn(port: number): Promise<{ socket: Socket; address: TransportAddressInput; received: Uint8Array[]; close(): void }> {
  const socket = createSocket('udp4');
  const received: Uint8Array[] = [];
  socket.on('message', (m) => received.push(new Uint8Array(m)));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => resolve());
  });
  return { socket, address: { address: '127.0.0.1', port }, received, close: () => socket.close() };
}

const clients: TurnTestClient[] = [];
async function client(server: TransportAddressInput): Promise<TurnTestClient> {
  const c = await TurnTestClient.open('udp', server);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('the embedded Relay reaches nothing on its own host but live relayed addresses', () => {
  let relay: EmbeddedRelay;
  let config: RelayConfig;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('postern-relay-hardening-');
    relay = await startEmbeddedRelay({ dataDir, host: '127.0.0.1', port: 0, fallback: false, allow: [] });
    config = { urls: relay.urls, secret: relay.secret };
  });
  afterAll(async () => {
    await relay.close();
    removeDir(dataDir);
  });

  // threat model (docs/threat-model.md): Relay user
  it('refuses CreatePermission, ChannelBind and Send to its own listener and to another UDP port on 127.0.0.1 (403), and the port receives nothing', async () => {
    const peer = await echoPeer();
    try {
      const c = await client(udpListener(relay.listeners));
      await allocated(c, credentialsFor(config, 'ACCOUNT_A'));
      for (const target of [udpListener(relay.listeners), peer.address]) {
        const permission = await c.permission(target);
        expect(errorCode(permission), `CreatePermission ${target.address}:${target.port}`).toBe(403);
        expect(readAttribute(permission, codecs.errorCode)).toMatchObject({ code: 403 });
        expect(errorCode(await c.channelBind(0x4000, target)), `ChannelBind ${target.address}:${target.port}`).toBe(403);
        c.sendIndication(target, Buffer.from('attack'));
      }
      expect(await settle(c, peer)).toEqual(['probe']);
    } finally {
      peer.close();
    }
  });

  // threat model (docs/threat-model.md): Relay user
  it('lets two allocations meet at their exact relayed addresses, and stops when one ends even if another socket takes its port', async () => {
    const a = await client(udpListener(relay.listeners));
    const b = await client(udpListener(relay.listeners));
    const A = await allocated(a, credentialsFor(config, 'ACCOUNT_A'));
    const B = await allocated(b, credentialsFor(config, 'GATEWAY_B'));
    expect((await a.permission(B)).messageClass).toBe('success');
    expect((await b.permission(A)).messageClass).toBe('success');
    expect((await a.channelBind(0x4001, B)).messageClass).toBe('success');

    a.sendIndication(B, Buffer.from('hello over send'));
    const viaSend = await b.nextData();
    expect([viaSend.peer.port, Buffer.from(viaSend.data).toString()]).toEqual([A.port, 'hello over send']);
    a.sendChannelData(0x4001, Buffer.from('hello over channel'));
    expect(Buffer.from((await b.nextData()).data).toString()).toBe('hello over channel');

    // The permission is for B's port only, not for everything on 127.0.0.1.
    const other = await echoPeer();
    try {
      expect(errorCode(await a.permission(other.address))).toBe(403);
    } finally {
      other.close();
    }

    // B's allocation ends; a plain socket takes its port. A's permission and channel died with B.
    expect((await b.request(METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 0)])).messageClass).toBe('success');
    const squatter = await listenOn(B.port);
    try {
      a.sendIndication(B, Buffer.from('leak over send'));
      a.sendChannelData(0x4001, Buffer.from('leak over channel'));
      expect(await settle(a, squatter)).toEqual(['probe']);
      expect(errorCode(await a.permission(B))).toBe(403);
    } finally {
      squatter.close();
    }
  });
});

describe('the Relay refuses IPv6 peers that carry IPv4 addresses it would not reach directly', () => {
  let relay: Relay;

  beforeAll(async () => {
    // Loopback allow-listed, as an operator might for a lab: the mapped form must not ride on it.
    relay = await startRelay({
      host: '127.0.0.1',
      udpPort: 0,
      relayIps: { ipv4: '127.0.0.1', ipv6: '::1' },
      realm: 'postern',
      authSecret: SECRET,
      allow: ['127.0.0.1/32'],
    });
  });
  afterAll(() => relay.close());

  // threat model (docs/threat-model.md): Relay user
  it('answers 403 to IPv4-mapped, IPv4-compatible and 6to4 peers of loopback or any IPv4 address', async () => {
    const c = await client(udpListener(relay.listeners));
    const relayed = await allocated(c, credentialsFor({ urls: relay.urls(), secret: SECRET }, 'ACCOUNT_V6'), 'ipv6');
    expect(relayed.address).toBe('::1');
    for (const address of ['::ffff:127.0.0.1', '::ffff:8.8.8.8', '::127.0.0.1', '::8.8.8.8', '2002:7f00:1::1', '2002:a9fe:a9fe::1']) {
      expect([address, errorCode(await c.permission({ address, port: 9 }))]).toEqual([address, 403]);
    }
    // A public 6to4 address is judged by its IPv4 address, and passes.
    expect((await c.permission({ address: '2002:808:808::1', port: 9 })).messageClass).toBe('success');
  });
});

describe('the Relay counts its allocation quota per account or gateway, with a cap for the whole relay', () => {
  let relay: Relay;
  let router: TestRouter;
  let user: CliUser;

  beforeAll(async () => {
    relay = await startRelay({ host: '127.0.0.1', udpPort: 0, realm: 'postern', authSecret: SECRET, limits: { maxAllocationsPerUser: 2, maxAllocations: 3 } });
    router = await startTestRouter({ relay: { urls: relay.urls(), secret: SECRET } });
    user = new CliUser(router.url, 'quota-admin@example.com');
    await user.registerWithSdk();
  });
  afterAll(async () => {
    await relay.close();
    await router?.stop();
    user?.cleanup();
  });

  // threat model (docs/threat-model.md): Relay user
  it('refuses the third allocation of one account however many fresh credentials it asks the Router for (486), and the relay-wide cap holds across principals', async () => {
    const vault = await user.loginWithSdk();
    const fresh = async () => {
      const { iceServers } = await vault.relayCredentials();
      return { username: iceServers[0]!.username!, password: iceServers[0]!.credential! };
    };
    const minted = [await fresh(), await fresh(), await fresh()];
    expect(new Set(minted.map((m) => m.username)).size).toBe(3);

    await allocated(await client(udpListener(relay.listeners)), minted[0]!);
    await allocated(await client(udpListener(relay.listeners)), minted[1]!);
    const third = await (await client(udpListener(relay.listeners))).allocate(minted[2]!.username, minted[2]!.password);
    expect(errorCode(third)).toBe(486);

    // Another principal (a gateway) still gets one: the third allocation of the relay.
    const config = { urls: relay.urls(), secret: SECRET };
    await allocated(await client(udpListener(relay.listeners)), credentialsFor(config, 'GATEWAY_UID'));
    // A fourth allocation is over the relay's cap, whoever asks.
    const overCap = await (await client(udpListener(relay.listeners))).allocate(
      ...(Object.values(credentialsFor(config, 'ANOTHER_ACCOUNT')) as [string, string]),
    );
    expect(errorCode(overCap)).toBe(486);

    expect(relay.metrics().turn.quotaRefusals).toEqual({ principal: 1, relay: 1 });
    expect(relay.metricsText()).toContain('postern_relay_quota_refusals_total{scope="principal"} 1');
    expect(relay.metricsText()).toContain('postern_relay_quota_refusals_total{scope="relay"} 1');
  });
});
