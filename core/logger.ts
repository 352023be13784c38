/**
 * One logger interface for the Router, the gateway and the CLI, so their cores stay runtime-agnostic:
 * on Node, pino is handed in; Deno and workerd hand in a console logger; tests a silent one.
 * Log objects carry codes, UIDs and addresses only; never a payload or a key.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

export function consoleLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'] as const;
  const min = order.indexOf(level);
  const write = (lvl: (typeof order)[number]) => (obj: Record<string, unknown>, msg?: string) => {
    if (order.indexOf(lvl) < min) return;
    console.log(JSON.stringify({ level: lvl, time: Date.now(), msg, ...obj }));
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
