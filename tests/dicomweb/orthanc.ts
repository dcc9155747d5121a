import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** Debian's orthanc + orthanc-dicomweb; tests skip when either is missing. */
export const DICOMWEB_PLUGIN = ['/usr/share/orthanc/plugins/libOrthancDicomWeb.so', '/usr/lib/orthanc/libOrthancDicomWeb.so.1.7'].find(existsSync)
export const hasOrthanc = spawnSync('Orthanc', ['--version'], { stdio: 'ignore' }).status === 0 && DICOMWEB_PLUGIN !== undefined

export const USER = 'raddiff'
export const PASSWORD = 'test-secret'

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export interface OrthancInstance {
  port: number
  /** DICOMweb root, e.g. http://127.0.0.1:PORT/dicom-web */
  dicomweb: string
  /** The same as a raddiff input/push URL prefix. */
  url: string
  auth: string
  /** Orthanc's REST API (for checks only: the code under test speaks DICOMweb). */
  rest(p: string, init?: RequestInit): Promise<Response>
  stop(): Promise<void>
  /** Starts a stopped instance again on the same port and storage. */
  restart(): Promise<void>
  dispose(): Promise<void>
}

/**
 * A private Orthanc with the DICOMweb plugin on a loopback port, a temporary storage folder and
 * a generated configuration with HTTP basic auth; never the system service.
 */
export async function startOrthanc(): Promise<OrthancInstance> {
  const dir = await mkdtemp(path.join(tmpdir(), 'raddiff-orthanc-'))
  const port = await freePort()
  const config = {
    Name: 'raddiff-test',
    StorageDirectory: path.join(dir, 'db'),
    IndexDirectory: path.join(dir, 'db'),
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: true,
    RegisteredUsers: { [USER]: PASSWORD },
    HttpCompressionEnabled: false,
    StorageCompression: false,
    ConcurrentJobs: 1,
    HttpThreadsCount: 4,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false, Host: `127.0.0.1:${port}`, Ssl: false },
  }
  const configFile = path.join(dir, 'orthanc.json')
  await writeFile(configFile, JSON.stringify(config, null, 2))
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
  let child: ChildProcess | undefined
  let log = ''
  const start = async () => {
    child = spawn('Orthanc', [configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d) => (log = (log + d).slice(-4000)))
    child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)))
    const t0 = Date.now()
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/dicom-web/studies`, { headers: { authorization: auth } })
        await r.arrayBuffer()
        if (r.ok) return
      } catch {
        // not up yet
      }
      if (child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`Orthanc did not start: ${log}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const stop = async () => {
    const c = child
    if (!c || c.exitCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
    if (c.exitCode === null) c.kill('SIGKILL')
  }
  await start()
  return {
    port,
    dicomweb: `http://127.0.0.1:${port}/dicom-web`,
    url: `dicomweb+http://127.0.0.1:${port}/dicom-web`,
    auth,
    rest: (p, init) => fetch(`http://127.0.0.1:${port}${p}`, { ...init, headers: { authorization: auth, ...(init?.headers ?? {}) } }),
    stop,
    restart: start,
    dispose: async () => {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
