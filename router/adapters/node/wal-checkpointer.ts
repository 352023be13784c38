/**
 * WAL checkpoints on a worker thread. SQLite copies the write-ahead log back into the database
 * file whenever a commit finds the log longer than 1,000 pages, inside that commit: on the
 * Router's event loop, with better-sqlite3 synchronous, that is a copy of megabytes and a disk
 * sync during which no request, no gateway frame and no timer runs (figures in
 * docs/decisions/0008-native-crypto.md). Here a second connection on its own thread
 * checkpoints every CHECKPOINT_EVERY_MS instead (PASSIVE: it never waits for or blocks a reader
 * or a writer), and the Router's connection keeps an automatic checkpoint only as a backstop,
 * at WAL_BACKSTOP_PAGES, should this thread ever fall behind or stop.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

export const CHECKPOINT_EVERY_MS = 200;
/** The Router connection's own automatic checkpoint, in pages (of 4 KiB): 40 MB of log. */
export const WAL_BACKSTOP_PAGES = 10_000;

/** Runs in the worker (CommonJS, evaluated): open the file, checkpoint on a timer, report, close when told. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
let checkpoints = 0;
let pages = 0;
const tick = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    if (row && row.checkpointed > 0) {
      checkpoints += 1;
      pages += row.checkpointed;
    }
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(tick, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message === 'stats') parentPort.postMessage({ checkpoints, pages });
  if (message === 'stop') {
    clearInterval(timer);
    tick();
    db.close();
    parentPort.close();
  }
});
`;

export interface WalCheckpointer {
  /** Checkpoints that copied at least one page, and the pages they copied. */
  stats(): Promise<{ checkpoints: number; pages: number }>;
  /** A last checkpoint, then the thread ends. */
  stop(): Promise<void>;
}

/**
 * Starts the checkpoint thread for the database at `path` (already open in WAL mode on
 * `sqlite`), and lowers `sqlite`'s own automatic checkpoint to the backstop. A fault in the
 * thread is reported to `onError` and leaves the backstop in charge.
 */
export function startWalCheckpointer(sqlite: SQLite.Database, path: string, onError: (message: string) => void = () => {}): WalCheckpointer {
  sqlite.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, everyMs: CHECKPOINT_EVERY_MS, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
  });
  // The thread must not keep a Router that is otherwise done from exiting.
  worker.unref();
  let stopped: Promise<void> | null = null;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => onError(err.message));
  worker.on('message', (message: { error?: string }) => {
    if (message.error) onError(message.error);
  });
  return {
    stats: () =>
      new Promise((resolve) => {
        const listener = (message: { checkpoints?: number; pages?: number }) => {
          if (message.checkpoints === undefined) return;
          worker.off('message', listener);
          resolve({ checkpoints: message.checkpoints, pages: message.pages ?? 0 });
        };
        worker.on('message', listener);
        worker.postMessage('stats');
      }),
    stop: () => {
      stopped ??= (async () => {
        worker.postMessage('stop');
        const timeout = setTimeout(() => void worker.terminate(), 5_000);
        await exited;
        clearTimeout(timeout);
      })();
      return stopped;
    },
  };
}
