import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { repoRoot, startTestServer, type TestServer } from '../service/helpers.js'
import { runTask } from './stub-task.js'

export const CHROMIUM = process.env.RADDIFF_CHROMIUM ?? '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)
export const viewerDist = path.join(repoRoot, 'viewer/dist')

/** Flags for headless Chromium in containers: no sandbox, software WebGL (SwiftShader), no network chatter. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** WebGPU on SwiftShader (a CPU adapter): without these flags headless Chromium offers no adapter. */
export const WEBGPU_SWIFTSHADER_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader']

/** The service serves viewer/dist; build it once when the set-up did not. */
export function ensureViewerBuilt(): void {
  if (existsSync(path.join(viewerDist, 'index.html'))) return
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build', 'viewer', '--logLevel', 'warn'], { cwd: repoRoot, stdio: 'inherit' })
}

export interface Session {
  server: TestServer
  browser: Browser
  page: Page
  close(): Promise<void>
}

/** The real service (stub task runner) on an ephemeral port and one Chromium page on it. */
export async function openViewer(viewport = { width: 1500, height: 640 }, extraArgs: string[] = []): Promise<Session> {
  ensureViewerBuilt()
  const server = await startTestServer({ runTask, modelsDir: path.join(repoRoot, 'fixtures/models') })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] })
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 })
  // No clock of Playwright's own on any wait (its default gives up after 30 s): on a loaded 2-core
  // machine a wait for a render, a response or a selector is only slower. The 8 MB bundle loads
  // slowly too. Vitest's hook and test timeouts bound a hung browser.
  page.setDefaultTimeout(0)
  await page.goto(server.url + '/')
  return {
    server,
    browser,
    page,
    async close() {
      await browser.close()
      await server.close()
    },
  }
}

/**
 * Upload through the page's file input and wait for that upload's series to be selected. Waits
 * on events (the response, the page's own marks), never on time: a loaded machine is only slower.
 */
export async function uploadInPage(page: Page, file: string): Promise<string> {
  const res = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/v1/scans'))
  await page.setInputFiles('#file-input', file)
  const body = (await (await res).json()) as { scans: { id: string }[] }
  const id = body.scans[0].id
  await page.waitForSelector(`#series-list li.selected[data-scan="${id}"]`)
  return id
}

/** Click start and return the job id from the service's answer (202). */
export async function startJobInPage(page: Page): Promise<{ id: string; body: any }> {
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/v1/jobs'))
  await page.click('#start')
  const res = await posted
  const body = await res.json()
  if (res.status() !== 202) throw new Error(`POST /v1/jobs answered ${res.status()}: ${JSON.stringify(body)}`)
  return { id: body.id, body }
}

/** Upload, start the task, wait until the three viewports show this job's results. */
export async function runJobInPage(page: Page, file: string, task = 'anomaly'): Promise<string> {
  await uploadInPage(page, file)
  await page.selectOption('#task', task)
  const { id } = await startJobInPage(page)
  await waitShown(page, id)
  return id
}

/** The viewer marks `body[data-shown]` with the job whose views it has drawn. */
export async function waitShown(page: Page, jobId: string): Promise<void> {
  await page.waitForFunction((id) => (globalThis as any).document.body.dataset.shown === id, jobId, { timeout: 0 })
}

/** Change a range input the way a user does (input events) and wait for the overlay viewport to redraw. */
export async function setRange(page: Page, selector: string, value: number): Promise<void> {
  const before = await page.evaluate(() => Number((globalThis as any).document.body.dataset.renders))
  await page.locator(selector).fill(String(value))
  await page.waitForFunction((b) => Number((globalThis as any).document.body.dataset.renders) > b, before)
  // The 2D mask layer is drawn in the same render callback; one more frame for the compositor.
  await page.evaluate(() => new Promise((r) => (globalThis as any).requestAnimationFrame(() => r(null))))
}
