/**
 * `postern rotate`, `postern job …`, `postern rotation …` and `postern gateway info|list`
 * through the CLI, against a real Router and a gateway simulated here with the real
 * RouterLink: the CLI prints each step as the gateway reports it, exits 0 on `finished` and 1
 * on `failed`/`cancelled`, and reports refusals (controller_down, not_allowed) clearly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobUpdate } from '../../core/protocol/gateway-wire.ts';
import { jobLogKey, sealJobLine, sealJobMessage } from '../../core/protocol/job-log.ts';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import { RouterLink, type ActionFrame, type ActionReply } from '../../gateway/link/router-link.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, spawnCli, type CliResult } from './support.ts';
import { silentLogger } from '../../core/logger.ts';

const UID = /^[A-Za-z0-9_-]{22}$/;
const quiet = silentLogger;

/** A CLI process whose stdout can be awaited line by line while it runs. */
function streaming(user: CliUser, args: string[]) {
  const child = spawnCli(['--server', user.server, ...args], { home: user.home });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(stdout)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.end();
  const done = new Promise<CliResult>((resolve) =>
    child.once('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        json: () => JSON.parse(stdout),
        error: () => JSON.parse(stderr).error,
      }),
    ),
  );
  return {
    done,
    /** Resolves once stdout matches; fails with the output so far after 20 s. */
    waitFor(pattern: RegExp): Promise<void> {
      if (pattern.test(stdout)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stdout never matched ${pattern}:\n${stdout}\n--- stderr\n${stderr}`)), 20_000);
        waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

/** A gateway simulated with the real RouterLink; what it does per record is scripted by the test. */
class SimulatedGateway {
  readonly link: RouterLink;
  /** recordUid → what to do when asked to rotate it. */
  readonly scripts = new Map<string, (jobUid: string) => void | Promise<void>>();
  readonly cancelled: string[] = [];

  constructor(server: string, config: SecretsConfig) {
    this.link = new RouterLink({
      server,
      clientId: config.clientId,
      privateKey: config.privateKey,
      version: 'sim-1.2.3',
      logger: quiet,
      backoff: { baseMs: 50, capMs: 200 },
      onAction: (frame) => this.onAction(frame),
    });
  }

  private async onAction(frame: ActionFrame): Promise<ActionReply> {
    const jobUid = frame.params['jobUid'] as string;
    switch (frame.action) {
      case 'rotate': {
        const script = this.scripts.get(frame.params['recordUid'] as string);
        if (!script) return { code: 'bad_request', message: 'no script for this record' };
        // The job's progress follows the answer, as on a real gateway.
        setTimeout(() => script(jobUid), 20);
        return { code: 'ok', data: { jobUid } };
      }
      case 'job-cancel':
        this.cancelled.push(jobUid);
        setTimeout(() => this.job({ jobUid, status: 'cancelled', step: 'cancelled', message: 'Cancelled at the request of the vault.' }), 20);
        return { code: 'ok', data: { jobUid, cancelling: true } };
      case 'gateway-info':
        return { code: 'ok', data: { version: 'sim-1.2.3', hostname: 'sim-host', tasks: { running: 1, finished: 4 }, features: ['rotation', 'info'] } };
      default:
        return { code: 'bad_request', message: `unknown action ${frame.action}` };
    }
  }

  job(update: JobUpdate): void {
    if (!this.link.sendJob(update)) throw new Error('the simulated gateway is not connected');
  }

  async start(): Promise<void> {
    this.link.start();
    await this.link.whenOnline();
  }
}

describe('postern rotate, job, rotation and gateway info against a simulated gateway', () => {
  let router: TestRouter;
  let admin: CliUser;
  let sdk: VaultClient;
  let gwA: SimulatedGateway;
  let gwB: SimulatedGateway;
  let gwAUid: string;
  const uids: Record<string, string> = {};

  beforeAll(async () => {
    router = await startTestRouter();
    admin = new CliUser(router.url, 'admin@example.com');
    await admin.registerWithSdk();
    sdk = await admin.loginWithSdk();
    const folder = await sdk.addFolder('PAM', { shared: true });
    const app = await sdk.createApplication('Gateways');
    const [a, b] = await sdk.addApplicationClients(app, { kind: 'gateway', unlockIp: true, name: 'gw-a', count: 2 });
    const [configA, configB] = await Promise.all([SecretsClient.redeemToken(a!.token), SecretsClient.redeemToken(b!.token)]);
    gwAUid = configA.deviceUid;
    gwA = new SimulatedGateway(router.url, configA);
    gwB = new SimulatedGateway(router.url, configB);
    await Promise.all([gwA.start(), gwB.start()]);
    // gateway B was connected once and is now down.
    await gwB.link.stop();
    while ((await sdk.listGateways()).find((g) => g.gatewayUid === configB.deviceUid)?.online) await new Promise((r) => setTimeout(r, 20));

    const pamConfig = (title: string, gatewayUid: string, rotation: boolean) =>
      newRecordData('pamConfiguration', title, { environment: 'local', gatewayUid, applicationFolderUid: folder, features: { rotation } });
    const user = (title: string) => newRecordData('pamUser', title, { login: title.replace(/\s/g, '_'), password: 'canary-old-password' });
    const entries: [string, ReturnType<typeof newRecordData>][] = [
      ['PAM A', pamConfig('PAM A', configA.deviceUid, true)],
      ['PAM B', pamConfig('PAM B', configB.deviceUid, true)],
      ['PAM off', pamConfig('PAM off', configA.deviceUid, false)],
      ['svc ok', user('svc ok')],
      ['svc fail', user('svc fail')],
      ['svc slow', user('svc slow')],
      ['svc quick', user('svc quick')],
      ['svc sealed', user('svc sealed')],
      ['orders db', newRecordData('pamDatabase', 'orders db', { hostname: 'db1.internal', port: 5432 })],
    ];
    const made = await Promise.all(entries.map(([, data]) => sdk.addRecord(data, { folderUid: folder })));
    entries.forEach(([title], i) => (uids[title] = made[i]!));

    gwA.scripts.set(uids['svc fail']!, (jobUid) => {
      gwA.job({ jobUid, status: 'running', progress: 10, step: 'fetching records', log: ['fetched 2 records'] });
      gwA.job({
        jobUid,
        status: 'failed',
        progress: 40,
        step: 'changing the password',
        message: 'The target refused the new password (password history).',
        log: ['ALTER USER refused'],
      });
    });
    gwA.scripts.set(uids['svc slow']!, (jobUid) => gwA.job({ jobUid, status: 'running', progress: 5, step: 'waiting for the target', log: ['db1 is busy'] }));
    gwA.scripts.set(uids['svc quick']!, (jobUid) => {
      gwA.job({ jobUid, status: 'running', progress: 50, step: 'changing the password' });
      gwA.job({ jobUid, status: 'finished', progress: 100, step: 'done', message: 'Rotated.' });
    });
  });
  afterAll(async () => {
    await gwA?.link.stop();
    await gwB?.link.stop();
    admin?.cleanup();
    await router?.stop();
  });

  it('prints each step as the gateway reports it and exits 0 when the rotation finishes', async () => {
    const cue: Record<string, (jobUid: string) => void> = {};
    let job = '';
    gwA.scripts.set(uids['svc ok']!, (jobUid) => {
      job = jobUid;
      gwA.job({ jobUid, status: 'running', progress: 20, step: 'fetching records', log: ['fetched the pamUser record and the PAM configuration'] });
    });
    cue['changing'] = (jobUid) =>
      gwA.job({ jobUid, status: 'running', progress: 60, step: 'changing the password on the target', log: ['connected to db1.internal:5432'] });
    cue['done'] = (jobUid) =>
      gwA.job({ jobUid, status: 'finished', progress: 100, step: 'done', message: 'Password rotated and verified.', log: ['verified the new password'] });

    // Records named by title; each next step is sent only once the CLI has printed the last one.
    const cli = streaming(admin, ['rotate', 'svc ok', '--config', 'PAM A', '--resource', 'orders db']);
    await cli.waitFor(/\[ 20%\] fetching records\n\[ 20%\] fetched the pamUser record and the PAM configuration\n/);
    cue['changing']!(job);
    await cli.waitFor(/\[ 60%\] changing the password on the target\n\[ 60%\] connected to db1\.internal:5432\n/);
    cue['done']!(job);
    const result = await cli.done;
    expect(result.code, result.stderr).toBe(0);
    // The Router's own first step may be seen before the gateway's.
    expect(result.stdout.replace(/^\[ {2}0%\] queued\n/, '')).toBe(
      [
        '[ 20%] fetching records',
        '[ 20%] fetched the pamUser record and the PAM configuration',
        '[ 60%] changing the password on the target',
        '[ 60%] connected to db1.internal:5432',
        '[100%] done',
        '[100%] verified the new password',
        'Rotation finished: Password rotated and verified.',
        '',
      ].join('\n'),
    );
    expect(result.stderr).toMatch(new RegExp(`Rotating ${uids['svc ok']} as job ${job} on gateway ${gwAUid}\\. Ctrl-C stops watching, not the rotation\\.`));

    // The finished job, as `job show` and `job list` see it.
    const [show, list] = await Promise.all([admin.ok(['job', 'show', job]), admin.ok(['--json', 'job', 'list'])]);
    expect(show.stdout).toMatch(/Status\s+finished\n/);
    expect(show.stdout).toMatch(/Progress\s+100%\n/);
    expect(show.stdout).toMatch(/Message\s+Password rotated and verified\.\n/);
    expect(show.stdout).toMatch(new RegExp(`Record\\s+${uids['svc ok']}\\n`));
    expect(show.stdout).toMatch(/Started by\s+admin@example\.com\n/);
    expect(show.stdout).toMatch(/Log:\n {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}fetched the pamUser record/);
    expect(list.json().jobs).toContainEqual(
      expect.objectContaining({ jobUid: job, action: 'rotate', status: 'finished', progress: 100, recordUid: uids['svc ok'] }),
    );
  });

  it('exits 1 with the message when the rotation fails, in text and in JSON', async () => {
    const [text, json] = await Promise.all([
      admin.run(['rotate', uids['svc fail']!, '--config', uids['PAM A']!]),
      admin.run(['--json', 'rotate', 'svc fail', '--config', 'PAM A']),
    ]);
    expect(text.code).toBe(1);
    // Both updates may arrive between two polls: the log lines are all there, in order, whatever was polled.
    expect(text.stdout).toMatch(/\] fetched 2 records\n(.*\n)*\[ 40%\] ALTER USER refused\n$/);
    expect(text.stdout).not.toMatch(/finished/);
    expect(text.stderr).toMatch(/^postern: Rotation [\w-]{22} failed: The target refused the new password \(password history\)\. \(job_failed\)$/m);

    expect(json.code).toBe(1);
    const doc = json.json();
    expect(doc.job).toMatchObject({
      status: 'failed',
      progress: 40,
      step: 'changing the password',
      message: 'The target refused the new password (password history).',
      recordUid: uids['svc fail'],
    });
    expect(doc.logs.map((l: { line: string }) => l.line)).toEqual(['fetched 2 records', 'ALTER USER refused']);
    expect(json.error()).toMatchObject({ code: 'job_failed', details: { jobUid: doc.job.jobUid, status: 'failed' } });
  });

  it('opens sealed lines and the message with the record key, live and in job show, and flags a line the Router reordered', async () => {
    // threat model (docs/threat-model.md): database-only attacker — reordering sealed lines
    const recordKey = (await sdk.recordKeyOf(uids['svc sealed']!))!;
    gwA.scripts.set(uids['svc sealed']!, async (jobUid) => {
      const key = jobLogKey(recordKey, jobUid);
      // Sealed first, then sent together, as before sealing was asynchronous.
      const first = await sealJobLine(key, jobUid, 1, 'on db9.canary:22 as "ops9canary"');
      const third = await sealJobLine(key, jobUid, 3, 'third');
      const second = await sealJobLine(key, jobUid, 2, 'second, sent after the third');
      const message = await sealJobMessage(key, jobUid, 'db9.canary refused "ops9canary"', 'admin_refused');
      gwA.job({ jobUid, status: 'running', progress: 40, step: 'changing it on the target (ssh)', log: [first] });
      gwA.job({ jobUid, status: 'running', progress: 50, step: 'verifying the new secret', log: [third, second] });
      gwA.job({ jobUid, status: 'failed', step: 'failed', message });
    });
    const run = await admin.run(['rotate', 'svc sealed', '--config', 'PAM A']);
    expect(run.code).toBe(1);
    // The updates may all arrive between two polls: the lines are there, in order, whatever progress was polled.
    expect(run.stdout).toMatch(/\] on db9\.canary:22 as "ops9canary"\n/);
    expect(run.stdout).toMatch(/\] third\n.*\(sealed line 2 came after line 3: the Router reordered or repeated it; not shown\)\n/);
    expect(run.stdout).not.toContain('sealed:v1');
    expect(run.stderr).toMatch(/^postern: Rotation [\w-]{22} failed: admin_refused: db9\.canary refused "ops9canary"\. \(job_failed\)$/m);

    const jobUid = (await sdk.listJobs(1))[0]!.jobUid;
    const row = await router.db.selectFrom('jobs').selectAll().where('uid', '=', jobUid).executeTakeFirstOrThrow();
    expect(row.message).toMatch(/^admin_refused: sealed:v1:m:/);
    const show = await admin.ok(['--json', 'job', 'show', jobUid]);
    expect(show.json().job.message).toBe('admin_refused: db9.canary refused "ops9canary"');
    expect(
      show
        .json()
        .logs.filter((l: { sealed: boolean }) => l.sealed)
        .map((l: { line: string }) => l.line),
    ).toEqual(['on db9.canary:22 as "ops9canary"', 'third', '(sealed line 2 came after line 3: the Router reordered or repeated it; not shown)']);
  });

  it('--no-wait returns the job at once; job show, list and cancel follow it to "cancelled"', async () => {
    const started = await admin.ok(['rotate', 'svc slow', '--config', 'PAM A', '--no-wait']);
    // stdout is the job UID alone, for scripts; the hint goes to stderr.
    expect(started.stdout).toMatch(/^[\w-]{22}\n$/);
    const jobUid = started.stdout.trim();
    expect(started.stderr).toMatch(new RegExp(`Rotation started as job ${jobUid}\\. Follow it with \`postern job show ${jobUid} --follow\``));
    await expect.poll(async () => (await sdk.getJob(jobUid)).job.step).toBe('waiting for the target');

    const [show, list] = await Promise.all([admin.ok(['job', 'show', jobUid]), admin.ok(['job', 'list'])]);
    expect(show.stdout).toMatch(/Status\s+running\n/);
    expect(show.stdout).toMatch(/Step\s+waiting for the target\n/);
    expect(show.stdout).toMatch(new RegExp(`Gateway\\s+${gwAUid}\\n`));
    expect(list.stdout).toMatch(/^JOB UID\s+ACTION\s+STATUS\s+STEP\s+RECORD\s+STARTED\s+BY$/m);
    expect(list.stdout).toMatch(
      new RegExp(`^${jobUid}\\s+rotate\\s+running \\(5%\\)\\s+waiting for the target\\s+${uids['svc slow']}\\s+.*admin@example\\.com$`, 'm'),
    );

    const follow = streaming(admin, ['job', 'show', jobUid, '--follow']);
    await follow.waitFor(/\[ {2}5%\] waiting for the target\n\[ {2}5%\] db1 is busy\n/);
    const cancel = await admin.ok(['job', 'cancel', jobUid]);
    expect(cancel.stdout).toMatch(new RegExp(`Asked the gateway to cancel job ${jobUid}\\.`));
    const followed = await follow.done;
    expect(followed.code).toBe(1);
    expect(followed.stderr).toMatch(new RegExp(`postern: Job ${jobUid} was cancelled: Cancelled at the request of the vault\\. \\(job_cancelled\\)`));
    expect(gwA.cancelled).toContain(jobUid);
  });

  it('reports a gateway that is down as controller_down, and a PAM configuration without rotation as not_allowed', async () => {
    const [down, downJson, off, noConfig, notAJob, noWaitJson] = await Promise.all([
      admin.run(['rotate', 'svc quick', '--config', 'PAM B']),
      admin.run(['--json', 'rotate', 'svc quick', '--config', 'PAM B']),
      admin.run(['--json', 'rotate', 'svc quick', '--config', 'PAM off']),
      admin.run(['--json', 'rotate', 'svc fail']),
      admin.run(['--json', 'job', 'show', 'not-a-uid']),
      admin.ok(['--json', 'rotate', 'svc quick', '--config', 'PAM A', '--no-wait']),
    ]);
    expect(noWaitJson.json()).toEqual({ jobUid: expect.stringMatching(UID), gatewayUid: gwAUid, recordUid: uids['svc quick'], status: 'running' });
    expect(down.code).toBe(1);
    expect(down.stdout).toBe('');
    expect(down.stderr).toMatch(
      /^postern: Rotation of [\w-]{22} could not start: .+\. The gateway is not connected to the Router\. Check it with `postern gateway list`.* \(controller_down\)$/m,
    );
    expect(downJson.code).toBe(1);
    expect(downJson.error()).toMatchObject({
      code: 'controller_down',
      details: { gatewayUid: expect.stringMatching(UID), jobUid: expect.stringMatching(UID) },
    });
    // The Router closed the job it had opened.
    const failedJob = downJson.error().details!['jobUid'] as string;
    expect((await sdk.getJob(failedJob)).job).toMatchObject({ status: 'failed', message: expect.stringMatching(/^controller_down/) });

    expect(off.code).toBe(1);
    expect(off.error()).toMatchObject({ code: 'not_allowed', message: expect.stringMatching(/"rotation" feature is not enabled on PAM configuration/) });
    expect(noConfig.code).toBe(1);
    expect(noConfig.error()).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/Which PAM configuration/) });
    expect(notAJob.code).toBe(2);
    expect(notAJob.error().message).toMatch(/Expected a 22-character job UID/);
  });

  it('sets, shows and clears rotation settings with a schedule and password rules; rotate then needs no --config', async () => {
    const set = await admin.ok([
      '--json',
      'rotation',
      'set',
      'svc quick',
      '--config',
      'PAM A',
      '--resource',
      'orders db',
      '--schedule',
      'weekly:mon,thu@04:30',
      '--tz',
      'Europe/London',
      '--complexity',
      'length=40,upper=2,digits=3,special=2,specialChars=!,#',
    ]);
    expect(set.json()).toMatchObject({
      recordUid: uids['svc quick'],
      configurationUid: uids['PAM A'],
      resourceUid: uids['orders db'],
      schedule: { kind: 'weekly', days: ['mon', 'thu'], time: '04:30', timeZone: 'Europe/London', interval: 1 },
      scheduleText: 'every Monday and Thursday at 04:30 (Europe/London)',
      spec: 'weekly:mon,thu@04:30',
      nextRunAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT0[34]:30:00\.000Z$/),
      passwordComplexity: 'length=40,upper=2,digits=3,special=2,specialChars=!,#',
    });
    // The rules are in the encrypted record; the schedule is the Router's.
    expect((await sdk.getRecord(uids['svc quick']!)).data.fields['passwordComplexity']).toEqual({
      length: 40,
      upper: 2,
      digits: 3,
      special: 2,
      specialChars: '!,#',
    });

    const [show, quick, badSchedule, badComplexity, tooLong, noTz, first] = await Promise.all([
      admin.ok(['rotation', 'show', 'svc quick']),
      admin.ok(['rotate', 'svc quick']),
      admin.run(['rotation', 'set', 'svc quick', '--schedule', 'weekly:fry@04:30']),
      admin.run(['rotation', 'set', 'svc quick', '--complexity', 'length=40,colour=blue']),
      admin.run(['--json', 'rotation', 'set', 'svc quick', '--complexity', 'length=8,upper=5,digits=5']),
      admin.run(['rotation', 'set', 'svc quick', '--tz', 'Europe/Paris']),
      admin.run(['--json', 'rotation', 'set', 'svc fail', '--schedule', 'daily@03:00']),
    ]);
    expect(show.stdout).toMatch(/Schedule\s+every Monday and Thursday at 04:30 \(Europe\/London\)\n/);
    expect(show.stdout).toMatch(/As --schedule\s+weekly:mon,thu@04:30 --tz Europe\/London\n/);
    expect(show.stdout).toMatch(/Next run\s+in \d+ (day|hour|minute)s? \(\d{4}-/);
    expect(show.stdout).toMatch(/Password rules\s+length=40,upper=2,digits=3,special=2,specialChars=!,#\n/);
    expect(show.stdout).toMatch(new RegExp(`Resource\\s+${uids['orders db']}\\n`));
    // Configuration and resource come from the rotation settings.
    expect(quick.stdout).toMatch(/\[100%\] done\nRotation finished: Rotated\.\n$/);
    expect(badSchedule.code).toBe(2);
    expect(badSchedule.stderr).toMatch(
      /^postern: --schedule: Schedule "weekly:fry@04:30": "fry" is not a weekday; use mon, tue, wed, thu, fri, sat, sun.* \(bad_request\)$/m,
    );
    expect(badComplexity.code).toBe(2);
    expect(badComplexity.stderr).toMatch(/--complexity: "colour=blue" is not one of length=…, upper=…/);
    expect(tooLong.code).toBe(1);
    expect(tooLong.error()).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^--complexity: .*exceeds length/) });
    expect(noTz.code).toBe(2);
    expect(noTz.stderr).toMatch(/--tz applies to --schedule/);
    expect(first.code).toBe(2);
    expect(first.error().message).toMatch(/has no rotation settings yet: give --config/);

    // A failed --complexity changed nothing; keeping other settings, a new schedule replaces the old one.
    const again = await admin.ok(['--json', 'rotation', 'set', 'svc quick', '--schedule', 'once:+10m']);
    expect(again.json()).toMatchObject({
      configurationUid: uids['PAM A'],
      resourceUid: uids['orders db'],
      schedule: { kind: 'once' },
      scheduleText: expect.stringMatching(/^once, at /),
    });
    expect(Date.parse(again.json().nextRunAt) - Date.now()).toBeGreaterThan(8 * 60_000);
    expect((await sdk.getRecord(uids['svc quick']!)).data.fields['passwordComplexity']).toMatchObject({ length: 40 });

    const cleared = await admin.ok(['rotation', 'clear', 'svc quick']);
    expect(cleared.stdout).toBe(`Rotation settings of ${uids['svc quick']} removed.\n`);
    await expect(sdk.getRotation(uids['svc quick']!)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('gateway list shows which gateway is online; gateway info asks the gateway itself', async () => {
    const [list, info, infoJson, infoDown] = await Promise.all([
      admin.ok(['gateway', 'list']),
      admin.ok(['gateway', 'info', gwAUid]),
      admin.ok(['--json', 'gateway', 'info', gwAUid]),
      admin.run(['--json', 'gateway', 'info', 'gw-a-2']),
    ]);
    expect(list.stdout).toMatch(/^NAME\s+GATEWAY UID\s+STATUS\s+VERSION\s+ADDRESS\s+CONNECTED SINCE\s+WORKER$/m);
    expect(list.stdout).toMatch(
      new RegExp(
        `^gw-a-1\\s+${gwAUid}\\s+online\\s+sim-1\\.2\\.3\\s+127\\.0\\.0\\.1\\s+(just now|\\d+ \\w+ ago) \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\s+\\S+$`,
        'm',
      ),
    );
    expect(list.stdout).toMatch(/^gw-a-2\s+[\w-]{22}\s+offline$/m);
    expect(info.stdout).toMatch(new RegExp(`Gateway\\s+gw-a-1 \\(${gwAUid}\\)\\n`));
    expect(info.stdout).toMatch(/Connected\s+.* from 127\.0\.0\.1\n/);
    expect(info.stdout).toMatch(/version\s+sim-1\.2\.3\n/);
    expect(info.stdout).toMatch(/tasks\.running\s+1\n/);
    expect(info.stdout).toMatch(/features\s+rotation, info\n/);
    expect(infoJson.json()).toEqual({
      gatewayUid: gwAUid,
      name: 'gw-a-1',
      data: { version: 'sim-1.2.3', hostname: 'sim-host', tasks: { running: 1, finished: 4 }, features: ['rotation', 'info'] },
    });
    expect(infoDown.code).toBe(1);
    expect(infoDown.error()).toMatchObject({ code: 'controller_down', message: expect.stringMatching(/^Gateway gw-a-2 did not answer/) });
  });
});
