/**
 * Benchmark: rotations per minute through one gateway, against PostgreSQL and MariaDB, with
 * the time each step takes. It measures; it asserts nothing.
 *
 *   npx tsx test/bench/rotation/run.ts [--users 100] [--concurrency 1,8] [--targets postgres,mariadb]
 *
 * Same environment as the end-to-end tests (POSTERN_TEST_DATABASE, POSTERN_TEST_MYSQL; `npm
 * test` sets them, or run scripts/services/postgres.sh and mariadb.sh). For each target: a real
 * Router (SQLite) in this process, a real `postern-gateway` process, N database users with their
 * pamUser records (setup, not measured); then every user is rotated once per concurrency level,
 * started through the vault API as `postern rotate` would, and each job followed to its end.
 *
 * Per rotation, from the job's log lines as the Router stored them, opened with the record's
 * key as the vault does (the gateway seals them):
 *   fetch (job start → step 1), store pending (1 → 2), change on target (2 → 3),
 *   verify by login (3 → 4), finalize (4 → end); total = start → end.
 * Reference, measured in the same run: the same change and login done directly by this process
 * with the database driver (ALTER ROLE/USER as the admin, then a fresh login), i.e. what the
 * target itself costs. After each round every user's vault password is checked by a real login.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { JobLogReader } from '../../../core/vault-client/job-log.ts';
import { generatePassword } from '../../../gateway/rotation/password.ts';
import { RotationLab } from '../../rotation/lab.ts';
import type { TargetAdapter } from '../../rotation/suite.ts';
import { mysqlTarget } from '../../rotation/targets/mysql.ts';
import { postgresTarget } from '../../rotation/targets/postgres.ts';
import { testPostgresUrl } from '../../support/router.ts';

const { values: opts } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '1,8' },
    targets: { type: 'string', default: 'postgres,mariadb' },
  },
});
const users = Number(opts.users);
const concurrencies = opts.concurrency.split(',').map(Number);
if (!Number.isInteger(users) || users < 1 || concurrencies.some((c) => !Number.isInteger(c) || c < 1))
  throw new Error('--users and --concurrency take positive integers');

interface TargetSpec {
  name: string;
  adapter: TargetAdapter;
  /** The reference: change the password as the admin and log in with it, directly. */
  direct(login: string, admin: { login: string; password: string }, password: string): Promise<void>;
}

const TARGETS: Record<string, TargetSpec> = {
  postgres: {
    name: 'PostgreSQL',
    adapter: postgresTarget,
    async direct(login, admin, password) {
      const url = new URL(testPostgresUrl()!);
      const c = new pg.Client({ host: url.hostname, port: Number(url.port || 5432), user: admin.login, password: admin.password, database: 'postgres' });
      await c.connect();
      await c.query(`ALTER ROLE ${c.escapeIdentifier(login)} WITH PASSWORD ${c.escapeLiteral(password)}`);
      await c.end();
      if (!(await postgresTarget.canLogin({ login }, password))) throw new Error('reference login failed');
    },
  },
  mariadb: {
    name: 'MariaDB',
    adapter: mysqlTarget,
    async direct(login, admin, password) {
      const url = new URL(process.env['POSTERN_TEST_MYSQL']!);
      const c = await mysql.createConnection({ host: url.hostname, port: Number(url.port || 3306), user: admin.login, password: admin.password });
      await c.query('ALTER USER ?@? IDENTIFIED BY ?', [login, '%', password]);
      await c.end();
      if (!(await mysqlTarget.canLogin({ login }, password))) throw new Error('reference login failed');
    },
  },
};

const STEPS = ['fetch', 'store', 'change', 'verify', 'finalize', 'total'] as const;
type Step = (typeof STEPS)[number];
const MARKERS = ['Step 1/4', 'Step 2/4', 'Step 3/4', 'Step 4/4'];

interface Round {
  target: string;
  setup: string;
  concurrency: number;
  rotations: number;
  failed: number;
  seconds: number;
  perMinute: number;
  steps: Record<Step, { p50: number; p95: number; mean: number }>;
  verifiedLogins: number;
}

