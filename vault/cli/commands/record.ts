/**
 * Records: `postern record add | edit | attach | approve-script | download | link`, and the two commands used
 * most, `postern ls` and `postern get`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import { MAX_FILE_BYTES } from '../../../core/protocol/vault-api.ts';
import { applyFieldAssignments, RECORD_TYPES, RESOURCE_RECORD_TYPES, recordFieldsForDisplay, type RecordData } from '../../../core/records/index.ts';
import type { VaultClient, VaultRecord } from '../../../core/vault-client/index.ts';
import { writePrivateFile } from '../../../node/private-file.ts';
import { contextOf, type CliContext } from '../context.ts';
import { printRecordField } from '../record-field.ts';
import { collect, fileUid as fileUidArg, recordUid } from '../flags.ts';
import { isoTime, type CliIo } from '../output.ts';
import { readSecretLine } from '../password.ts';
import { folderLabel, permissionText, resolveFolderUid, resolveRecordUid } from '../resolve.ts';
import { withVault } from '../session.ts';

/** Resource types that take a linked pamUser as their administrative credential. */
const RESOURCE_TYPES = ['pamMachine', 'pamDatabase', 'pamDirectory', 'pamRemoteBrowser'];

export const FIELD_HELP = `--field syntax (repeatable; the name ends at the first '='):
  hostname=db1.example.com           a field of the record type (case-insensitive)
  pamSettings.connection.port=2222   a dotted path into a group
  title=...  notes=...               the title and notes
  NOOP=true  "Private Key Type=ssh-ed25519"
                                     a gateway custom field (PAM types)
  custom.Any Label=value             any custom field
  name=                              removes the field
An unknown name is an error listing the valid fields for the type. Values given on the command
line are visible to other local users (ps) and in shell history: pass secrets with
--field-stdin NAME, which reads the value from the first line of stdin.`;

interface FieldOptions {
  field?: string[];
  fieldStdin?: string;
}

/** The `--field` assignments, plus `--field-stdin NAME` read now. */
export async function fieldAssignments(io: CliIo, options: FieldOptions): Promise<string[]> {
  const assignments = [...(options.field ?? [])];
  if (options.fieldStdin !== undefined) {
    const name = options.fieldStdin.trim();
    if (name === '' || name.includes('=')) throw new UsageError('--field-stdin takes a field name (e.g. --field-stdin password), not name=value.');
    const value = await readSecretLine(io, `Value for ${name}: `, `the value of ${name}`);
    if (value === '') throw new UsageError(`--field-stdin ${name}: the first line of stdin is empty.`);
    assignments.push(`${name}=${value}`);
  }
  return assignments;
}

/** Core validation errors, with the flag they came from named first. */
export function withFlagName(err: unknown): unknown {
  if (!(err instanceof PosternError)) return err;
  if (err.code === 'unknown_record_type') return new PosternError(err.code, `--type: ${err.message}`, err.details);
  if (err.code === 'bad_request' && err.details?.['validFields']) return new PosternError(err.code, `--field: ${err.message}`, err.details);
  return err;
}

function applyChanges(record: RecordData, assignments: string[]): RecordData {
  try {
    return applyFieldAssignments(record, assignments);
  } catch (err) {
    throw withFlagName(err);
  }
}

const MIME_TYPES: Record<string, string> = {
  '.sh': 'text/x-shellscript',
  '.bash': 'text/x-shellscript',
  '.py': 'text/x-python',
  '.ps1': 'text/plain',
  '.bat': 'text/plain',
  '.cmd': 'text/plain',
  '.txt': 'text/plain',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.pem': 'application/x-pem-file',
  '.key': 'application/x-pem-file',
  '.crt': 'application/x-x509-ca-cert',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.zip': 'application/zip',
};

