import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const shim = (name: string) => fileURLToPath(new URL(`./src/shims/${name}.ts`, import.meta.url))

// `vite build viewer` → viewer/dist, served by the service at /. Everything is bundled (no CDN):
// the viewer must work on an offline research workstation.
export default defineConfig({
  base: './',
  resolve: { alias: { events: shim('events'), url: shim('url') } },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 8192, sourcemap: false },
  worker: { format: 'es' },
  // onnxruntime-web finds its .wasm with new URL(…, import.meta.url); pre-bundling in dev would move the module away from it.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080' } },
})
