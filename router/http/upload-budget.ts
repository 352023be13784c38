/**
 * How many large uploads (vault file.upload, device add_file) the Router reads at once: a few
 * per client and a ceiling for the process, so that one session or device cannot hold the
 * Router's memory with slow 32 MB bodies. Counted in this process only: each Router process
 * protects its own memory, which is what the budget is for.
 */
import { PosternError } from '../../core/errors.ts';

const RETRY_AFTER_SECONDS = 5;

export class UploadBudget {
  private readonly perClient: number;
  private readonly total: number;
  private readonly active = new Map<string, number>();
  private inFlight = 0;

  constructor(perClient: number, total: number) {
    this.perClient = perClient;
    this.total = total;
  }

  /** Takes a slot for `client` (a session or device id) or refuses with `throttled`; call the result once when done. */
  acquire(client: string): () => void {
    const mine = this.active.get(client) ?? 0;
    if (mine >= this.perClient) {
      throw new PosternError(
        'throttled',
        `This client already has ${mine} file uploads in progress, the most the Router reads at once for one session or device. Wait for one to finish, then retry.`,
        { retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    if (this.inFlight >= this.total) {
      throw new PosternError('throttled', 'The Router is reading as many file uploads as it allows at once. Retry in a few seconds.', {
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      });
    }
    this.active.set(client, mine + 1);
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const left = (this.active.get(client) ?? 1) - 1;
      if (left > 0) this.active.set(client, left);
      else this.active.delete(client);
    };
  }
}

const budgets = new WeakMap<object, UploadBudget>();

/** The one budget of a Router (keyed by its deps object), shared by the vault and device APIs. */
export function uploadBudgetOf(router: object, limits: { largeUploadsPerClient: number; largeUploadsTotal: number }): UploadBudget {
  let budget = budgets.get(router);
  if (!budget) {
    budget = new UploadBudget(limits.largeUploadsPerClient, limits.largeUploadsTotal);
    budgets.set(router, budget);
  }
  return budget;
}
