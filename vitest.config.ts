import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores on CI: WASM codecs are CPU bound, so more workers only thrash.
    maxWorkers: 2,
  },
})
