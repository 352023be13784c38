/**
 * Account creation and login, done the zero-knowledge way: the master password stays here;
 * the Router receives the auth hash and ciphertext only.
 */
import {
  deriveAccountKeys,
  generateAesKey,
  generateP256KeyPair,
  newKdfParams,
  openBytes,
  purposes,
  randomBytes,
  sealBytes,
  toBase64Url,
  fromBase64Url,
  type KdfParams,
} from '../crypto/index.ts';
import type { VaultTransport } from './transport.ts';

export interface UnlockedKeys {
  dataKey: Uint8Array;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** What the CLI keeps between runs (in ~/.postern/config.json, mode 0600). */
export interface PersistedSession {
  server: string;
  routerPublicKey: string;
  email: string;
  userUid: string;
  sessionToken: string;
  /** Opens the session's copy of the data key held by the Router; useless once the session ends. */
  clientKey: string;
}

export interface RegisterOptions {
  kdf?: KdfParams;
  /** The code from `postern invite add`; not needed for the first account or on a Router with open registration. */
  invitation?: string;
}

/**
 * Creates an account. The answer is the same whether or not the email already had one (a Router
 * with open registration answers a plausible userUid and leaves the existing account alone), so
 * success here means "the Router accepted it", and the login that follows is the real test.
 */
export async function registerAccount(
  transport: VaultTransport,
  email: string,
  masterPassword: string,
  options: RegisterOptions = {},
): Promise<{ userUid: string }> {
  const kdf = options.kdf ?? newKdfParams();
  const { authHash, encryptionKey } = await deriveAccountKeys(masterPassword, kdf);
  const dataKey = generateAesKey();
  const pair = generateP256KeyPair();
  return transport.call('account.register', {
    email,
    kdf,
    authHash: toBase64Url(authHash),
    encryptedDataKey: await sealBytes(encryptionKey, dataKey, purposes.dataKey),
    publicKey: toBase64Url(pair.publicKey),
    encryptedPrivateKey: await sealBytes(dataKey, pair.privateKey, purposes.privateKey),
    ...(options.invitation !== undefined ? { invitation: options.invitation } : {}),
  });
}

export async function loginAccount(
  transport: VaultTransport,
  email: string,
  masterPassword: string,
): Promise<{ persisted: PersistedSession; keys: UnlockedKeys; expiresAt: number }> {
  const { kdf } = await transport.call('account.prelogin', { email });
  const { authHash, encryptionKey } = await deriveAccountKeys(masterPassword, kdf);
  const login = await transport.call('account.login', { email, authHash: toBase64Url(authHash) });
  const dataKey = await openBytes(encryptionKey, login.encryptedDataKey, purposes.dataKey);
  const privateKey = await openBytes(dataKey, login.encryptedPrivateKey, purposes.privateKey);
  const clientKey = randomBytes(32);
  await transport.call('session.store-key', { sessionDataKey: await sealBytes(clientKey, dataKey, purposes.sessionDataKey) }, login.sessionToken);
  return {
    persisted: {
      server: transport.server,
      routerPublicKey: transport.routerPublicKeyB64,
      email: email.trim().toLowerCase(),
      userUid: login.userUid,
      sessionToken: login.sessionToken,
      clientKey: toBase64Url(clientKey),
    },
    keys: { dataKey, privateKey, publicKey: fromBase64Url(login.publicKey) },
    expiresAt: login.expiresAt,
  };
}

export async function resumeSession(transport: VaultTransport, persisted: PersistedSession): Promise<UnlockedKeys> {
  const keys = await transport.call('session.keys', {}, persisted.sessionToken);
  const dataKey = await openBytes(fromBase64Url(persisted.clientKey), keys.sessionDataKey, purposes.sessionDataKey);
  const privateKey = await openBytes(dataKey, keys.encryptedPrivateKey, purposes.privateKey);
  return { dataKey, privateKey, publicKey: fromBase64Url(keys.publicKey) };
}
