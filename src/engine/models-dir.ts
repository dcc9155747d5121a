import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The shipped models/ folder of this installation, unless RADDIFF_MODELS_DIR points elsewhere. */
export function defaultModelsDir(): string {
  const env = process.env.RADDIFF_MODELS_DIR
  if (env) return path.resolve(env)
  // src/engine (tsx, vitest) and dist/engine (built) both sit two levels below the package root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models')
}
