// `node --import` this file to load werift as shipped (the `werift-stock` package, an npm alias
// of werift@0.24.4 that patch-package leaves alone) wherever the code imports `werift`: for
// test/bench/tunnel's "unpatched" rows, which measure Postern's patch set against werift as it
// is published, in the same run. node/webrtc/peer.ts refuses stock werift unless
// POSTERN_ALLOW_STOCK_WERIFT=1 is set too. Never for production.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'werift') return nextResolve('werift-stock', context);
  if (specifier.startsWith('werift/')) return nextResolve('werift-stock/' + specifier.slice('werift/'.length), context);
  return nextResolve(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
