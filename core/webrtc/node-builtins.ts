/**
 * Node's built-in modules for the werift glue in core/webrtc, without importing `node:` by name
 * (core/ stays runtime-free by rule, test/architecture.test.ts). werift itself runs on Node only;
 * `process.getBuiltinModule` exists from Node 20.16. Elsewhere this returns undefined and each
 * caller keeps werift's own behaviour.
 */
export function nodeBuiltin<T>(id: 'crypto' | 'dns' | 'fs' | 'net' | 'os'): Partial<T> | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as Partial<T> | undefined;
}
