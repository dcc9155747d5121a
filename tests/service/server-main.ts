import { startServer } from '../../src/service/server.js'

/**
 * The service as its own process, for tests that kill it: forked workers run the module named by
 * RADDIFF_TASK_MODULE. Prints "LISTENING <url>" once it serves.
 */
const { url } = await startServer({
  port: 0,
  host: '127.0.0.1',
  dataDir: process.env.RADDIFF_DATA_DIR!,
  modelsDir: process.env.RADDIFF_MODELS_DIR,
  taskModule: process.env.RADDIFF_TASK_MODULE,
  drainTimeoutMs: Number(process.env.RADDIFF_DRAIN_MS ?? 10_000),
  logger: process.env.RADDIFF_TEST_LOG ? true : false,
  handleSignals: true,
})
process.stdout.write(`LISTENING ${url}\n`)
