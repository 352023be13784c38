import type { VaultCommand, VaultInput, VaultResponses } from '../../core/protocol/vault-api.ts';
import type { VaultCallContext } from './context.ts';

export type VaultHandler<C extends VaultCommand> = (ctx: VaultCallContext, input: VaultInput<C>) => Promise<VaultResponses[C]>;
export type VaultHandlers<K extends VaultCommand = VaultCommand> = { [C in K]: VaultHandler<C> };
