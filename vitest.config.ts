import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{core,node,router,relay,gateway,vault,wasm,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/bench/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
