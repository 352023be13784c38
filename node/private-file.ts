/**
 * Files only their owner may read: the CLI's config and exported attachments, the gateway's
 * configuration with its keys. Written 0600, atomically, and synced before they count as
 * written.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PosternError } from '../core/errors.ts';

/**
 * Writes `content` to `path` with mode 0600. Without `overwrite` an existing file is a
 * `conflict` (checked with O_EXCL, so there is no window to race). The parent directory is
 * created 0700 when missing; an existing one is left as it is.
 */
export function writePrivateFile(path: string, content: string | Uint8Array, options: { overwrite: boolean }): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!options.overwrite) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PosternError('conflict', `${path} already exists; pass --force to replace it.`);
      throw err;
    }
    writeAll(fd, content);
    return;
  }
  // A fresh name opened exclusively: in a shared directory a planted symlink cannot redirect the write.
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeAll(fd, content);
    chmodSync(temp, 0o600);
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw err;
  }
}

function writeAll(fd: number, content: string | Uint8Array): void {
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let offset = 0;
    while (offset < bytes.byteLength) offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
