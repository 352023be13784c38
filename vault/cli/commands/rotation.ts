/**
 * `postern rotation set | show | clear` (when and how a pamUser's password is rotated) and
 * `postern rotate` (rotate it now, following the gateway's job until it ends).
 */
import type { Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import { ROTATION_RESOURCE_TYPES } from '../../../core/protocol/actions.ts';
import type { RotationEntry } from '../../../core/protocol/vault-api.ts';
import { applyFieldAssignments, type RecordData } from '../../../core/records/index.ts';
import type { RotationSchedule } from '../../../core/schedule/rotation-schedule.ts';
import { describeSchedule, formatScheduleSpec, parseScheduleSpec, SCHEDULE_HELP } from '../../../core/schedule/schedule-syntax.ts';
import type { VaultClient } from '../../../core/vault-client/index.ts';
import { contextOf, type CliContext } from '../context.ts';
import { isoTime, whenText, type CliIo } from '../output.ts';
import { resolveRecordUid } from '../resolve.ts';
import { withVault } from '../session.ts';
import { actionFailure, finishJob, followJob, followTimeoutOption } from './job.ts';

const COMPLEXITY_KEYS = ['length', 'upper', 'lower', 'digits', 'special', 'specialChars'] as const;

export const COMPLEXITY_HELP = `--complexity SPEC (the rules the gateway follows when it makes the new password):
  length=32,upper=2,lower=2,digits=2,special=2,specialChars=!@#$
  length 8 to 128 (default 32); upper/lower/digits/special are minimum counts; specialChars is
  the set of punctuation to use (put it last: it may contain commas). Replaces the record's
  previous rules; stored encrypted in the pamUser record, never seen by the server.`;

/** `length=32,upper=2,…` → field assignments on the pamUser record (the old rules are replaced). */
export function complexityAssignments(spec: string): string[] {
  const text = spec.trim();
  if (text === '') throw new UsageError(`--complexity is empty. Example: length=32,upper=2,lower=2,digits=2,special=2,specialChars=!@#$`);
  // Split at commas that start a `name=`, so that specialChars (punctuation only) may contain commas.
  const parts = text.split(/,(?=\s*[A-Za-z]+\s*=)/);
  const seen = new Set<string>();
  const assignments = ['passwordComplexity='];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = COMPLEXITY_KEYS.find((k) => k.toLowerCase() === (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase());
    if (eq < 0 || !key) {
      throw new UsageError(
        `--complexity: "${part.trim()}" is not one of ${COMPLEXITY_KEYS.map((k) => `${k}=…`).join(', ')}. Example: length=32,upper=2,digits=2,specialChars=!@#$`,
      );
    }
    if (seen.has(key)) throw new UsageError(`--complexity: ${key} is given twice.`);
    seen.add(key);
    const value = part.slice(eq + 1);
    if (key !== 'specialChars' && !/^\s*\d{1,3}\s*$/.test(value)) throw new UsageError(`--complexity: ${key} must be a whole number, not "${value}".`);
    assignments.push(`passwordComplexity.${key}=${key === 'specialChars' ? value : value.trim()}`);
  }
  return assignments;
}

export function complexityText(data: RecordData): string {
  const pc = (data.fields as { passwordComplexity?: Record<string, unknown> }).passwordComplexity;
  if (!pc) return '';
  return COMPLEXITY_KEYS.filter((k) => pc[k] !== undefined)
    .map((k) => `${k}=${String(pc[k])}`)
    .join(',');
}

function applyComplexity(data: RecordData, assignments: string[]): RecordData {
  try {
    return applyFieldAssignments(data, assignments);
  } catch (err) {
    if (err instanceof PosternError)
      throw new PosternError(err.code, `--complexity: ${err.message.replace(/pamUser\.passwordComplexity\.?/g, '')}`, err.details);
    throw err;
  }
}

function scheduleJson(entry: RotationEntry) {
  const formatted = formatScheduleSpec(entry.schedule);
  return {
    recordUid: entry.recordUid,
    configurationUid: entry.configurationUid,
    resourceUid: entry.resourceUid,
    schedule: entry.schedule,
    scheduleText: describeSchedule(entry.schedule),
    spec: formatted.spec,
    timeZone: formatted.timeZone,
    nextRunAt: entry.nextRunAt === null ? null : isoTime(entry.nextRunAt),
    updatedAt: isoTime(entry.updatedAt),
  };
}

async function currentRotation(vault: VaultClient, recordUid: string): Promise<RotationEntry | null> {
  try {
    return await vault.getRotation(recordUid);
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_found') return null;
    throw err;
  }
}

interface SetOptions {
  config?: string;
  resource?: string;
  schedule?: string;
  tz?: string;
  complexity?: string;
}

export function registerRotationCommands(program: Command, io: CliIo): void {
  const rotation = program
    .command('rotation')
    .description(
      'Rotation settings of pamUser records: which PAM configuration (and so which gateway) rotates them, on what schedule, with what password rules.',
    );

  rotation
    .command('set')
    .description(
      'Set how a pamUser record is rotated: the PAM configuration whose gateway does it, optionally the resource it belongs to, ' +
        'a schedule and the password complexity. Options left out keep their current value (a new setting starts on demand). ' +
        'Needs the "configure_rotation" policy and edit rights on the record.',
    )
    .argument('<record>', 'pamUser record UID or title')
    .option('--config <config>', 'pamConfiguration record UID or title (required the first time)')
    .option('--resource <resource>', 'the machine, database or directory record the account lives on (UID or title)')
    .option('--schedule <spec>', 'when to rotate, e.g. daily@03:00 or weekly:mon,thu@04:30 (see below)')
    .option('--tz <zone>', 'IANA time zone of the schedule (default UTC), e.g. Europe/London')
    .option('--complexity <spec>', 'password rules, e.g. length=32,upper=2,digits=2,special=2,specialChars=!@#$ (see below)')
    .addHelpText(
      'after',
      `
${SCHEDULE_HELP}

${COMPLEXITY_HELP}

Examples:
  $ postern rotation set "db root" --config "London PAM" --resource "orders db" --schedule daily@03:00 --tz Europe/London
  $ postern rotation set 3Rt0dV1Jm2Kq8m0dYc1xWg --config 7hG2mN0qPq4Lr1sT8uV3wA --schedule weekly:fri@22:00/2
  $ postern rotation set "db root" --complexity length=40,special=4,specialChars=!#%+
  $ postern rotation set "db root" --schedule once:+10m`,
    )
    .action(async (record: string, options: SetOptions, command: Command) => {
      const ctx = contextOf(command, io);
      if (options.tz !== undefined && options.schedule === undefined) throw new UsageError('--tz applies to --schedule; give the schedule again with it.');
      let schedule: RotationSchedule | undefined;
      if (options.schedule !== undefined) {
        try {
          schedule = parseScheduleSpec(options.schedule, options.tz ?? 'UTC');
        } catch (err) {
          throw new UsageError(`--schedule${options.tz !== undefined ? '/--tz' : ''}: ${(err as Error).message}`);
        }
      }
      const complexity = options.complexity !== undefined ? complexityAssignments(options.complexity) : undefined;
      await withVault(ctx, async (vault) => {
        const recordUid = await resolveRecordUid(vault, record, { flag: 'RECORD', types: ['pamUser'] });
        const [configurationUid, resourceUid, existing] = await Promise.all([
          options.config ? resolveRecordUid(vault, options.config, { flag: '--config', types: ['pamConfiguration'] }) : undefined,
          options.resource ? resolveRecordUid(vault, options.resource, { flag: '--resource', types: [...ROTATION_RESOURCE_TYPES] }) : undefined,
          currentRotation(vault, recordUid),
        ]);
        const config = configurationUid ?? existing?.configurationUid;
        if (!config) throw new UsageError(`Record ${recordUid} has no rotation settings yet: give --config (the pamConfiguration whose gateway rotates it).`);
        if (complexity) {
          // Checked before anything is saved, so a typo changes nothing.
          const current = await vault.getRecord(recordUid);
          if (current.type !== 'pamUser') throw new PosternError('bad_request', `--complexity applies to pamUser records; ${recordUid} is a ${current.type}.`);
          applyComplexity(current.data, complexity);
        }
        const resource = resourceUid ?? existing?.resourceUid ?? undefined;
        const entry = await vault.setRotation(recordUid, {
          configurationUid: config,
          ...(resource ? { resourceUid: resource } : {}),
          schedule: schedule ?? existing?.schedule ?? { kind: 'on-demand' },
        });
        let complexitySet: string | null = null;
        if (complexity) {
          const { data } = await vault.updateRecord(recordUid, (current) => applyComplexity(current, complexity));
          complexitySet = complexityText(data);
        }
        const value = { ...scheduleJson(entry), ...(complexitySet !== null ? { passwordComplexity: complexitySet } : {}) };
        ctx.out.result(value, () => {
          ctx.out.line(`Rotation of ${recordUid}: ${value.scheduleText}.`);
          ctx.out.pairs([
            ['Configuration', entry.configurationUid],
            ['Resource', entry.resourceUid ?? ''],
            [
              'Next run',
              entry.nextRunAt === null ? (entry.schedule.kind === 'on-demand' ? 'when you run `postern rotate`' : 'never') : whenText(entry.nextRunAt),
            ],
            ...(complexitySet !== null ? ([['Password rules', complexitySet]] as [string, string][]) : []),
          ]);
        });
      });
    });

  rotation
    .command('show')
    .description("Show a pamUser record's rotation settings: configuration, resource, schedule in words, next run and password rules.")
    .argument('<record>', 'pamUser record UID or title')
    .addHelpText('after', '\nExample:\n  $ postern rotation show "db root"')
    .action(async (record: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const recordUid = await resolveRecordUid(vault, record, { flag: 'RECORD', types: ['pamUser'] });
        const [entry, user] = await Promise.all([vault.getRotation(recordUid), vault.getRecord(recordUid)]);
        const value = { ...scheduleJson(entry), passwordComplexity: complexityText(user.data) || null };
        ctx.out.result(value, () =>
          ctx.out.pairs([
            ['Record', `${entry.recordUid} (${user.data.title})`],
            ['Configuration', entry.configurationUid],
            ['Resource', entry.resourceUid ?? ''],
            ['Schedule', value.scheduleText],
            ['As --schedule', `${value.spec}${value.timeZone && value.timeZone !== 'UTC' ? ` --tz ${value.timeZone}` : ''}`],
            [
              'Next run',
              entry.nextRunAt === null ? (entry.schedule.kind === 'on-demand' ? 'only on demand' : 'none (already ran)') : whenText(entry.nextRunAt),
            ],
            ['Password rules', value.passwordComplexity ?? 'default (length=32)'],
            ['Updated', whenText(entry.updatedAt)],
          ]),
        );
      });
    });

  rotation
    .command('clear')
    .description('Remove the rotation settings of a pamUser record: no more scheduled rotations. The password rules stay in the record.')
    .argument('<record>', 'pamUser record UID or title')
    .addHelpText('after', '\nExample:\n  $ postern rotation clear "db root"')
    .action(async (record: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const recordUid = await resolveRecordUid(vault, record, { flag: 'RECORD', types: ['pamUser'] });
        await vault.clearRotation(recordUid);
        ctx.out.result({ recordUid, cleared: true }, () => ctx.out.line(`Rotation settings of ${recordUid} removed.`));
      });
    });

  program
    .command('rotate')
    .description(
      "Rotate a pamUser record's password now. The gateway of the PAM configuration (--config, or the one from " +
        '`postern rotation set`) makes a new password, changes it on the target, checks it and stores it in the record. ' +
        'Progress is printed as it happens; exit 0 when the rotation finished, 1 when it failed or could not start. ' +
        'Needs the "rotate" policy.',
    )
    .argument('<record>', 'pamUser record UID or title')
    .option('--config <config>', 'pamConfiguration record UID or title (default: from the rotation settings)')
    .option('--resource <resource>', 'the resource record the account lives on (default: from the rotation settings)')
    .option('--no-wait', 'print the job UID and return at once instead of following the job')
    .addOption(followTimeoutOption())
    .addHelpText(
      'after',
      `
Examples:
  $ postern rotate "db root"
  $ postern rotate 3Rt0dV1Jm2Kq8m0dYc1xWg --config "London PAM" --resource "orders db"
  $ postern rotate "db root" --no-wait          # prints the job UID; then: postern job show JOB --follow
  $ postern rotate "db root" --json             # the final job and its log lines as JSON`,
    )
    .action((record: string, options: RotateOptions, command: Command) => rotateNow(contextOf(command, io), record, options, false));

  rotation
    .command('resume')
    .description(
      'Settle a rotation that did not end (the gateway was stopped or lost the target mid-way): the gateway asks the target which ' +
        'password it accepts, the new one (kept pending in the record) or the old one, and finalizes or rolls back to match. ' +
        'Nothing is rotated afresh. A plain `postern rotate` settles first too, then rotates. Needs the "rotate" policy.',
    )
    .argument('<record>', 'pamUser record UID or title')
    .option('--config <config>', 'pamConfiguration record UID or title (default: from the rotation settings)')
    .option('--resource <resource>', 'the resource record the account lives on (default: from the rotation settings)')
    .option('--no-wait', 'print the job UID and return at once instead of following the job')
    .addOption(followTimeoutOption())
    .addHelpText('after', '\nExample:\n  $ postern rotation resume "db root"')
    .action((record: string, options: RotateOptions, command: Command) => rotateNow(contextOf(command, io), record, options, true));
}

