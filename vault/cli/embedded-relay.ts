/**
 * The Relay that `postern server start` runs next to the embedded Router, and its shared secret.
 *
 * Its shared secret: ./relay-secret.ts.
 *
 * Peers: a TURN relay must not become a way into the network it runs in, so the Relay refuses
 * loopback, private and link-local peers (relay/policy/peer-address.ts), and every port of its
 * own address, unless `--relay-allow` names them. Two relayed candidates on the same Relay (the
 * vault's and the gateway's) still meet: the Relay itself permits the exact relayed address of a
 * live allocation (relay/server/turn-server.ts), so nothing of its host needs allow-listing
 * (docs/decisions/0002-relay-peer-policy.md).
 */
import { loadOrCreateRelaySecret } from './relay-secret.ts';

export const DEFAULT_RELAY_PORT = 3478;

export interface EmbeddedRelayOptions {
  dataDir: string;
  host: string;
  /** UDP and TCP port; `fallback` picks free ones when this one is taken. */
  port: number;
  fallback: boolean;
  publicHost?: string | undefined;
  allow: string[];
}

export interface EmbeddedRelay {
  urls: string[];
  secret: string;
  listeners: { transport: string; address: string; port: number }[];
  /** Set when the asked-for port was taken and another was used. */
  movedFrom?: number;
  close(): Promise<void>;
}

export async function startEmbeddedRelay(options: EmbeddedRelayOptions): Promise<EmbeddedRelay> {
  const { startRelay } = await import('../../relay/adapters/node/relay-service.ts');
  const secret = loadOrCreateRelaySecret(options.dataDir);
  const base = {
    host: options.host,
    realm: 'postern',
    authSecret: secret,
    allow: [...new Set(options.allow)],
    ...(options.publicHost ? { publicHost: options.publicHost } : {}),
  };
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let movedFrom: number | undefined;
  try {
    relay = await startRelay({ ...base, udpPort: options.port, tcpPort: options.port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !options.fallback) throw err;
    movedFrom = options.port;
    relay = await startRelay({ ...base, udpPort: 0, tcpPort: 0 });
  }
  const started = relay;
  return {
    urls: started.urls(),
    secret,
    listeners: started.listeners.map((l) => ({ transport: l.transport, address: l.address, port: l.port })),
    ...(movedFrom !== undefined ? { movedFrom } : {}),
    close: () => started.close(),
  };
}
