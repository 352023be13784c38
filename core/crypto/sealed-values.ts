/**
 * Sealing the product's values: keys wrapped by keys, JSON encrypted under a key, each bound
 * by AES-GCM associated data to what it is and whose it is (e.g. `record-key/<uid>`), so a
 * server that swaps one ciphertext for another is caught at decryption.
 */
import { aesGcmDecrypt, aesGcmEncrypt } from './aes-gcm.ts';
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts';
import { eciesDecrypt, eciesEncrypt } from './ecies.ts';

const label = (purpose: string) => utf8(`postern/${purpose}`);

export async function sealBytes(key: Uint8Array, value: Uint8Array, purpose: string): Promise<string> {
  return toBase64Url(await aesGcmEncrypt(key, value, label(purpose)));
}

export async function openBytes(key: Uint8Array, sealed: string, purpose: string): Promise<Uint8Array> {
  return aesGcmDecrypt(key, fromBase64Url(sealed), label(purpose));
}

export async function sealJsonValue(key: Uint8Array, value: unknown, purpose: string): Promise<string> {
  return sealBytes(key, utf8(JSON.stringify(value)), purpose);
}

export async function openJsonValue<T = unknown>(key: Uint8Array, sealed: string, purpose: string): Promise<T> {
  return JSON.parse(fromUtf8(await openBytes(key, sealed, purpose))) as T;
}

export async function sealToPublicKey(publicKey: Uint8Array, value: Uint8Array, purpose: string): Promise<string> {
  return toBase64Url(await eciesEncrypt(publicKey, value, label(purpose)));
}

export async function openWithPrivateKey(privateKey: Uint8Array, sealed: string, purpose: string): Promise<Uint8Array> {
  return eciesDecrypt(privateKey, fromBase64Url(sealed), label(purpose));
}

/** The associated-data names used across the product, in one place. */
export const purposes = {
  dataKey: 'data-key',
  privateKey: 'private-key',
  sessionDataKey: 'session-data-key',
  folderKey: (folderUid: string) => `folder-key/${folderUid}`,
  folderName: (folderUid: string) => `folder-name/${folderUid}`,
  recordKey: (recordUid: string) => `record-key/${recordUid}`,
  record: (recordUid: string) => `record/${recordUid}`,
  appKey: (appUid: string) => `app-key/${appUid}`,
  app: (appUid: string) => `app/${appUid}`,
  appFolderKey: (appUid: string, folderUid: string) => `app-folder-key/${appUid}/${folderUid}`,
  deviceAppKey: 'device-app-key',
  fileKey: (fileUid: string) => `file-key/${fileUid}`,
  fileMetadata: (fileUid: string) => `file-metadata/${fileUid}`,
  fileContent: (fileUid: string) => `file/${fileUid}`,
} as const;