interface RotateOptions {
  config?: string;
  resource?: string;
  wait: boolean;
  timeout: number;
}

/** `postern rotate` and `postern rotation resume`: start the job on the gateway, then follow it. */
async function rotateNow(ctx: CliContext, record: string, options: RotateOptions, resume: boolean): Promise<void> {
  const label = resume ? 'Resuming the rotation of' : 'Rotating';
  await withVault(ctx, async (vault) => {
    const recordUid = await resolveRecordUid(vault, record, { flag: 'RECORD', types: ['pamUser'] });
    const [configurationUid, resourceUid] = await Promise.all([
      options.config ? resolveRecordUid(vault, options.config, { flag: '--config', types: ['pamConfiguration'] }) : undefined,
      options.resource ? resolveRecordUid(vault, options.resource, { flag: '--resource', types: [...ROTATION_RESOURCE_TYPES] }) : undefined,
    ]);
    const outcome = await vault.action('rotate', {
      recordUid,
      ...(configurationUid ? { configurationUid } : {}),
      ...(resourceUid ? { resourceUid } : {}),
      ...(resume ? { params: { resume: true } } : {}),
    });
    if (outcome.code !== 'ok') throw actionFailure(outcome, `${resume ? 'Resuming the rotation' : 'Rotation'} of ${recordUid} could not start`);
    if (!outcome.jobUid) throw new PosternError('internal', `The Router accepted the rotation of ${recordUid} but opened no job to follow.`);
    const jobUid = outcome.jobUid;
    if (!options.wait) {
      ctx.out.result({ jobUid, gatewayUid: outcome.gatewayUid ?? null, recordUid, status: 'running' }, () => ctx.out.line(jobUid));
      if (!ctx.out.json)
        ctx.out.notice(`${resume ? 'Resuming the rotation' : 'Rotation'} started as job ${jobUid}. Follow it with \`postern job show ${jobUid} --follow\`.`);
      return;
    }
    if (!ctx.out.json)
      ctx.out.notice(`${label} ${recordUid} as job ${jobUid} on gateway ${outcome.gatewayUid ?? '?'}. Ctrl-C stops watching, not the rotation.`);
    const followed = await followJob(ctx, vault, jobUid, { timeoutMs: options.timeout * 1000 });
    finishJob(ctx, followed, 'Rotation');
  });
}
