/**
 * Post-rotation scripts with real child processes: only a script whose approval the Router's
 * signing key made for exactly this file, record and content runs; and, on a root gateway, it
 * runs in the sandbox (separate account, scrubbed environment, fds 0–2, killed whole at the
 * time limit). The end-to-end attack through the CLI is in test/rotation/scripts-approval.test.ts.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deriveRouterSubkeys, generateP256KeyPair, randomBytes } from '../../core/crypto/index.ts';
import { newUid } from '../../core/ids.ts';
import type { JobUpdate } from '../../core/protocol/gateway-wire.ts';
import { fileContentDigest, signScriptApproval, type ScriptApproval } from '../../core/protocol/script-approval.ts';
import { SecretScrubber } from '../logging/scrubber.ts';
import { JobTracker } from '../jobs.ts';
import { checkConfigHidden, resolveScriptUser } from './script-user.ts';
import { postRotationScripts, SCRIPT_ENV_NAMES, type ScriptDeps, type ScriptFile } from './scripts.ts';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const router = deriveRouterSubkeys(randomBytes(32)).signing;
const admin = newUid();

// Scripts report through files here; the sandbox account must be able to write it.
const shared = mkdtempSync(join(tmpdir(), 'postern-scripts-test-'));
chmodSync(shared, 0o1777);
afterAll(() => rmSync(shared, { recursive: true, force: true }));

/** One script as the Router stores it: its ciphertext digest, and an approval for it when asked. */
async function stored(body: string, options: { approve?: boolean } = {}) {
  const file: ScriptFile = { uid: newUid(), name: 'push.sh', recordUid: newUid() };
  const contentDigest = fileContentDigest({ fileKey: randomBytes(8).join(','), metadata: 'm', content: randomBytes(8).join(',') });
  const approval = options.approve
    ? await signScriptApproval(
        router.privateKey,
        { fileUid: file.uid, recordUid: file.recordUid, contentDigest },
        { approvedBy: admin, approvedAt: Date.now() },
      )
    : null;
  return { file, contentDigest, approval, bytes: new TextEncoder().encode(body) };
}

function harness(
  script: Awaited<ReturnType<typeof stored>>,
  overrides: { approval?: ScriptApproval | null; contentDigest?: string; deps?: Partial<ScriptDeps> } = {},
) {
  const updates: JobUpdate[] = [];
  const logged: string[] = [];
  const scrubber = new SecretScrubber();
  const log = (obj: Record<string, unknown>, msg?: string) => logged.push(scrubber.scrub(JSON.stringify({ ...obj, msg })));
  const logger = { info: log, warn: log, debug: log, error: log };
  const tasks = new JobTracker({ sink: { sendJob: (u) => (updates.push(u), true) }, scrubber, logger });
  const task = tasks.start(newUid(), 'rotate', newUid());
  const scripts = postRotationScripts({
    download: async () => ({
      name: script.file.name,
      bytes: script.bytes,
      contentDigest: overrides.contentDigest ?? script.contentDigest,
      approval: 'approval' in overrides ? overrides.approval! : script.approval,
    }),
    routerSigningKey: async () => router.publicKey,
    scrubber,
    logger,
    ...overrides.deps,
  });
  const run = () =>
    scripts.run(task, {
      configurationUid: newUid(),
      resourceUid: null,
      userUid: newUid(),
      username: 'app',
      secretKind: 'password',
      oldSecret: 'Old-Script-Canary-1!',
      newSecret: 'New-Script-Canary-2!',
      files: [script.file],
    });
  const jobLog = async () => {
    await tasks.settled(); // updates are sealed and reported asynchronously
    return updates.flatMap((u) => u.log ?? []);
  };
  return { run, jobLog, logged, tasks, task };
}

function markerScript(): { marker: string; body: string } {
  const marker = join(shared, `ran-${newUid()}`);
  return { marker, body: `#!/bin/sh\ntouch '${marker}'\n` };
}

