/**
 * `POST /api/v1/vault/:command`: find the session the headers name (before reading the body),
 * open the transmission envelope, check freshness and that the sealed token is that session's,
 * refuse a replayed nonce, validate the body, run the handler, seal the answer under the same
 * transmission key.
 */
import type { Context } from 'hono';
import { toBase64Url, type RouterSubkeys } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { openJson, parseVaultRequestFrame, parseWireEnvelope, sealJson, VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import { isVaultCommand, LARGE_VAULT_COMMANDS, PUBLIC_VAULT_COMMANDS, vaultCommands, type VaultCommand } from '../../core/protocol/vault-api.ts';
import { recordEvent } from '../audit/events.ts';
import { confirmSession, findSession, type PendingSession } from '../account/sessions.ts';
import type { RouterDeps, RouterLimits } from '../deps.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { parseJsonBody, readWebBody } from '../http/body.ts';
import { assertFresh, rememberNonce } from '../http/replay-cache.ts';
import { transmissionKeysOf } from '../http/transmission-keys.ts';
import { uploadBudgetOf } from '../http/upload-budget.ts';
import { accountHandlers } from './account.ts';
import { actionHandlers } from './actions.ts';
import { gatewayHandlers } from './gateways.ts';
import { roleHandlers } from './roles.ts';
import { rotationHandlers } from './rotation.ts';
import { applicationHandlers } from './applications.ts';
import type { VaultCallContext } from './context.ts';
import { eventHandlers } from './events.ts';
import { fileHandlers } from './files.ts';
import { invitationHandlers } from './invitations.ts';
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
  ...invitationHandlers,
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
  const now = services.now();
  const clientIp = deps.clientIp(c);

  // Who is asking, from the headers alone, before a byte of the body is read: without a live
  // session only the public commands are served, and only with a small body.
  const isPublic = PUBLIC_VAULT_COMMANDS.has(command);
  const pending = isPublic ? null : await findSession(deps.db, c.req.header(VAULT_SESSION_HEADER), now);
  const large = LARGE_VAULT_COMMANDS.has(command);
  const limit = isPublic ? limits.maxPublicBodyBytes : large ? limits.maxFileBodyBytes : limits.maxBodyBytes;
  const release = large && pending ? uploadBudgetOf(deps, limits).acquire(`session:${pending.tokenHash}`) : null;
  try {
    return await runVaultCommand(c, deps, services, { command, now, clientIp, pending, limit });
  } finally {
    release?.();
  }
}

async function runVaultCommand(
  c: Context,
  deps: RouterDeps,
  services: RouterServices,
  call: { command: VaultCommand; now: number; clientIp: string; pending: PendingSession | null; limit: number },
): Promise<Response> {
  const { limits } = services;
  const { command, now, clientIp, pending } = call;
  const envelope = parseWireEnvelope(parseJsonBody(await (deps.readBody ?? readWebBody)(c, call.limit)));
  const transmissionKeys = transmissionKeysOf(deps);
  const { key: transmissionKey, remembered } = await transmissionKeys.unwrap(deps.keys.privateKey, envelope.wrappedKey);
  const frame = parseVaultRequestFrame(await openJson(transmissionKey, `vault/${command}`, envelope.ciphertext));
  const { session, body } = frame;
  assertFresh(frame.timestamp, now);
  const user = pending ? await confirmSession(deps.db, pending, session, now, limits.sessionTtlMs) : null;
  if (user && !remembered) transmissionKeys.remember(envelope.wrappedKey, transmissionKey);
  // Last before acting: a request seen before is refused, whichever Router process saw it.
  await rememberNonce(deps.db, frame.nonce, now);
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
    openRegistration: deps.openRegistration === true,
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
    return c.json({ payload: toBase64Url(await sealJson(transmissionKey, responseRoute(command), result)) });
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_allowed' && user) {
      const input = parsed.data as Record<string, unknown>;
      const recordUid = typeof input['recordUid'] === 'string' ? input['recordUid'] : typeof input['parentUid'] === 'string' ? input['parentUid'] : null;
      await ctx.audit({ action: command, outcome: 'denied', recordUid, detail: { code: err.code } });
    }
    throw err;
  }
}