function quantiles(values: number[]): { p50: number; p95: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function benchTarget(key: string, spec: TargetSpec): Promise<Round[]> {
  if (spec.adapter.unavailable) {
    console.error(`[${spec.name}] skipped: ${spec.adapter.unavailable}`);
    return [];
  }
  const rounds: Round[] = [];
  await spec.adapter.setup();
  const lab = await RotationLab.start(`bench-${key}`);
  try {
    await lab.startGateway();
    console.error(`[${spec.name}] creating ${users} users and their records…`);
    const accounts: { login: string; userUid: string }[] = [];
    for (let i = 0; i < users; i++) {
      const password = generatePassword();
      const user = await spec.adapter.newUser(password);
      const { userUid } = await lab.addTarget({ resource: spec.adapter.resource(), admin: spec.adapter.admin(), user: { ...user, password } });
      accounts.push({ login: user.login, userUid });
    }

    for (const concurrency of concurrencies) {
      // Reference: the target's own cost of a change and a login, same concurrency.
      const refTimes: number[] = [];
      const refStart = performance.now();
      await pool(accounts, concurrency, async (a) => {
        const t0 = performance.now();
        await spec.direct(a.login, spec.adapter.admin(), generatePassword());
        refTimes.push(performance.now() - t0);
      });
      const refSeconds = (performance.now() - refStart) / 1000;
      // The reference changed the passwords behind the vault's back: put the vault's back.
      for (const a of accounts) await spec.direct(a.login, spec.adapter.admin(), await lab.password(a.userUid));
      const refSteps = Object.fromEntries(
        STEPS.map((s) => [s, s === 'change' || s === 'total' ? quantiles(refTimes) : { p50: NaN, p95: NaN, mean: NaN }]),
      ) as Round['steps'];
      rounds.push({
        target: spec.name,
        setup: 'reference: driver, direct',
        concurrency,
        rotations: accounts.length,
        failed: 0,
        seconds: refSeconds,
        perMinute: (accounts.length / refSeconds) * 60,
        steps: refSteps,
        verifiedLogins: accounts.length,
      });

      console.error(`[${spec.name}] rotating ${accounts.length} users, ${concurrency} at a time…`);
      const jobs: string[] = [];
      let failed = 0;
      const start = performance.now();
      await pool(accounts, concurrency, async (a) => {
        const outcome = await lab.vault.sendAction({ action: 'rotate', recordUid: a.userUid, configurationUid: lab.configurationUid });
        if (outcome.code !== 'ok' || !outcome.jobUid) {
          failed++;
          return;
        }
        jobs.push(outcome.jobUid);
        // Followed on the Router's own database: polling over the API would add its interval.
        for (;;) {
          const job = await lab.router.db.selectFrom('jobs').select(['status']).where('uid', '=', outcome.jobUid).executeTakeFirstOrThrow();
          if (job.status !== 'running') {
            if (job.status !== 'finished') failed++;
            break;
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      });
      const seconds = (performance.now() - start) / 1000;
      const perStep: Record<Step, number[]> = { fetch: [], store: [], change: [], verify: [], finalize: [], total: [] };
      for (const jobUid of jobs) {
        const job = await lab.router.db.selectFrom('jobs').select(['record_uid']).where('uid', '=', jobUid).executeTakeFirstOrThrow();
        const stored = await lab.router.db.selectFrom('job_logs').select(['seq', 'at', 'line']).where('job_uid', '=', jobUid).orderBy('seq').execute();
        const lines = await new JobLogReader(lab.vault, jobUid, job.record_uid).lines(
          stored.map((l) => ({ seq: Number(l.seq), at: Number(l.at), line: l.line })),
        );
        const at = (marker: string) => Number(lines.find((l) => l.line.startsWith(marker))?.at ?? NaN);
        const t = [Number(lines[0]?.at), ...MARKERS.map(at), Number(lines.at(-1)?.at)];
        (['fetch', 'store', 'change', 'verify', 'finalize'] as const).forEach((step, i) => perStep[step].push(t[i + 1]! - t[i]!));
        perStep.total.push(t[5]! - t[0]!);
      }
      let verified = 0;
      for (const a of accounts) if (await spec.adapter.canLogin({ login: a.login }, await lab.password(a.userUid))) verified++;
      rounds.push({
        target: spec.name,
        setup: 'Postern: CLI path, one gateway',
        concurrency,
        rotations: jobs.length,
        failed,
        seconds,
        perMinute: ((jobs.length - failed) / seconds) * 60,
        steps: Object.fromEntries(STEPS.map((s) => [s, quantiles(perStep[s].filter(Number.isFinite))])) as Round['steps'],
        verifiedLogins: verified,
      });
    }
  } finally {
    await lab.close();
    await spec.adapter.cleanup();
  }
  return rounds;
}

const rounds: Round[] = [];
for (const key of opts.targets.split(',')) {
  const spec = TARGETS[key.trim()];
  if (!spec) throw new Error(`unknown target "${key}" (${Object.keys(TARGETS).join(', ')})`);
  rounds.push(...(await benchTarget(key.trim(), spec)));
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
console.log(`\nRotations through one gateway, ${users} users per target (times in ms, p50 / p95)\n`);
console.log(
  '| target | setup | concurrency | rotations | failed | rotations/min | ' + STEPS.map((s) => `${s} p50/p95`).join(' | ') + ' | vault password logs in |',
);
console.log('|---|---|--:|--:|--:|--:|' + STEPS.map(() => '--:').join('|') + '|--:|');
for (const r of rounds) {
  console.log(
    `| ${r.target} | ${r.setup} | ${r.concurrency} | ${r.rotations} | ${r.failed} | ${r.perMinute.toFixed(0)} | ` +
      STEPS.map((s) => `${ms(r.steps[s].p50)} / ${ms(r.steps[s].p95)}`).join(' | ') +
      ` | ${r.verifiedLogins}/${r.rotations} |`,
  );
}
console.log('\nReference rows: the change and a fresh login done directly with the driver (their time is in "change" and "total").');
const dir = join(import.meta.dirname, '..', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `rotation-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
writeFileSync(file, JSON.stringify({ users, concurrencies, rounds }, null, 2));
console.log(`Results: ${file}`);
process.exit(0);
