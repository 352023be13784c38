/**
 * A rotation lab for end-to-end tests: a real Router, an administrator using the real `postern`
 * CLI, a real `postern-gateway` process (which can be started with a fault armed), and the
 * records a rotation needs: a PAM configuration bound to the gateway, a resource with its admin
 * credential, and the pamUser to rotate, all in a folder shared (can edit) to the gateway's
 * application. Each target's suite supplies the resource fields and how to log in.
 */
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import type { FaultStep } from '../../gateway/rotation/fault.ts';
import { CliUser, type CliResult } from '../cli/support.ts';
import { logText, provisionGateway, removeDir, startConnectedGateway, tempHome, type GatewayProcess } from '../gateway/support.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';

export interface LabTarget {
  resource: RecordData;
  admin: { login: string; password: string; distinguishedName?: string };
  user: { login: string; password?: string; privateKey?: string; distinguishedName?: string; custom?: { label: string; value: string }[] };
}

export class RotationLab {
  readonly gatewayHome = tempHome('postern-rotation-gw-');
  gateway: GatewayProcess | null = null;
  deviceUid = '';
  appUid = '';
  folderUid = '';
  configurationUid = '';

  private constructor(
    readonly router: TestRouter,
    readonly admin: CliUser,
    readonly vault: VaultClient,
  ) {}

  static async start(name: string): Promise<RotationLab> {
    const router = await startTestRouter({ backend: 'sqlite' });
    const admin = new CliUser(router.url, `${name}-admin@example.com`);
    await admin.registerWithSdk();
    const vault = await admin.loginWithSdk();
    const lab = new RotationLab(router, admin, vault);
    const provisioned = await provisionGateway(vault, name, lab.gatewayHome, { folderCanEdit: true, configuration: { features: { rotation: true } } });
    lab.appUid = provisioned.appUid;
    lab.folderUid = provisioned.folderUid;
    lab.deviceUid = provisioned.deviceUid;
    lab.configurationUid = provisioned.configurationUid;
    return lab;
  }

  /** Starts (or restarts) the gateway; with `fault`, it kills itself after that rotation step. */
  async startGateway(fault?: FaultStep): Promise<GatewayProcess> {
    await this.stopGateway();
    const gateway = await startConnectedGateway(this.gatewayHome, () => this.router.router.hub.isConnectedHere(this.deviceUid), {
      POSTERN_GATEWAY_FAULT: fault,
    });
    this.gateway = gateway;
    return gateway;
  }

  async stopGateway(): Promise<void> {
    if (this.gateway) await this.gateway.stop();
    this.gateway = null;
  }

  /** The resource, its admin pamUser and the pamUser to rotate, linked as the CLI would. */
  async addTarget(target: LabTarget): Promise<{ resourceUid: string; adminUid: string; userUid: string }> {
    const v = this.vault;
    const adminUid = await v.addRecord(newRecordData('pamUser', `admin ${target.admin.login}`, { ...target.admin }), { folderUid: this.folderUid });
    const resourceFields = {
      ...(target.resource.fields as Record<string, unknown>),
      pamSettings: { configurationUid: this.configurationUid, adminCredentialUid: adminUid },
    };
    const resourceUid = await v.addRecord({ ...target.resource, fields: resourceFields } as RecordData, { folderUid: this.folderUid });
    const { custom, ...userFields } = target.user;
    const userUid = await v.addRecord(newRecordData('pamUser', `user ${target.user.login}`, userFields, custom ?? []), { folderUid: this.folderUid });
    await v.linkRecords(resourceUid, adminUid, 'admin_credential');
    await v.linkRecords(resourceUid, userUid, 'credential');
    return { resourceUid, adminUid, userUid };
  }

  /** `postern rotate USER --config CFG` through the CLI. */
  rotate(userUid: string, extra: string[] = []): Promise<CliResult> {
    return this.admin.run(['rotate', userUid, '--config', this.configurationUid, ...extra]);
  }

  resume(userUid: string): Promise<CliResult> {
    return this.admin.run(['rotation', 'resume', userUid, '--config', this.configurationUid]);
  }

  /** The pamUser's password as the vault holds it now (what a person would copy). */
  async password(userUid: string): Promise<string> {
    const record = await this.vault.getRecord(userUid);
    return (record.data.fields as { password: string }).password;
  }

  gatewayLog(): string {
    return logText(this.gatewayHome);
  }

  async close(): Promise<void> {
    await this.stopGateway().catch(() => {});
    await this.router.stop();
    this.admin.cleanup();
    removeDir(this.gatewayHome);
  }
}
