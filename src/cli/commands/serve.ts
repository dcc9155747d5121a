import path from 'node:path'
import { startServer } from '../../service/server.js'
import { EXIT } from '../exit-codes.js'

export interface ServeCliOptions {
  port?: string
  host?: string
  data?: string
  modelsDir?: string
  concurrency?: string
}

/** `raddiff serve`: the HTTP API (and later the viewer); runs until SIGTERM / SIGINT, which drain. */
export async function serveCommand(o: ServeCliOptions): Promise<number> {
  const port = Number(o.port ?? process.env.PORT ?? 8080)
  const concurrency = Number(o.concurrency ?? process.env.RADDIFF_CONCURRENCY ?? 1)
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(concurrency) || concurrency < 1) {
    process.stderr.write('raddiff serve: --port must be 0–65535 and --concurrency a positive integer\n')
    return EXIT.USAGE
  }
  const { url } = await startServer({
    port,
    host: o.host ?? process.env.HOST ?? '127.0.0.1',
    dataDir: path.resolve(o.data ?? process.env.RADDIFF_DATA_DIR ?? 'data'),
    modelsDir: o.modelsDir,
    concurrency,
    logger: true,
    handleSignals: true,
  })
  process.stderr.write(`raddiff serve: listening on ${url} (API docs at ${url}/docs)\n`)
  return EXIT.OK
}
