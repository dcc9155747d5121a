/** Numbers for captions and probes: 3 significant-ish digits, exponent for the very small or large. */
export function fmt(x: number): string {
  const a = Math.abs(x)
  if (a !== 0 && (a < 0.01 || a >= 1e5)) return x.toExponential(2)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(3)
}
