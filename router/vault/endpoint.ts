/**
 * `POST /api/v1/vault/:command`: open the transmission envelope, authenticate the session,
 * validate the body, run the handler, seal the answer under the same transmission key.
 */
import type { Context } from 'hono';
import { toBase64Url, type RouterSubkeys } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { openJson, parseWireEnvelope, sealJson, unwrapTransmissionKey } from '../../core/protocol/envelope.ts';
import { isVaultCommand, LARGE_VAULT_COMMANDS, PUBLIC_VAULT_COMMANDS, vaultCommands, type VaultCommand } from '../../core/protocol/vault-api.ts';
import { recordEvent } from '../audit/events.ts';
import { authenticateSession } from '../account/sessions.ts';
import type { RouterDeps, RouterLimits } from '../deps.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { readBodyLimited, parseJsonBody } from '../http/body.ts';
import { accountHandlers } from './account.ts';
import { actionHandlers } from './actions.ts';
import { gatewayHandlers } from './gateways.ts';
import { roleHandlers } from './roles.ts';
import { rotationHandlers } from './rotation.ts';
import { applicationHandlers } from './applications.ts';
import type { VaultCallContext } from './context.ts';
import { eventHandlers } from './events.ts';
import { fileHandlers } from './files.ts';
import { folderHandlers } from './folders.ts';
import type { VaultHandler, VaultHandlers } from './handler.ts';
import { recordHandlers } from './records.ts';
import { syncHandlers } from './sync.ts';

const handlers: VaultHandlers = {
  ...accountHandlers,
  ...syncHandlers,
  ...folderHandlers,
  ...recordHandlers,
  ...fileHandlers,
  ...applicationHandlers,
  ...eventHandlers,
  ...gatewayHandlers,
  ...actionHandlers,
  ...roleHandlers,
  ...rotationHandlers,
};

export function responseRoute(command: string): string {
  return `vault/${command}/response`;
}

export interface RouterServices {
  hub: GatewayHub;
  limits: RouterLimits;
  now: () => number;
  subkeys: RouterSubkeys;
}

export async function handleVaultCommand(c: Context, deps: RouterDeps, services: RouterServices): Promise<Response> {
  const { limits } = services;
  const name = c.req.param('command') ?? '';
  if (!isVaultCommand(name)) throw new PosternError('not_found', `Unknown command "${name.slice(0, 64)}".`);
  const command: VaultCommand = name;
  const limit = LARGE_VAULT_COMMANDS.has(command) ? limits.maxFileBodyBytes : limits.maxBodyBytes;
  const envelope = parseWireEnvelope(parseJsonBody(await readBodyLimited(c.req.raw, limit)));
  const transmissionKey = unwrapTransmissionKey(deps.keys.privateKey, envelope.wrappedKey);
  const inner = openJson(transmissionKey, `vault/${command}`, envelope.ciphertext);
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) throw new PosternError('bad_request', 'The payload must be an object {session?, body}.');
  const { session, body } = inner as { session?: unknown; body?: unknown };

  const now = services.now();
  const clientIp = deps.clientIp(c);
  const user = PUBLIC_VAULT_COMMANDS.has(command) ? null : await authenticateSession(deps.db, session, now, limits.sessionTtlMs);
  const ctx: VaultCallContext = {
    db: deps.db,
    now,
    clientIp,
    limits,
    logger: deps.logger,
    keys: deps.keys,
    subkeys: services.subkeys,
    hub: services.hub,
    relay: deps.relay ?? null,
    user,
    audit: (event) =>
      recordEvent(deps.db, now, {
        actorKind: user ? 'user' : 'anonymous',
        actor: user?.email ?? 'anonymous',
        ownerUid: user?.uid ?? null,
        clientIp,
        ...event,
      }),
  };

  const parsed = vaultCommands[command].safeParse(body ?? {});
  if (!parsed.success) throw parsed.error;
  try {
    const handler = handlers[command] as VaultHandler<VaultCommand>;
    const result = await handler(ctx, parsed.data as never);
    deps.logger.info({ command, user: user?.uid, ip: clientIp }, 'vault command');
    return c.json({ payload: toBase64Url(sealJson(transmissionKey, responseRoute(command), result)) });
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_allowed' && user) {
      const input = parsed.data as Record<string, unknown>;
      const recordUid = typeof input['recordUid'] === 'string' ? input['recordUid'] : typeof input['parentUid'] === 'string' ? input['parentUid'] : null;
      await ctx.audit({ action: command, outcome: 'denied', recordUid, detail: { code: err.code } });
    }
    throw err;
  }
}
