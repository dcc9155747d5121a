/**
 * Portable seeded RNG: xoshiro128** (32-bit integer ops only, so identical on every JS engine and
 * CPU), seeded through splitmix32 from (seed, stream). Normals by Box-Muller in float64; V8's
 * Math.log/sin/cos are its own fdlibm port, so results do not depend on the platform's libm.
 * training/raddiff_train/make_goldens.py holds an independent Python port of this spec.
 */
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  private spare: number | null = null

  /** `stream` gives independent sequences for one seed (e.g. one per slice). */
  constructor(seed: number, stream = 0) {
    let st = mix32((seed ^ mix32((stream + 0x6a09e667) >>> 0)) >>> 0)
    const next = (): number => {
      st = (st + 0x9e3779b9) >>> 0
      return mix32(st)
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
  }

  nextU32(): number {
    const s1 = this.s1
    const m = Math.imul(s1, 5)
    const r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0
    const t = s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21)
    return r
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextU32() >>> 5
    const b = this.nextU32() >>> 6
    return (a * 67108864 + b) / 9007199254740992
  }

  normal(): number {
    if (this.spare !== null) {
      const z = this.spare
      this.spare = null
      return z
    }
    const u1 = 1 - this.uniform()
    const u2 = this.uniform()
    const r = Math.sqrt(-2 * Math.log(u1))
    this.spare = r * Math.sin(2 * Math.PI * u2)
    return r * Math.cos(2 * Math.PI * u2)
  }

  fillNormal(out: Float32Array, offset = 0, length = out.length - offset): Float32Array {
    for (let i = offset; i < offset + length; i++) out[i] = this.normal()
    return out
  }
}
