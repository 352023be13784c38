/** Foreground commands (`server start`, `relay start`, `tunnel start`) end on Ctrl-C, `kill` or systemd's SIGTERM. */

/** Resolves with the first SIGINT or SIGTERM after the call. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
