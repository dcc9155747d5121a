/** Display window in real units (HU for CT): values below center - width/2 are black, above center + width/2 white. */
export interface DisplayWindow {
  center: number
  width: number
}

/** The 1st–99th percentile of the finite values: a robust default when a file names no window. */
export function percentileWindow(values: ArrayLike<number>, lowPct = 1, highPct = 99): DisplayWindow {
  const finite = Float64Array.from(Array.prototype.filter.call(values, Number.isFinite) as number[]).sort()
  if (finite.length === 0) return { center: 0, width: 1 }
  const at = (p: number) => finite[Math.min(finite.length - 1, Math.max(0, Math.round((p / 100) * (finite.length - 1))))]
  const lo = at(lowPct)
  const hi = at(highPct)
  return hi > lo ? { center: (lo + hi) / 2, width: hi - lo } : { center: lo, width: 1 }
}

/** Linear map of [center - width/2, center + width/2] onto 0…255, clamped; NaN → 0. */
export function windowTo8Bit(values: ArrayLike<number>, w: DisplayWindow): Uint8Array {
  const width = w.width > 0 ? w.width : 1e-12
  const lo = w.center - width / 2
  const out = new Uint8Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const t = (values[i] - lo) / width
    out[i] = Number.isNaN(t) ? 0 : Math.round(255 * Math.min(1, Math.max(0, t)))
  }
  return out
}
