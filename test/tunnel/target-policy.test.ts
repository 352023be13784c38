/**
 * The PAM configuration's target policy on tunnels (docs/decisions/0006-target-trust.md), end to end:
 * the real `postern tunnel start` against a real Router and a real `postern-gateway`. A resource
 * aimed at a cloud metadata address, or outside targetNetworks, is refused when the tunnel is
 * asked for, before the gateway dials anything.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordData } from '../../core/records/index.ts';
import { TunnelLab } from './lab.ts';

describe('tunnel target policy (CLI, gateway)', () => {
  let lab: TunnelLab;
  let echo: Server;

  const setPolicy = (fields: Record<string, unknown>) =>
    lab.vault.updateRecord(lab.configurationUid, (data) => ({ ...data, fields: { ...(data.fields as Record<string, unknown>), ...fields } }) as RecordData);

  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    lab = await TunnelLab.start('tunnelpolicy');
    await lab.startGateway();
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
    echo?.close();
  });

  // threat model (docs/threat-model.md): editor — a resource aimed at the cloud metadata service to reach the gateway host's credentials
  it('refuses a tunnel to a cloud metadata address', async () => {
    const uid = await lab.addResource('pamMachine', 'metadata', '169.254.169.254', 80);
    const result = await lab.admin.run(['--json', 'tunnel', 'start', uid]);
    expect(result.code).not.toBe(0);
    expect(result.error()).toMatchObject({
      code: 'not_allowed',
      message: expect.stringMatching(/169\.254\.169\.254.*cloud metadata address.*allowMetadataTargets=true/),
    });
  }, 120_000);

  // threat model (docs/threat-model.md): editor — a resource outside the networks the PAM configuration allows
  it('refuses a tunnel outside targetNetworks, and opens it once the network is listed', async () => {
    const port = (echo.address() as { port: number }).port;
    const uid = await lab.addResource('pamMachine', 'echo', '127.0.0.1', port);
    await setPolicy({ targetNetworks: '10.0.0.0/8' });
    const refused = await lab.admin.run(['--json', 'tunnel', 'start', uid]);
    expect(refused.code).not.toBe(0);
    expect(refused.error()).toMatchObject({
      code: 'not_allowed',
      message: expect.stringContaining(`PAM configuration ${lab.configurationUid} restricts targets to 10.0.0.0/8 (targetNetworks)`),
    });

    await setPolicy({ targetNetworks: '127.0.0.0/8' });
    const tunnel = await lab.tunnel(uid);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: tunnel.host, port: tunnel.port }, () => socket.write('ping'));
      socket.once('data', (d) => (resolve(d.toString()), socket.destroy()));
      socket.once('error', reject);
    });
    expect(reply).toBe('ping');
    await tunnel.stop();
  }, 180_000);
});
