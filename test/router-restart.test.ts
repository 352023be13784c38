import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../core/records/index.ts';
import { fetchRouterPublicKey, registerAccount, VaultClient, VaultTransport } from '../core/vault-client/index.ts';
import { startTestRouter } from './support/router.ts';

describe('Router restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'postern-restart-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps its key pair, sessions and records across a restart', async () => {
    const first = await startTestRouter({ dataDir });
    const key1 = await fetchRouterPublicKey(first.url);
    const transport = await VaultTransport.connect(first.url);
    await registerAccount(transport, 'ops@example.com', 'ops master password');
    const client = await VaultClient.login(transport, 'ops@example.com', 'ops master password');
    const uid = await client.addRecord(newRecordData('login', 'kept', { login: 'a', password: 'kept-pw' }));
    const port = first.port;
    await first.stop();

    expect(statSync(join(dataDir, 'router-key.json')).mode & 0o777).toBe(0o600);
    const second = await startTestRouter({ dataDir, port });
    try {
      expect(await fetchRouterPublicKey(second.url)).toEqual(key1);
      const resumed = await VaultClient.resume(new VaultTransport(second.url, key1), client.session);
      expect((await resumed.getRecord(uid)).data.fields['password']).toBe('kept-pw');
    } finally {
      await second.stop();
    }
  });
});
