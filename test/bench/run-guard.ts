/**
 * What every benchmark runner does before it starts processes: a watchdog that stops the run
 * (children included) when it overruns its time budget, and Ctrl-C/SIGTERM handlers that kill the
 * children and remove the scratch directory, so no benchmark leaves load behind on a shared machine.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export function guardRun(budgetMs: number, children: Iterable<{ child: ChildProcess }>, scratch: () => string): void {
  const killAll = () => {
    for (const p of children) p.child.kill('SIGKILL');
  };
  const watchdog = setTimeout(() => {
    console.error(`benchmark exceeded its ${Math.round(budgetMs / 1000)} s budget; stopping`);
    killAll();
    process.exit(2);
  }, budgetMs);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      const dir = scratch();
      if (dir) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
}
