/** The CLI's view of the enforcement policies comes from core, where the Router's does. */
import { POLICIES, POLICY_INFO } from '../../core/policies.ts';

export { POLICY_INFO };
export const POLICY_NAMES: readonly string[] = POLICIES;
