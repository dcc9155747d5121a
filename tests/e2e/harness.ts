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
export async function openViewer(viewport = { width: 1500, height: 640 }): Promise<Session> {
  ensureViewerBuilt()
  const server = await startTestServer({ runTask, modelsDir: path.join(repoRoot, 'fixtures/models') })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 })
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

/** Upload through the page's file input, start the task, wait for the three viewports to be drawn. */
export async function runJobInPage(page: Page, file: string, task = 'anomaly'): Promise<string> {
  await page.setInputFiles('#file-input', file)
  await page.waitForSelector('#series-list li.selected')
  await page.selectOption('#task', task)
  await page.click('#start')
  await page.waitForFunction(() => (globalThis as any).document.body.dataset.state === 'ready', undefined, { timeout: 30_000 })
  return page.evaluate(() => (globalThis as any).document.body.dataset.job as string)
}

/** Change a range input the way a user does (input events) and wait for the overlay viewport to redraw. */
export async function setRange(page: Page, selector: string, value: number): Promise<void> {
  const before = await page.evaluate(() => Number((globalThis as any).document.body.dataset.renders))
  await page.locator(selector).fill(String(value))
  await page.waitForFunction((b) => Number((globalThis as any).document.body.dataset.renders) > b, before)
  // The 2D mask layer is drawn in the same render callback; one more frame for the compositor.
  await page.evaluate(() => new Promise((r) => (globalThis as any).requestAnimationFrame(() => r(null))))
}
