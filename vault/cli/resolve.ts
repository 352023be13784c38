/**
 * Turning what an administrator types (a folder name, a record title, a gateway name, or a
 * UID) into a UID.
 */
import { PosternError } from '../../core/errors.ts';
import { UID_PATTERN } from '../../core/ids.ts';
import type { GatewayEntry } from '../../core/protocol/vault-api.ts';
import type { VaultClient, VaultFolder } from '../../core/vault-client/index.ts';

/**
 * A folder by name or UID. A well-formed UID that is not in this vault is passed through, so
 * the operation itself answers (`not_allowed`) rather than revealing whether the folder exists.
 */
export async function resolveFolderUid(vault: VaultClient, nameOrUid: string): Promise<string> {
  try {
    return (await vault.findFolder(nameOrUid)).uid;
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_found' && UID_PATTERN.test(nameOrUid)) return nameOrUid;
    throw err;
  }
}

export function folderLabel(folders: VaultFolder[], uid: string | null): string {
  if (uid === null) return '';
  return folders.find((f) => f.uid === uid)?.name ?? uid;
}

/** A member's permissions in a word or two, for tables. */
export function permissionText(p: { isOwner: boolean; canEdit: boolean; canShare: boolean }): string {
  if (p.isOwner) return 'owner';
  const parts = [p.canEdit ? 'edit' : null, p.canShare ? 'share' : null].filter(Boolean);
  return parts.length === 0 ? 'read-only' : parts.join('+');
}

/**
 * A record by UID or by exact title. A UID is passed through untouched (the Router answers for
 * it); a title must name exactly one record you can see, optionally of one of `types`.
 */
export async function resolveRecordUid(vault: VaultClient, uidOrTitle: string, what: { flag: string; types?: string[] }): Promise<string> {
  const value = uidOrTitle.trim();
  if (UID_PATTERN.test(value)) return value;
  if (value === '') throw new PosternError('bad_request', `${what.flag}: give a record UID or title.`);
  const view = await vault.sync();
  let matches = view.records.filter((r) => r.data.title === value);
  if (matches.length > 1 && what.types) {
    const typed = matches.filter((r) => what.types!.includes(r.type));
    if (typed.length > 0) matches = typed;
  }
  if (matches.length === 1) return matches[0]!.uid;
  if (matches.length > 1) {
    throw new PosternError(
      'bad_request',
      `${what.flag}: several records are titled "${value}"; use a UID (${matches.map((r) => `${r.uid} ${r.type}`).join(', ')}).`,
    );
  }
  throw new PosternError('not_found', `${what.flag}: no record titled "${value}" in your vault; see \`postern ls\`.`);
}

/**
 * A gateway by name or UID, from `postern gateway list`. Names may repeat once a gateway is
 * removed; a live gateway wins over removed ones. A well-formed UID that is not listed is
 * passed through so the Router answers for it.
 */
export async function resolveGateway(vault: VaultClient, nameOrUid: string): Promise<{ gatewayUid: string; name: string | null; entry: GatewayEntry | null }> {
  const value = nameOrUid.trim();
  const gateways = await vault.listGateways();
  const byUid = gateways.find((g) => g.gatewayUid === value);
  if (byUid) return { gatewayUid: byUid.gatewayUid, name: byUid.name, entry: byUid };
  let named = gateways.filter((g) => g.name === value);
  if (named.length > 1) {
    const live = named.filter((g) => g.revokedAt === null);
    if (live.length > 0) named = live;
  }
  if (named.length === 1) return { gatewayUid: named[0]!.gatewayUid, name: named[0]!.name, entry: named[0]! };
  if (named.length > 1)
    throw new PosternError('bad_request', `Several gateways are named "${value}"; use the UID (${named.map((g) => g.gatewayUid).join(', ')}).`);
  if (UID_PATTERN.test(value)) return { gatewayUid: value, name: null, entry: null };
  throw new PosternError('not_found', `No gateway named or with UID "${value}". See \`postern gateway list\`.`);
}