describe('post-rotation script approval', () => {
  // threat model (docs/threat-model.md): editor
  it('does not run a script nobody approved, and says who can approve it and how', async () => {
    const { marker, body } = markerScript();
    const script = await stored(body);
    const outcome = await harness(script).run();
    expect(existsSync(marker)).toBe(false);
    expect(outcome.failures).toBe(1);
    expect(outcome.summary).toContain(`"push.sh" was not run: it is not approved by an administrator`);
    expect(outcome.summary).toContain(`\`postern record approve-script ${script.file.uid}\``);
    expect(outcome.summary).toContain('(the rotation itself is complete)');
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('does not run an approved script whose content was swapped afterwards', async () => {
    const { marker, body } = markerScript();
    const script = await stored(body, { approve: true });
    const outcome = await harness(script, { contentDigest: fileContentDigest({ fileKey: 'k', metadata: 'm', content: 'other' }) }).run();
    expect(existsSync(marker)).toBe(false);
    expect(outcome.summary).toContain('was not run: its approval does not match it');
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('does not run a script carrying the approval of another file', async () => {
    const { marker, body } = markerScript();
    const script = await stored(body);
    const other = await stored('#!/bin/sh\necho approved\n', { approve: true });
    const outcome = await harness(script, { approval: other.approval }).run();
    expect(existsSync(marker)).toBe(false);
    expect(outcome.summary).toContain('was not run: its approval does not match it');
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('does not run a script whose approval another key signed', async () => {
    const { marker, body } = markerScript();
    const script = await stored(body);
    const forged = await signScriptApproval(
      generateP256KeyPair().privateKey,
      { fileUid: script.file.uid, recordUid: script.file.recordUid, contentDigest: script.contentDigest },
      { approvedBy: admin, approvedAt: Date.now() },
    );
    const outcome = await harness(script, { approval: forged }).run();
    expect(existsSync(marker)).toBe(false);
    expect(outcome.summary).toContain('was not run: its approval does not match it');
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('does not run anything while the Router signing key is unknown', async () => {
    const { marker, body } = markerScript();
    const outcome = await harness(await stored(body, { approve: true }), {
      deps: { routerSigningKey: () => Promise.reject(new Error('Cannot reach the Postern server')) },
    }).run();
    expect(existsSync(marker)).toBe(false);
    expect(outcome.summary).toContain('was not run: its approval could not be checked (Cannot reach the Postern server)');
  });

  it('runs an approved script', async () => {
    const { marker, body } = markerScript();
    const outcome = await harness(await stored(body, { approve: true })).run();
    expect(outcome).toEqual({ summary: 'Post-rotation scripts: 1 of 1 succeeded.', failures: 0 });
    expect(existsSync(marker)).toBe(true);
  });

  it('keeps 200 lines in the job log and stops reading past the output cap', async () => {
    const s = harness(
      await stored('#!/bin/sh\ni=0\nwhile [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done\nhead -c 300000 /dev/zero | tr "\\0" x\n', { approve: true }),
      {
        deps: { maxOutputBytes: 64 * 1024 },
      },
    );
    expect((await s.run()).failures).toBe(0);
    const lines = (await s.jobLog()).filter((l) => l.startsWith('[push.sh]'));
    expect(lines).toHaveLength(201);
    expect(lines.at(-1)).toBe('[push.sh] … further output only in the gateway log');
    expect(s.logged.join('\n')).toContain('output beyond 64 KiB discarded');
    expect(s.logged.join('\n').length).toBeLessThan(200 * 1024);
  });
});

describe.runIf(IS_ROOT)('post-rotation script sandbox (gateway as root)', () => {
  // A gateway configuration as `init` writes it: 0600 in a 0700 directory, owned by the gateway's user.
  const configDir = mkdtempSync(join(tmpdir(), 'postern-gw-conf-'));
  const configPath = join(configDir, 'gateway-config.json');
  writeFileSync(configPath, '{"privateKey":"Config-Canary-Key"}\n', { mode: 0o600 });
  afterAll(() => rmSync(configDir, { recursive: true, force: true }));
  const user = resolveScriptUser();

  // threat model (docs/threat-model.md): administrator
  it('runs as a separate account without groups, cannot read the configuration, gets only the allow-listed environment and fds 0–2', async () => {
    expect(user).toMatchObject({ separate: true });
    expect(checkConfigHidden(user, configPath)).toBeNull();
    const out = join(shared, `sandbox-${newUid()}`);
    const body = [
      '#!/bin/sh',
      `exec > '${out}' 2>&1`,
      `if cat '${configPath}' >/dev/null 2>&1; then echo config=readable; else echo config=refused; fi`,
      `if ls '${configDir}' >/dev/null 2>&1; then echo configdir=listable; else echo configdir=refused; fi`,
      'echo uid=$(id -u)',
      "echo groups=$(grep '^Groups:' /proc/$$/status | cut -f2)",
      // The script shell's environment as it was given (not what the shell adds itself).
      "echo env=$(tr '\\0' '\\n' < /proc/$$/environ | cut -d= -f1 | sort | tr '\\n' ' ')",
      // A fresh shell, so the descriptor dash keeps on this script file is not counted.
      "echo fds=$(sh -c 'ls /proc/$$/fd; :' | tr '\\n' ' ')",
      'echo home=$HOME',
    ].join('\n');
    process.env['GATEWAY_CONFIG'] = 'Env-Canary-Config';
    process.env['POSTERN_CANARY'] = 'Env-Canary-Postern';
    try {
      const outcome = await harness(await stored(body, { approve: true }), { deps: { runAs: user } }).run();
      expect(outcome.failures).toBe(0);
    } finally {
      delete process.env['GATEWAY_CONFIG'];
      delete process.env['POSTERN_CANARY'];
    }
    const report = Object.fromEntries(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
    );
    expect(report).toMatchObject({ config: 'refused', configdir: 'refused', uid: String(user.uid), groups: '', fds: '0 1 2' });
    expect(report['env']!.split(' ').sort()).toEqual([...SCRIPT_ENV_NAMES].sort());
    expect(report['home']).toMatch(/postern-script-/);
    expect(readFileSync(out, 'utf8')).not.toContain('Canary');
  });

  it('kills the script and what it started at the time limit', async () => {
    const pids = join(shared, `pids-${newUid()}`);
    const late = join(shared, `late-${newUid()}`);
    // A child and a grandchild that would outlive the script's shell if only it were killed.
    const body = `#!/bin/sh\nsh -c 'sleep 300 & echo $! >> ${pids}; sleep 300; touch ${late}' &\necho $! >> ${pids}\nsleep 300\n`;
    const outcome = await harness(await stored(body, { approve: true }), { deps: { runAs: user, timeoutMs: 1000 } }).run();
    expect(outcome.summary).toContain('"push.sh" timed out after 1 s and was stopped');
    const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (const pid of started) expect(alive(pid)).toBe(false);
    expect(existsSync(late)).toBe(false);
  });

  it('kills the script when the job is cancelled', async () => {
    const started = join(shared, `started-${newUid()}`);
    const h = harness(await stored(`#!/bin/sh\ntouch '${started}'\nsleep 300\n`, { approve: true }), { deps: { runAs: user } });
    const running = h.run();
    await waitFor(() => existsSync(started));
    h.tasks.cancel(h.task.jobUid);
    expect((await running).summary).toContain('"push.sh" was stopped: the job was cancelled');
  });

  // threat model (docs/threat-model.md): administrator
  it('refuses a script account that could read the configuration, or root', () => {
    expect(() => resolveScriptUser('root')).toThrow(/must not run as root/);
    expect(() => resolveScriptUser('no-such-postern-user')).toThrow(/no such user/);
    const open = mkdtempSync(join(tmpdir(), 'postern-gw-conf-'));
    try {
      chmodSync(open, 0o755);
      const readable = join(open, 'readable.json');
      writeFileSync(readable, '{}', { mode: 0o644 });
      chmodSync(readable, 0o644);
      expect(() => checkConfigHidden(user, readable)).toThrow(/who can read .*readable\.json/);
      const listable = join(open, 'gateway-config.json');
      writeFileSync(listable, '{}', { mode: 0o600 });
      expect(checkConfigHidden(user, listable)).toMatch(/can list/);
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
});

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}
