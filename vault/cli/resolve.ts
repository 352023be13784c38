/**
 * Turning what an administrator types (a folder name or UID) into a UID.
 */
import { PosternError } from '../../core/errors.ts';
import { UID_PATTERN } from '../../core/ids.ts';
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