function mimeFor(path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** A stored file name made safe to create in the current directory. */
function safeFileName(name: string, fallback: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = basename(name.replace(/\\/g, '/'))
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? fallback : cleaned;
}

function recordSummary(r: VaultRecord, folders: { uid: string; name: string }[] = []) {
  return {
    uid: r.uid,
    type: r.type,
    title: r.data.title,
    folderUid: r.folderUid,
    folder: r.folderUid ? (folders.find((f) => f.uid === r.folderUid)?.name ?? null) : null,
    revision: r.revision,
    updatedAt: isoTime(r.updatedAt),
    canEdit: r.canEdit,
  };
}

async function showRecord(ctx: CliContext, vault: VaultClient, uid: string, options: { field?: string; unmask?: boolean }): Promise<void> {
  const record = await vault.getRecord(uid);
  if (options.field !== undefined) {
    printRecordField(ctx, uid, record.data, options.field);
    return;
  }
  const fields = recordFieldsForDisplay(record.data, { unmask: options.unmask === true });
  const value = {
    uid: record.uid,
    type: record.type,
    folderUid: record.folderUid,
    revision: record.revision,
    updatedAt: isoTime(record.updatedAt),
    canEdit: record.canEdit,
    fields,
    ...(options.unmask ? { data: record.data } : {}),
    files: record.files,
    links: record.links,
  };
  ctx.out.result(value, () => {
    ctx.out.pairs([
      ['UID', record.uid],
      ['Type', record.type],
      ['Folder', record.folderUid ?? '(none: private to the owner)'],
      ['Revision', record.revision],
      ['Updated', value.updatedAt],
      ['Access', record.canEdit ? 'can edit' : 'read-only'],
    ]);
    ctx.out.line();
    ctx.out.table(
      ['FIELD', 'VALUE'],
      fields.map((f) => [f.name, f.value]),
    );
    if (record.files.length > 0) {
      ctx.out.line();
      ctx.out.line('Files:');
      ctx.out.table(
        ['FILE UID', 'KIND', 'NAME', 'SIZE'],
        record.files.map((f) => [
          f.uid,
          f.kind === 'script'
            ? f.approved
              ? 'post-rotation script (approved)'
              : 'post-rotation script (NOT approved: gateways will not run it)'
            : 'attachment',
          f.name,
          `${f.size} B`,
        ]),
      );
    }
    if (record.links.length > 0) {
      ctx.out.line();
      ctx.out.line('Links:');
      ctx.out.table(
        ['RECORD UID', 'KIND'],
        record.links.map((l) => [l.childUid, l.kind === 'admin_credential' ? 'administrative credential' : l.kind]),
      );
    }
    if (!options.unmask && fields.some((f) => f.value === '********'))
      ctx.out.notice('Secrets are masked; add --unmask to show them, or --field NAME for one raw value.');
  });
}

interface AddOptions extends FieldOptions {
  type: string;
  title: string;
  folder?: string;
  link?: string;
}

interface EditOptions extends FieldOptions {
  title?: string;
}

export function registerRecordCommands(program: Command, io: CliIo): void {
  const record = program.command('record').description('Create and change records, attach files, link credentials.');

  record
    .command('add')
    .description(
      'Create a record and print its UID. The record is encrypted here with its own key before it is sent. ' +
        'Required fields depend on --type (e.g. pamMachine needs hostname and port).',
    )
    .requiredOption('--type <type>', `record type: ${RECORD_TYPES.join(', ')}`)
    .requiredOption('--title <title>', 'record title')
    .option('--folder <folder>', 'folder name or UID (default: private to you)')
    .option('--field <name=value>', 'set a field (repeatable; see below)', collect)
    .option('--field-stdin <name>', 'read the value of field NAME from the first line of stdin (a hidden prompt on a terminal)')
    .option('--link <user-record-uid>', 'link this pamUser record as the administrative credential of the new resource', recordUid)
    .addHelpText(
      'after',
      `
${FIELD_HELP}

Examples:
  $ postern record add --type pamUser --title "db root" --folder Production --field login=root --field-stdin password < pw.txt
  $ postern record add --type pamMachine --title web1 --folder Production \\
      --field hostname=web1.internal --field port=22 --field pamSettings.protocol=ssh --link <pamUser UID>`,
    )
    .action(async (options: AddOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const assignments = await fieldAssignments(io, options);
      const data = applyChanges({ type: options.type, title: options.title, fields: {}, custom: [] } as unknown as RecordData, assignments);
      await withVault(ctx, async (vault) => {
        const folderUid = options.folder ? await resolveFolderUid(vault, options.folder) : undefined;
        if (options.link) {
          if (!RESOURCE_TYPES.includes(data.type)) {
            throw new UsageError(`--link: an administrative credential links to a resource record (${RESOURCE_TYPES.join(', ')}), not to ${data.type}.`);
          }
          const user = await vault.getRecord(options.link);
          if (user.type !== 'pamUser') throw new UsageError(`--link: record ${options.link} is a ${user.type} record; link a pamUser record.`);
        }
        const uid = await vault.addRecord(data, folderUid ? { folderUid } : {});
        if (options.link) {
          try {
            await vault.linkRecords(uid, options.link, 'admin_credential');
          } catch (err) {
            if (err instanceof PosternError) {
              throw new PosternError(
                err.code,
                `Record ${uid} was created, but linking ${options.link} failed: ${err.message} Retry with \`postern record link ${uid} ${options.link}\`.`,
              );
            }
            throw err;
          }
        }
        ctx.out.result({ uid, type: data.type, title: data.title, folderUid: folderUid ?? null, linked: options.link ?? null }, () => ctx.out.line(uid));
      });
    });

  record
    .command('edit')
    .description(
      'Change fields of a record you can edit. The change is made against the latest revision; a concurrent change is refused (conflict), never overwritten.',
    )
    .argument('<record>', 'record UID or title')
    .option('--title <title>', 'new title')
    .option('--field <name=value>', 'set a field (repeatable; `name=` removes it; see below)', collect)
    .option('--field-stdin <name>', 'read the new value of field NAME from the first line of stdin (a hidden prompt on a terminal)')
    .addHelpText(
      'after',
      `
${FIELD_HELP}

Examples:
  $ postern record edit 3Rt0dV1Jm2Kq8m0dYc1xWg --field port=2222 --field pamSettings.protocol=ssh
  $ postern record edit 3Rt0dV1Jm2Kq8m0dYc1xWg --title "db root (prod)" --field notes=`,
    )
    .action(async (record: string, options: EditOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const assignments = await fieldAssignments(io, options);
      if (options.title !== undefined) assignments.push(`title=${options.title}`);
      if (assignments.length === 0) throw new UsageError('Nothing to change: give --field name=value, --field-stdin NAME or --title.');
      await withVault(ctx, async (vault) => {
        const uid = await resolveRecordUid(vault, record, { flag: 'RECORD' });
        const { revision } = await vault.updateRecord(uid, (current) => applyChanges(current, assignments));
        ctx.out.result({ uid, revision }, () => ctx.out.line(`Record ${uid} updated (revision ${revision}).`));
      });
    });

  record
    .command('attach')
    .description(
      'Attach a file to a record (encrypted here with its own key; at most 10 MiB). With --script the file is a post-rotation script, ' +
        'which the gateway runs after rotating the record. Scripts run as code on the gateway, so attaching one needs the ' +
        "manage_rotation_scripts policy (an administrator's); attaching it approves it.",
    )
    .argument('<record>', 'record UID or title')
    .argument('<file>', 'path of the file to attach')
    .option('--script', 'mark the file as a post-rotation script')
    .option('--name <name>', 'name to store (default: the file name)')
    .addHelpText(
      'after',
      `
Examples:
  $ postern record attach 3Rt0dV1Jm2Kq8m0dYc1xWg ./ca.pem
  $ postern record attach 3Rt0dV1Jm2Kq8m0dYc1xWg ./restart-app.sh --script`,
    )
    .action(async (record: string, file: string, options: { script?: boolean; name?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const path = resolve(file);
      const size = statSync(path).size;
      if (size > MAX_FILE_BYTES)
        throw new PosternError('payload_too_large', `${file} is ${size} bytes; files are limited to ${MAX_FILE_BYTES} bytes (10 MiB).`);
      const bytes = new Uint8Array(readFileSync(path));
      const name = options.name ?? basename(path);
      const kind = options.script ? 'script' : 'attachment';
      await withVault(ctx, async (vault) => {
        const uid = await resolveRecordUid(vault, record, { flag: 'RECORD' });
        const fileUid = await vault.uploadFile(uid, { name, mime: mimeFor(path), bytes, kind });
        ctx.out.result({ fileUid, recordUid: uid, name, kind, size: bytes.byteLength }, () => ctx.out.line(fileUid));
      });
    });

  record
    .command('approve-script')
    .description(
      'Approve a post-rotation script attached earlier (before approvals existed, or by someone without the policy). ' +
        'Gateways run only approved scripts; the approval covers exactly the stored file, so a replaced script needs a new one. ' +
        'Needs the manage_rotation_scripts policy. Read the script first: `postern record download FILE_UID --out -`.',
    )
    .argument('<file-uid>', 'file UID of the script (shown by `postern get RECORD_UID`)', fileUidArg)
    .addHelpText('after', '\nExample:\n  $ postern record approve-script Qm9vN0hXc2VjcmV0RmlsZQ')
    .action(async (fileUid: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const approved = await vault.approveScript(fileUid);
        ctx.out.result({ fileUid, approvedBy: approved.by, approvedAt: isoTime(approved.at) }, () =>
          ctx.out.line(`Script ${fileUid} approved; gateways will run it after rotations.`),
        );
      });
    });

  record
    .command('download')
    .description('Download and decrypt a file attached to a record you can read. The file is written with mode 0600.')
    .argument('<file-uid>', 'file UID (shown by `postern get RECORD_UID`)', fileUidArg)
    .option('--out <path>', 'where to write it; "-" writes to stdout (default: the stored name in the current directory)')
    .option('--force', 'replace an existing file')
    .addHelpText(
      'after',
      `
Examples:
  $ postern record download Qm9vN0hXc2VjcmV0RmlsZQ
  $ postern record download Qm9vN0hXc2VjcmV0RmlsZQ --out - | openssl x509 -noout -subject`,
    )
    .action(async (fileUid: string, options: { out?: string; force?: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      const refuseExisting = (path: string) => {
        if (existsSync(path) && !options.force)
          throw new PosternError('conflict', `${path} already exists; pass --force to replace it or --out to choose another path.`);
      };
      if (options.out !== undefined && options.out !== '-') refuseExisting(resolve(options.out));
      await withVault(ctx, async (vault) => {
        const file = await vault.downloadFile(fileUid);
        if (options.out === '-') {
          ctx.out.raw(file.bytes);
          return;
        }
        const path = resolve(options.out ?? safeFileName(file.name, fileUid));
        refuseExisting(path);
        writePrivateFile(path, file.bytes, { overwrite: options.force === true });
        ctx.out.result({ fileUid, name: file.name, kind: file.kind, size: file.bytes.byteLength, path }, () =>
          ctx.out.line(`Wrote ${file.bytes.byteLength} bytes to ${path}.`),
        );
      });
    });

  record
    .command('link')
    .description(
      'Link a pamUser record to a resource (machine, database, directory, remote browser) as its administrative credential. ' +
        'Users who can see the resource can then connect through it without being able to read the credential.',
    )
    .argument('<resource>', 'the resource record (UID or title)')
    .argument('<user>', 'the pamUser record (UID or title)')
    .addOption(new Option('--kind <kind>', 'link kind').choices(['admin_credential', 'credential']).default('admin_credential'))
    .addHelpText(
      'after',
      '\nExamples:\n  $ postern record link "web-1" "web-1 admin"\n  $ postern record link <pamMachine UID> <pamUser UID> --kind credential',
    )
    .action(async (resource: string, user: string, options: { kind: 'admin_credential' | 'credential' }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const resourceUid = await resolveRecordUid(vault, resource, { flag: 'RESOURCE', types: [...RESOURCE_RECORD_TYPES] });
        const userUid = await resolveRecordUid(vault, user, { flag: 'USER', types: ['pamUser'] });
        await vault.linkRecords(resourceUid, userUid, options.kind);
        ctx.out.result({ parentUid: resourceUid, childUid: userUid, kind: options.kind }, () =>
          ctx.out.line(`Linked ${userUid} to ${resourceUid} (${options.kind}).`),
        );
      });
    });

  program
    .command('ls')
    .description('List folders and records you can see (all of them, or those directly inside FOLDER). Titles only; no secrets are shown.')
    .argument('[folder]', 'folder name or UID')
    .addHelpText(
      'after',
      `
Examples:
  $ postern ls
  $ postern ls Production --json`,
    )
    .action(async (folderName: string | undefined, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const view = await vault.sync();
        const within = folderName === undefined ? undefined : (await vault.findFolder(folderName)).uid;
        const folders = view.folders.filter((f) => within === undefined || f.parentUid === within);
        const records = view.records.filter((r) => within === undefined || r.folderUid === within);
        const value = {
          folders: folders.map((f) => ({
            uid: f.uid,
            name: f.name,
            parentUid: f.parentUid,
            shared: f.shared,
            isOwner: f.isOwner,
            canEdit: f.canEdit,
            canShare: f.canShare,
            members: f.members,
          })),
          records: records.map((r) => recordSummary(r, view.folders)),
          unreadable: view.unreadable,
        };
        ctx.out.result(value, () => {
          ctx.out.table(
            ['FOLDER UID', 'NAME', 'SHARED', 'PERMISSIONS', 'MEMBERS', 'PARENT'],
            folders.map((f) => [
              f.uid,
              f.name,
              f.shared ? 'yes' : 'no',
              permissionText(f),
              f.shared ? f.members.length : '',
              folderLabel(view.folders, f.parentUid),
            ]),
            'No folders.',
          );
          ctx.out.line();
          ctx.out.table(
            ['RECORD UID', 'TYPE', 'TITLE', 'FOLDER'],
            records.map((r) => [r.uid, r.type, r.data.title, folderLabel(view.folders, r.folderUid)]),
            'No records.',
          );
        });
        if (view.unreadable.length > 0)
          ctx.out.warn(`${view.unreadable.length} record(s) could not be decrypted with your keys: ${view.unreadable.join(', ')}`);
      });
    });

  program
    .command('get')
    .description(
      'Show one record: its fields (secrets masked unless --unmask), files and links. ' +
        'With --field NAME, print only that raw value (unmasked) and a newline, for scripts.',
    )
    .argument('<record>', 'record UID or title')
    .option('--field <name>', 'print only this field: a field name, dotted path, title, notes, type or custom.<label>')
    .option('--unmask', 'show secret values in the table')
    .addHelpText(
      'after',
      `
Examples:
  $ postern get "db root"
  $ postern get 3Rt0dV1Jm2Kq8m0dYc1xWg
  $ PGPASSWORD="$(postern get 3Rt0dV1Jm2Kq8m0dYc1xWg --field password)" psql -h db1 -U root`,
    )
    .action(async (record: string, options: { field?: string; unmask?: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => showRecord(ctx, vault, await resolveRecordUid(vault, record, { flag: 'RECORD' }), options));
    });
}
