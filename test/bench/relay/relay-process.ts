/**
 * The Postern relay as its own process for the relay benchmark (so its CPU time is its own):
 * `npx tsx test/bench/relay/relay-process.ts` with the options as one JSON argument; prints
 * `{"udp":PORT,"tcp":PORT}` on stdout once listening, stops on SIGTERM. Secret from
 * $BENCH_RELAY_SECRET, never in argv.
 */
import { startRelay } from '../../../relay/adapters/node/relay-service.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as { allow?: string[]; maxAllocationsPerUser?: number; realm?: string };
const secret = process.env.BENCH_RELAY_SECRET;
if (!secret) throw new Error('BENCH_RELAY_SECRET is not set');
const relay = await startRelay({
  host: '127.0.0.1',
  udpPort: 0,
  tcpPort: 0,
  realm: args.realm ?? 'bench',
  authSecret: secret,
  allow: args.allow ?? ['127.0.0.1/32'],
  limits: { maxAllocationsPerUser: args.maxAllocationsPerUser ?? 1000 },
  log: (level, event, fields) => {
    if (level === 'warn') process.stderr.write(`${JSON.stringify({ level, event, ...fields })}\n`);
  },
});
const port = (t: string) => relay.listeners.find((l) => l.transport === t)!.port;
process.stdout.write(`${JSON.stringify({ udp: port('udp'), tcp: port('tcp') })}\n`);
const stop = async () => {
  process.stderr.write(`${JSON.stringify({ final: relay.server.metrics })}\n`);
  await relay.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
