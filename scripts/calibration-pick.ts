/**
 * How calibrate-restoration picks among candidate settings, given each candidate's PSNRs (one per
 * subject × level): the best mean, or, for the noise scale, the smallest candidate within `tie` dB of it.
 */

export type Scores = Map<number, number[]>

export const push = (m: Scores, k: number, v: number): void => void m.set(k, [...(m.get(k) ?? []), v])

export const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length

export const means = (m: Scores): [number, number][] => [...m].map(([k, v]) => [k, mean(v)])

export const best = (m: Scores): [number, number] => {
  if (m.size === 0) throw new Error('no candidates were scored')
  return means(m).sort((a, b) => b[1] - a[1])[0]
}

export function checkTie(tie: number): number {
  if (!(tie >= 0)) throw new Error(`--tie ${tie}: a non-negative number of dB`)
  return tie
}

// a noise scale within `tie` dB of the best counts as a tie, and the smallest of the tied scales wins: it
// smooths least, which the striping target (slice-to-slice difference near the clean volume's) rewards and
// PSNR on two subjects cannot resolve (brain-t1 0.3.2: 0.85 over 0.75 by 0.003 dB smoothed the 5 % striping
// ratio from 0.93 to 0.88 on the same subjects)
export function leastSmoothing(m: Scores, tie: number): [number, number] {
  checkTie(tie)
  const [, top] = best(m)
  return means(m).filter(([, p]) => p >= top - tie).sort((a, b) => a[0] - b[0])[0]
}

/** One (scale, blend) setting at one noise level: its mean PSNR and slice-to-slice ratio to the clean volume's over the subjects. */
export interface TextureCandidate {
  scale: number
  blend: number
  psnr: number
  ratio: number
}

export function checkBand(band: number): number {
  if (!(band > 0 && band <= 1)) throw new Error(`--texture ${band}: a ratio in (0, 1]`)
  return band
}

// the striping target asks the output's slice-to-slice variation to stay near the clean volume's, and a
// posterior mean falls below it as the noise grows: among the settings whose ratio lies in [band, 2 − band]
// the best PSNR wins (within `tie` dB, the ratio nearest 1); when none does, the one nearest the band
export function bestWithTexture(cands: readonly TextureCandidate[], band: number, tie: number): TextureCandidate & { inBand: boolean } {
  checkBand(band)
  checkTie(tie)
  if (cands.length === 0) throw new Error('no candidates were scored')
  const off = (c: TextureCandidate): number => Math.abs(1 - c.ratio)
  const ok = cands.filter((c) => off(c) <= 1 - band)
  if (ok.length === 0) return { ...[...cands].sort((a, b) => off(a) - off(b) || b.psnr - a.psnr)[0], inBand: false }
  const top = Math.max(...ok.map((c) => c.psnr))
  return { ...ok.filter((c) => c.psnr >= top - tie).sort((a, b) => off(a) - off(b) || b.psnr - a.psnr)[0], inBand: true }
}
