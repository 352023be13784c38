/**
 * Fault injection for the crash-safety tests: with `POSTERN_GATEWAY_FAULT=<step>` in its
 * environment, the gateway kills itself with SIGKILL right after that rotation step completes
 * (`store`, `change`, `verify` or `finalize`), exactly as a power cut or an OOM kill would stop
 * it: no cleanup, no last job update, no log flush. The tests then start it again without the
 * variable and check that the vault and the target agree.
 *
 * It can only ever stop this process, which an operator can do anyway; it is read once, and a
 * gateway started with it says so in its log at every rotation.
 */
export const FAULT_STEPS = ['store', 'change', 'verify', 'finalize'] as const;
export type FaultStep = (typeof FAULT_STEPS)[number];

const configured = process.env['POSTERN_GATEWAY_FAULT'];
const armed: FaultStep | null = (FAULT_STEPS as readonly string[]).includes(configured ?? '') ? (configured as FaultStep) : null;

export function armedFault(): FaultStep | null {
  return armed;
}

export async function faultPoint(step: FaultStep): Promise<void> {
  if (armed !== step) return;
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not delivered synchronously everywhere; never carry on past the fault point.
  await new Promise(() => {});
}
