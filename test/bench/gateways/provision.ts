/**
 * Benchmark-only provisioning: N gateway devices written straight into a fresh Router
 * database (one placeholder user owning one application), each with its own P-256 key pair
 * and random 64-byte client id, registered and not IP-locked. This is NOT how gateways are
 * provisioned in production (`addApplicationClients` + `redeemToken`); it skips the
 * token/key-wrapping steps, whose placeholder columns the gateway handshake never reads, so
 * the benchmark measures connections and actions, not provisioning.
 */
import { fromBase64Url, generateP256KeyPair, randomBytes, sha256, toBase64Url } from '../../../core/crypto/index.ts';
import { newUid } from '../../../core/ids.ts';
import { openStorage } from '../../../router/adapters/node/storage.ts';

export interface BenchGatewayKey {
  clientId: string;
  privateKey: string;
  publicKey: string;
}

export interface BenchGateway extends BenchGatewayKey {
  uid: string;
}

/** Fresh identities; reused across the runs of one invocation (each run gets a fresh database). */
export function generateGatewayKeys(count: number): BenchGatewayKey[] {
  const out: BenchGatewayKey[] = [];
  for (let i = 0; i < count; i++) {
    const pair = generateP256KeyPair();
    out.push({ clientId: toBase64Url(randomBytes(64)), privateKey: toBase64Url(pair.privateKey), publicKey: toBase64Url(pair.publicKey) });
  }
  return out;
}

/** Creates (migrates) the SQLite database at `dbPath` and inserts the gateways. */
export async function provisionGateways(dbPath: string, keys: BenchGatewayKey[]): Promise<BenchGateway[]> {
  const db = await openStorage({ kind: 'sqlite', path: dbPath });
  const now = Date.now();
  const userUid = newUid();
  const appUid = newUid();
  const placeholder = toBase64Url(randomBytes(32));
  const gateways = keys.map((k) => ({ ...k, uid: newUid() }));
  try {
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('users')
        .values({
          uid: userUid,
          email: 'bench-owner@example.invalid',
          kdf: '{"algorithm":"bench"}',
          auth_salt: placeholder,
          auth_verifier: placeholder,
          encrypted_data_key: placeholder,
          public_key: placeholder,
          encrypted_private_key: placeholder,
          created_at: now,
          is_admin: 1,
        })
        .execute();
      await trx.insertInto('applications').values({ uid: appUid, owner_uid: userUid, app_key: placeholder, data: placeholder, created_at: now }).execute();
      const CHUNK = 500;
      for (let i = 0; i < gateways.length; i += CHUNK) {
        await trx
          .insertInto('devices')
          .values(
            gateways.slice(i, i + CHUNK).map((g, j) => ({
              uid: g.uid,
              app_uid: appUid,
              client_id_hash: toBase64Url(sha256(fromBase64Url(g.clientId))),
              name: `bench-gw-${i + j}`,
              wrapped_app_key: placeholder,
              public_key: g.publicKey,
              ip_lock: 0,
              locked_ip: null,
              created_at: now,
              first_access_expires_at: now + 86_400_000,
              access_expires_at: null,
              registered_at: now,
              last_seen_at: null,
              revoked_at: null,
              kind: 'gateway' as const,
            })),
          )
          .execute();
      }
    });
  } finally {
    await db.destroy();
  }
  return gateways;
}
