import type { SeriesSummary } from '../io/summary.js'

const n = (x: number, d = 3) => Number(x.toFixed(d)).toString()
const vec = (v: number[], d = 3) => v.map((x) => n(x, d)).join(' × ')

/** Single-letter LPS axis label for a direction column, e.g. "L", "P", "S" or "oblique". */
function axisLabel(col: number[]): string {
  const labels = [['L', 'R'], ['P', 'A'], ['S', 'I']]
  const i = col.map(Math.abs).reduce((best, v, idx, a) => (v > a[best] ? idx : best), 0)
  const pure = Math.abs(col[i]) > 0.999
  return labels[i][col[i] >= 0 ? 0 : 1] + (pure ? '' : '~')
}

export function orientationCode(direction: number[]): string {
  return [0, 1, 2].map((j) => axisLabel([direction[j], direction[3 + j], direction[6 + j]])).join('')
}

export function formatSummary(s: SeriesSummary, index: number, total: number): string {
  const lines = [
    `series ${index + 1}/${total}: ${s.format.toUpperCase()} ${s.modality}  ${s.source}${s.files > 1 ? ` (${s.files} files)` : ''}`,
    `  size ${s.size.join(' × ')}${s.components > 1 ? ` × ${s.components} components` : ''}   ${s.voxelType}`,
    `  spacing ${vec(s.spacing, 4)} mm   origin (${vec(s.origin, 2).replaceAll(' × ', ', ')}) mm LPS`,
    `  direction ${orientationCode(s.direction)} [${s.direction.map((x) => n(x, 4)).join(' ')}]`,
  ]
  if (s.transferSyntax) lines.push(`  transfer syntax ${s.transferSyntax.name} (${s.transferSyntax.uid})`)
  for (const w of s.warnings) lines.push(`  warning: ${w}`)
  return lines.join('\n')
}
