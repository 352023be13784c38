/**
 * Rollback detection: the newest revision of each record this client has seen, and a digest of
 * the ciphertext it saw at that revision. A Router (or whoever writes its database) that serves
 * an older revision, or other content under a revision already seen, is refused: that is how an
 * old password would come back after a rotation.
 *
 * What it cannot see: a record this client never read, or old content served under a higher
 * revision number than any seen (the revision is not yet bound into the record's ciphertext).
 * docs/decisions/0004-accounts-and-client-trust.md says more.
 */
import { sha256, toBase64Url, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

/** [recordUid, revision, digest of the ciphertext at that revision], least recently seen first. */
export type SeenRevisionEntry = [recordUid: string, revision: number, digest: string];

/** Where an application keeps the memory between runs (the CLI: a 0600 file per server and user). */
export interface SeenRevisionsStore {
  load(): SeenRevisionEntry[] | Promise<SeenRevisionEntry[]>;
  save(entries: SeenRevisionEntry[]): void | Promise<void>;
}

/** Records remembered per account; the least recently seen are forgotten first. */
export const MAX_SEEN_RECORDS = 10_000;

export function ciphertextDigest(data: string): string {
  return toBase64Url(sha256(utf8(data)).slice(0, 16));
}

export class SeenRevisions {
  private readonly seen = new Map<string, { revision: number; digest: string }>();
  private dirty = false;

  constructor(entries: SeenRevisionEntry[] = []) {
    for (const [uid, revision, digest] of entries) this.remember(uid, revision, digest);
    this.dirty = false;
  }

  /** Throws `rollback_detected` when this revision and ciphertext cannot follow what was seen; otherwise remembers them. */
  observe(recordUid: string, revision: number, data: string): void {
    const digest = ciphertextDigest(data);
    const before = this.seen.get(recordUid);
    if (before && revision < before.revision) {
      throw new PosternError(
        'rollback_detected',
        `The server sent record ${recordUid} at revision ${revision}, but this client has already seen revision ${before.revision}: ` +
          'it is serving an older copy (a rolled-back or tampered database, or a restore from backup). The record was not used. ' +
          'Tell the administrator of this Postern server; do not trust or re-save what it now shows for this record.',
        { recordUid, revision, seenRevision: before.revision },
      );
    }
    if (before && revision === before.revision && digest !== before.digest) {
      throw new PosternError(
        'rollback_detected',
        `The server sent record ${recordUid} at revision ${revision} with different content than this client saw at that revision: ` +
          'its database was changed behind Postern (for example an old copy put back). The record was not used. Tell the administrator of this Postern server.',
        { recordUid, revision, seenRevision: before.revision },
      );
    }
    if (!before || revision > before.revision) this.remember(recordUid, revision, digest);
  }

  /** The revision last seen for a record, if any. */
  revisionOf(recordUid: string): number | undefined {
    return this.seen.get(recordUid)?.revision;
  }

  get changed(): boolean {
    return this.dirty;
  }

  entries(): SeenRevisionEntry[] {
    return [...this.seen].map(([uid, v]) => [uid, v.revision, v.digest]);
  }

  markSaved(): void {
    this.dirty = false;
  }

  private remember(recordUid: string, revision: number, digest: string): void {
    // Re-inserting moves the record to the most recently seen end.
    this.seen.delete(recordUid);
    this.seen.set(recordUid, { revision, digest });
    while (this.seen.size > MAX_SEEN_RECORDS) this.seen.delete(this.seen.keys().next().value!);
    this.dirty = true;
  }
}

/** Merges two memories (e.g. two CLI processes saving at once): the higher revision of each record wins. */
export function mergeSeenRevisions(a: SeenRevisionEntry[], b: SeenRevisionEntry[]): SeenRevisionEntry[] {
  const merged = new Map<string, SeenRevisionEntry>();
  for (const entry of [...a, ...b]) {
    const before = merged.get(entry[0]);
    if (!before || entry[1] >= before[1]) {
      merged.delete(entry[0]);
      merged.set(entry[0], entry);
    }
  }
  return [...merged.values()].slice(-MAX_SEEN_RECORDS);
}
