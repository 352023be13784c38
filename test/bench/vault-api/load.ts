/**
 * One load-generator process: `clients` concurrent clients, each in a closed loop (a new
 * request as soon as the previous one answered) or, with a rate, paced (each client starts its
 * requests on a fixed schedule, and a request's latency runs from its scheduled start, so time
 * spent queued behind a slow answer counts), started by run.ts over IPC. Several of these
 * processes run side by side (`--clients-procs`), because the client side spends CPU on the
 * same crypto as the Router (sealing each request to the Router's key, signing, opening the
 * answer) and one process could otherwise be what limits the throughput.
 *
 *   vault:  VaultClient.getRecord(uid), one VaultClient per client, all resuming the one session
 *   device: SecretsClient.getSecrets([uid]), one SecretsClient per client, the one device config
 *   hono:   fetch POST of a small JSON body to the bare Hono route, then read the JSON answer
 *
 * Every client cycles through the fixture's records. A request counts when it completes inside
 * the measured window (after the warm-up); its latency is from its start to its completion.
 */
import { readFileSync } from 'node:fs';
import { fromBase64Url } from '../../../core/crypto/index.ts';
import { PosternError } from '../../../core/errors.ts';
import { SecretsClient } from '../../../core/secrets-client/index.ts';
import { VaultClient, VaultTransport, type FetchLike } from '../../../core/vault-client/index.ts';
import { serveParent, sleep } from '../gateways/ipc.ts';
import { ECHO_PATH, type Fixture } from './fixture.ts';

export type LoadSetup = 'vault' | 'device' | 'hono';

export interface PrepareArgs {
  setup: LoadSetup;
  clients: number;
  /** Postern setups: the fixture written by the runner. */
  fixtureFile?: string;
  /** The reference setup: the server's base URL. */
  url?: string;
  timeoutMs: number;
}

export interface RunArgs {
  /** Epoch ms at which every load process starts its clients (the warm-up begins). */
  startAt: number;
  warmupMs: number;
  measureMs: number;
  /** Requests/s this process offers in total, spread over its clients; 0 = closed loop. */
  rate: number;
}

export interface LoadResult {
  clients: number;
  /** Requests that completed OK inside the measured window. */
  completed: number;
  /** Their latencies (ms), for the runner to merge across processes. */
  latencies: number[];
  errors: Record<string, number>;
  /** Requests still in flight when the window closed (not counted). */
  inFlightAtEnd: number;
}

type Op = (client: number, n: number) => Promise<void>;

let op: Op | null = null;
let clientCount = 0;

function timedFetch(timeoutMs: number): FetchLike {
  return (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

async function inBatches(count: number, batch: number, make: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += batch) await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j)));
}

async function prepare(args: PrepareArgs): Promise<{ clients: number; ms: number }> {
  const t0 = performance.now();
  const fetchImpl = timedFetch(args.timeoutMs);
  clientCount = args.clients;
  if (args.setup === 'hono') {
    const url = `${args.url!}${ECHO_PATH}`;
    op = async (client, n) => {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client, n, recordUid: 'aaaaaaaaaaaaaaaaaaaaaa' }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await response.json();
    };
  } else {
    const fixture = JSON.parse(readFileSync(args.fixtureFile!, 'utf8')) as Fixture;
    const uids = fixture.recordUids;
    if (args.setup === 'vault') {
      const transport = new VaultTransport(fixture.url, fromBase64Url(fixture.session.routerPublicKey), fetchImpl);
      const vaults: VaultClient[] = new Array(args.clients);
      await inBatches(args.clients, 16, async (i) => {
        vaults[i] = await VaultClient.resume(transport, fixture.session);
      });
      op = async (client, n) => {
        await vaults[client]!.getRecord(uids[n % uids.length]!);
      };
    } else {
      const devices = Array.from({ length: args.clients }, () => new SecretsClient(fixture.device, fetchImpl));
      op = async (client, n) => {
        const [record] = await devices[client]!.getSecrets([uids[n % uids.length]!]);
        if (!record) throw new PosternError('not_found', 'the record did not come back');
      };
    }
  }
  // One request per client before the timed phases: connections, JIT, lazily built tables.
  await Promise.all(Array.from({ length: args.clients }, (_, i) => op!(i, i)));
  return { clients: args.clients, ms: performance.now() - t0 };
}

function codeOf(err: unknown): string {
  if (err instanceof PosternError) return err.code;
  if (err instanceof Error) return (err.name === 'TimeoutError' ? 'timeout' : `exception: ${err.message}`).slice(0, 120);
  return String(err).slice(0, 120);
}

async function run(args: RunArgs): Promise<LoadResult> {
  if (!op) throw new Error('prepare first');
  const fire = op;
  const begin = args.startAt - performance.timeOrigin;
  const windowStart = begin + args.warmupMs;
  const windowEnd = windowStart + args.measureMs;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let inFlightAtEnd = 0;
  await sleep(Math.max(0, begin - performance.now()));
  // Paced: each client sends every `interval` ms, the clients' schedules spread evenly.
  const interval = args.rate > 0 ? (clientCount / args.rate) * 1000 : 0;
  const loop = async (client: number) => {
    // Clients start on different records so they do not all read the same row at once.
    for (let n = client; ; n++) {
      let t0 = performance.now();
      if (interval > 0) {
        const scheduled = begin + (client / clientCount + (n - client)) * interval;
        if (scheduled > t0) await sleep(scheduled - t0);
        t0 = scheduled;
      }
      if (t0 >= windowEnd) return;
      let code = 'ok';
      try {
        await fire(client, n);
      } catch (err) {
        code = codeOf(err);
      }
      const t1 = performance.now();
      if (t1 > windowEnd) {
        inFlightAtEnd++;
        return;
      }
      if (t1 < windowStart) continue;
      if (code === 'ok') latencies.push(t1 - t0);
      else errors[code] = (errors[code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: clientCount }, (_, i) => loop(i)));
  return { clients: clientCount, completed: latencies.length, latencies, errors, inFlightAtEnd };
}

serveParent({
  prepare: (args: PrepareArgs) => prepare(args),
  run: (args: RunArgs) => run(args),
  stop: () => {
    setTimeout(() => process.exit(0), 50);
    return true;
  },
});
