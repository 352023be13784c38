/**
 * What the load generators need, made through the SDK the way a user would (not measured):
 * the Router's first account (registration stays invitation-only, the production default),
 * logged in once; a shared folder with a few login records; an application the folder is
 * shared to, and one device that redeemed its one-time token. The load processes resume the
 * one session and load the one device configuration.
 */
import { randomBytes, toBase64Url } from '../../../core/crypto/index.ts';
import { newRecordData } from '../../../core/records/index.ts';
import { SecretsClient, type SecretsConfig } from '../../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport, type PersistedSession } from '../../../core/vault-client/index.ts';

/** The reference route: what one JSON request costs through Hono and @hono/node-server alone. */
export const ECHO_PATH = '/api/v1/echo';

export interface Fixture {
  url: string;
  session: PersistedSession;
  recordUids: string[];
  device: SecretsConfig;
}

export async function provisionFixture(url: string, records: number): Promise<Fixture> {
  const transport = await VaultTransport.connect(url);
  const email = 'bench@example.com';
  const password = toBase64Url(randomBytes(24));
  await registerAccount(transport, email, password);
  const vault = await VaultClient.login(transport, email, password);
  const folderUid = await vault.addFolder('Bench', { shared: true });
  const recordUids: string[] = [];
  for (let i = 0; i < records; i++) {
    const data = newRecordData('login', `bench ${i + 1}`, {
      login: `user${i + 1}`,
      password: toBase64Url(randomBytes(18)),
      url: `https://app${i + 1}.example.com`,
    });
    recordUids.push(await vault.addRecord(data, { folderUid }));
  }
  const appUid = await vault.createApplication('bench');
  await vault.shareFolderToApplication(appUid, folderUid, false);
  const [issued] = await vault.addApplicationClients(appUid, { name: 'bench-device' });
  const device = await SecretsClient.redeemToken(issued!.token);
  return { url, session: vault.session, recordUids, device };
}
