/**
 * Rendering resolution as a fraction of the screen's. Cornerstone3D sizes its canvases and maps
 * canvas ↔ world with window.devicePixelRatio alone, so scaling that value is the one knob that
 * lowers the resolution of the WebGL pass (its cost grows with the pixel count: software WebGL on
 * a small CPU draws ~4× faster at half scale) while every coordinate stays in CSS pixels.
 */
const native = Object.getOwnPropertyDescriptor(Window.prototype, 'devicePixelRatio') ?? Object.getOwnPropertyDescriptor(window, 'devicePixelRatio')
const nativeRatio = (): number => (native?.get ? (native.get.call(window) as number) : 1) || 1
let scale = 1

Object.defineProperty(window, 'devicePixelRatio', { configurable: true, get: () => nativeRatio() * scale })

export const renderScale = (): number => scale

/** Sets the fraction; true when it changed (the caller then resizes the rendering engine). */
export function setRenderScale(s: number): boolean {
  if (s === scale) return false
  scale = s
  return true
}
