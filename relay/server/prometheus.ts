/**
 * The relay's metrics in the Prometheus text exposition format (version 0.0.4), from plain
 * numbers: no runtime, no client library. adapters/node/metrics-http.ts serves it on /metrics.
 *
 * Every series is always present (zero included), so a dashboard or an alert on
 * `increase(postern_relay_dropped_total{reason="no_permission"}[5m])` works from the first scrape.
 */
import { CLIENT_TRANSPORTS, type ClientTransport } from './adapter-contract.ts';
import { DROP_REASONS, QUOTA_SCOPES, type TurnMetrics } from './turn-server.ts';

export interface ListenerMetrics {
  readonly transport: ClientTransport;
  /** Open connections (TCP/TLS); absent for UDP. */
  readonly connections?: number | undefined;
  readonly closedMalformed?: number | undefined;
  readonly closedSlow?: number | undefined;
  readonly closedIdle?: number | undefined;
}

type Sample = readonly [labels: Record<string, string>, value: number];

function family(name: string, type: 'gauge' | 'counter', help: string, samples: readonly Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
    lines.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  }
  return lines.join('\n');
}

export function renderRelayMetrics(turn: TurnMetrics, listeners: readonly ListenerMetrics[]): string {
  const stream = listeners.filter((l) => l.transport !== 'udp');
  const sum = (t: ClientTransport, pick: (l: ListenerMetrics) => number | undefined): number =>
    stream.filter((l) => l.transport === t).reduce((n, l) => n + (pick(l) ?? 0), 0);
  const streamTransports = (['tcp', 'tls'] as const).filter((t) => stream.some((l) => l.transport === t));
  return (
    [
      family('postern_relay_up', 'gauge', 'The relay is running.', [[{}, 1]]),
      family(
        'postern_relay_listeners',
        'gauge',
        'Listening sockets by client transport.',
        CLIENT_TRANSPORTS.map((t) => [{ transport: t }, listeners.filter((l) => l.transport === t).length]),
      ),
      family(
        'postern_relay_allocations',
        'gauge',
        'Current TURN allocations by client transport.',
        CLIENT_TRANSPORTS.map((t) => [{ transport: t }, turn.allocationsByTransport[t]]),
      ),
      family('postern_relay_relayed_sockets', 'gauge', 'Open relayed UDP sockets by address family.', [
        [{ family: 'ipv4' }, turn.relayedSockets.ipv4],
        [{ family: 'ipv6' }, turn.relayedSockets.ipv6],
      ]),
      family('postern_relay_bytes_total', 'counter', 'Application bytes relayed, by direction.', [
        [{ direction: 'client_to_peer' }, turn.bytesClientToPeer],
        [{ direction: 'peer_to_client' }, turn.bytesPeerToClient],
      ]),
      family('postern_relay_packets_total', 'counter', 'Datagrams relayed, by direction.', [
        [{ direction: 'client_to_peer' }, turn.packetsClientToPeer],
        [{ direction: 'peer_to_client' }, turn.packetsPeerToClient],
      ]),
      family('postern_relay_hairpinned_packets_total', 'counter', 'Datagrams from one allocation to another on this relay, handed over without a socket.', [
        [{}, turn.packetsHairpinned],
      ]),
      family(
        'postern_relay_dropped_total',
        'counter',
        'Messages dropped without an answer, by reason.',
        DROP_REASONS.map((r) => [{ reason: r }, turn.dropped[r] ?? 0]),
      ),
      family('postern_relay_auth_failures_total', 'counter', 'Requests answered 401 or 438.', [[{}, turn.authFailures]]),
      family(
        'postern_relay_quota_refusals_total',
        'counter',
        "Allocate requests answered 486, by the quota that was full (one principal's, or the whole relay's).",
        QUOTA_SCOPES.map((q) => [{ scope: q }, turn.quotaRefusals[q]]),
      ),
      family(
        'postern_relay_stream_connections',
        'gauge',
        'Open TCP/TLS client connections.',
        streamTransports.map((t) => [{ transport: t }, sum(t, (l) => l.connections)]),
      ),
      family(
        'postern_relay_stream_closed_total',
        'counter',
        'TCP/TLS client connections the relay closed, by reason.',
        streamTransports.flatMap((t): Sample[] => [
          [{ transport: t, reason: 'malformed' }, sum(t, (l) => l.closedMalformed)],
          [{ transport: t, reason: 'slow_client' }, sum(t, (l) => l.closedSlow)],
          [{ transport: t, reason: 'idle' }, sum(t, (l) => l.closedIdle)],
        ]),
      ),
    ].join('\n') + '\n'
  );
}
