/**
 * An administrator's approval of a post-rotation script, as the Router states it and a gateway
 * checks it before running the script.
 *
 * A script is code that a gateway runs next to every secret shared to its application, so the
 * gateway does not take "approved" on the Router's word alone: the Router signs, with its signing
 * key (core/crypto/router-subkeys.ts, pinned by the device at init), the file UID, the record it
 * is attached to, a digest of the exact ciphertext stored, who approved it (a holder of the
 * `manage_rotation_scripts` policy) and when. The gateway recomputes the digest from what it
 * downloaded. Someone who can write the Router's database but does not hold the Router key can
 * therefore neither mark a script approved nor swap the content of an approved one.
 *
 * The digest covers the ciphertext strings (wrapped file key, metadata, content), which the
 * Router holds and the gateway receives unchanged; it reveals nothing of the script.
 */
import { ecdsaSign, ecdsaVerify, fromBase64Url, sha256, toBase64Url, utf8 } from '../crypto/index.ts';

export interface ScriptApproval {
  /** UID of the user who approved (attached or later approved) the script. */
  approvedBy: string;
  approvedAt: number;
  /** base64url ECDSA P-256 signature by the Router's signing key over scriptApprovalMessage(). */
  signature: string;
}

export interface ApprovedFile {
  fileUid: string;
  recordUid: string;
  /** fileContentDigest() of the stored ciphertext. */
  contentDigest: string;
}

/** The stored ciphertext of a file, as the Router keeps it and a device downloads it. */
export interface FileCiphertext {
  fileKey: string;
  metadata: string;
  content: string;
}

export function fileContentDigest(file: FileCiphertext): string {
  return toBase64Url(sha256(utf8(`postern/file-digest/v1\n${file.fileKey}\n${file.metadata}\n${file.content}`)));
}

export function scriptApprovalMessage(file: ApprovedFile, approval: Omit<ScriptApproval, 'signature'>): Uint8Array {
  return utf8(['postern/script-approval/v1', file.fileUid, file.recordUid, file.contentDigest, approval.approvedBy, String(approval.approvedAt)].join('\n'));
}

export async function signScriptApproval(
  signingPrivateKey: Uint8Array,
  file: ApprovedFile,
  approval: Omit<ScriptApproval, 'signature'>,
): Promise<ScriptApproval> {
  return { ...approval, signature: toBase64Url(await ecdsaSign(signingPrivateKey, scriptApprovalMessage(file, approval))) };
}

/** True only for an approval the Router's signing key made for exactly this file, record and content. */
export async function verifyScriptApproval(signingPublicKey: Uint8Array, file: ApprovedFile, approval: ScriptApproval | null | undefined): Promise<boolean> {
  if (!approval || typeof approval.signature !== 'string' || typeof approval.approvedBy !== 'string' || !Number.isSafeInteger(approval.approvedAt))
    return false;
  let signature: Uint8Array;
  try {
    signature = fromBase64Url(approval.signature);
  } catch {
    return false;
  }
  return ecdsaVerify(signingPublicKey, scriptApprovalMessage(file, approval), signature);
}
