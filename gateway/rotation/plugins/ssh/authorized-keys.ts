/**
 * Key rotation: the new public key replaces the old one in the user's ~/.ssh/authorized_keys.
 * The edit runs as the user (`sudo -n -u USER` for a sudo admin, `su -s SH USER` for root, or
 * the user itself), never as root on a file the user controls: a user who turns their
 * authorized_keys into a symlink to /etc/shadow gets nothing from us.
 */
import type { RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { withConnection } from './connection.ts';
import { shellOf } from './inputs.ts';
import { KEY_BLOB, checkNewKey, privateKeyOf, type KeyCredential } from './keys.ts';
import { secretsOf, where } from './messages.ts';
import { adminFacts, run, status, sudoFailure, sudoProblem } from './remote-commands.ts';

/**
 * The POSIX sh + awk script that swaps the key in ~/.ssh/authorized_keys. Its data is public
 * (key blobs, a key type from a fixed list, a comment matching SAFE_COMMENT in ./keys.ts) and
 * validated before it gets here; single quotes cannot occur in any of it.
 *
 * The old key's line is replaced in place, keeping its options (`from=`, `command=`, ...), so a
 * restriction on the old key carries over to the new one; every other line (other keys,
 * comments, blank lines) is copied unchanged. A line already holding the new key is kept (a retry
 * after a lost reply changes nothing). If the old key is not there the new line is appended.
 * The result goes to a temp file in the same directory (mode 600), then `mv` replaces the file
 * atomically: sshd sees the old file or the new one, never half of one.
 */
function authorizedKeysScript(oldBlob: string, newLine: string, newBlob: string): string {
  for (const v of [oldBlob, newBlob]) if (!KEY_BLOB.test(v)) throw new Error('unreachable: unvalidated key blob');
  if (!/^[a-z0-9-]+ [A-Za-z0-9+/]+={0,2} [A-Za-z0-9@._+:=,/-]+$/.test(newLine)) throw new Error('unreachable: unvalidated key line');
  return `set -eu
umask 077
old_blob='${oldBlob}'
new_blob='${newBlob}'
new_line='${newLine}'
me=$(id -un)
home=$( (getent passwd "$me" 2>/dev/null || true) | cut -d: -f6)
[ -n "$home" ] || home=\${HOME:-}
if [ -z "$home" ] || [ ! -d "$home" ]; then echo "postern: the home directory of $me does not exist" >&2; exit 3; fi
dir="$home/.ssh"
file="$dir/authorized_keys"
if [ ! -d "$dir" ]; then mkdir -m 700 "$dir"; echo "postern-note: created $dir" >&2; fi
tmp="$dir/.authorized_keys.postern.$$"
rm -f "$tmp"
trap 'rm -f "$tmp"' EXIT
(set -C; : >"$tmp")
if [ -f "$file" ]; then src="$file"; else src=/dev/null; fi
awk -v old="$old_blob" -v nb="$new_blob" -v nl="$new_line" '
  BEGIN { replaced = 0; present = 0; dropped = 0 }
  /^[ \\t]*(#|$)/ { print; next }
  {
    hasold = 0; hasnew = 0
    for (i = 1; i <= NF; i++) { f = $i ""; if (f == old) hasold = 1; if (f == nb) hasnew = 1 }
    if (hasnew) { if (present) { dropped++; next } present = 1; print; next }
    if (hasold) {
      if (present) { dropped++; next }
      before = substr($0, 1, index($0, old) - 1)
      sub(/[^ \\t]+[ \\t]+$/, "", before)
      print before nl
      replaced++; present = 1; next
    }
    print
  }
  END {
    if (!present) print nl
    printf "postern-status: replaced=%d appended=%d dropped=%d\\n", replaced, present ? 0 : 1, dropped > "/dev/stderr"
  }
' "$src" >"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$file"
trap - EXIT
`;
}

export async function changeKey(target: RotationTarget, next: KeyCredential): Promise<void> {
  const user = target.user;
  if (user.credential.kind !== 'key') throw new RotationFailure('unsupported', `ssh ${where(target)}: '${user.login}' has a password, not a key`);
  const oldKey = privateKeyOf(user.credential, target, 'the current');
  const oldBlob = oldKey.getPublicSSH().toString('base64');
  const fresh = checkNewKey(next, target);
  const script = authorizedKeysScript(oldBlob, `${fresh.type} ${fresh.blob} ${fresh.comment}`, fresh.blob);
  const secrets = secretsOf(target, next);
  const shell = shellOf(target);
  const admin = target.admin;
  await withConnection(target, admin ?? user, admin ? 'admin' : 'user', async (client) => {
    let command = `${shell} -s`;
    if (admin) {
      const facts = await adminFacts(client, target, secrets);
      if (!facts.userExists) throw new RotationFailure('not_found', `ssh ${where(target)}: no user '${user.login}' on the target`);
      // Run the edit as the user (see the top of this file): root through su, others through sudo.
      command = facts.root ? `su -s ${shell} '${user.login}'` : `sudo -n -u '${user.login}' ${shell} -s`;
    }
    const r = await run(client, target, command, script);
    const note = /^postern-status: (.*)$/m.exec(r.stderr)?.[1];
    if (r.code === 0 && note) {
      const created = /postern-note: created/.test(r.stderr) ? ', ~/.ssh created' : '';
      target.log(`ssh: authorized_keys of '${user.login}' updated (${note.trim()}${created})${admin ? ` by the admin '${admin.login}'` : ''}`);
      return;
    }
    const sudo = admin && command.startsWith('sudo ') ? sudoProblem(r) : undefined;
    if (admin && sudo) throw sudoFailure(sudo, target, admin, `run a shell as '${user.login}'`, r, secrets);
    throw new RotationFailure('failed', `ssh ${where(target)}: updating authorized_keys of '${user.login}' failed (${status(r, secrets)})`);
  });
}
