/**
 * How calibrate-restoration picks among candidate settings, given each candidate's PSNRs (one per
 * subject × level): the best mean, or, for the noise scale, the smallest candidate within `tie` dB of it.
 */

export type Scores = Map<number, number[]>

export const push = (m: Scores, k: number, v: number): void => void m.set(k, [...(m.get(k) ?? []), v])

export const means = (m: Scores): [number, number][] => [...m].map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length])

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
