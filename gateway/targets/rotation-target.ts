/**
 * The checks a rotation makes of its target before the engine stores a pending secret or sends
 * one anywhere (docs/decisions/0006-target-trust.md): the PAM configuration's target policy on every
 * address the host name resolves to, then the plugin's own identity check (SSH: the host key,
 * pinned on first use). A refusal here leaves the vault and the target exactly as they were.
 */
import { PosternError } from '../../core/errors.ts';
import type { RotationPlugin, RotationTarget } from '../rotation/plugin.ts';
import { RotationFailure } from '../rotation/plugin.ts';
import { admitTarget, targetPolicyOf } from './target-policy.ts';

export async function admitRotationTarget(
  plugin: RotationPlugin,
  target: RotationTarget,
  configuration: { uid: string; fields: Record<string, unknown> },
): Promise<void> {
  const { hostname, port } = target.endpoint;
  try {
    await admitTarget(hostname, targetPolicyOf(configuration.fields, configuration.uid));
  } catch (err) {
    if (err instanceof PosternError) throw err;
    const code = (err as { code?: string }).code ?? 'lookup failed';
    throw new RotationFailure('unreachable', `${plugin.name} ${hostname}:${port}: cannot resolve ${hostname} (${code}); nothing was changed`);
  }
  await plugin.checkTarget?.(target);
}
