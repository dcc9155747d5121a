/**
 * Viewer bench: time from a job's end event to the first drawn slice in all three viewports, and
 * the slice-scroll frame rate (each step awaited to its render), in headless Chromium with
 * software WebGL. Run: npx tsx bench/viewer.ts
 */
import path from 'node:path'
import { fixture, repoRoot } from '../tests/service/helpers.js'
import { hasChromium, openViewer, runJobInPage } from '../tests/e2e/harness.js'

if (!hasChromium) {
  console.log('bench:viewer needs /usr/bin/chromium (apt-get install chromium); skipped')
  process.exit(0)
}
const s = await openViewer({ width: 1500, height: 640 })
try {
  await runJobInPage(s.page, fixture('nifti/ixi-t1-small.nii.gz'))
  const ttf = await s.page.evaluate(() => {
    const t = (globalThis as any).raddiffViewer.timing
    return t.firstRender - t.requested
  })
  // Where the time to first slice goes: marks the viewer sets on the way (strings: tsx helpers do not exist in the page).
  const marks = (await s.page.evaluate(`(() => {
    const t0 = globalThis.raddiffViewer.timing.requested
    return performance.getEntriesByType('mark').filter((m) => m.name.startsWith('raddiff:') && m.startTime >= t0).map((m) => [m.name.slice(8), m.startTime - t0])
  })()`)) as [string, number][]
  const fps = await s.page.evaluate(() => (globalThis as any).raddiffViewer.scrollBench(40))
  await s.page.screenshot({ path: path.join(repoRoot, 'docs/viewer/anomaly-stub.png') })
  console.log(`time to first rendered slice after job end (volumes fetched + 3 viewports drawn): ${ttf.toFixed(0)} ms`)
  console.log(`  ${marks.map(([n, t]) => `${n} +${t.toFixed(0)}`).join(' · ')} ms`)
  console.log(`slice scroll, 3 linked viewports: ${fps.toFixed(1)} frames/s (40 slices, 60×60×45 volume, SwiftShader)`)
} finally {
  await s.close()
}
