/**
 * Browser stand-in for Node's `events`: xmlbuilder2 (reached through dcmjs from
 * @cornerstonejs/metadata) subclasses EventEmitter at import time, so the bundle needs one.
 */
type Listener = (...args: unknown[]) => void

export class EventEmitter {
  private listeners = new Map<string | symbol, Listener[]>()
  on(event: string | symbol, fn: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn])
    return this
  }
  addListener(event: string | symbol, fn: Listener): this {
    return this.on(event, fn)
  }
  once(event: string | symbol, fn: Listener): this {
    const once: Listener = (...a) => {
      this.off(event, once)
      fn(...a)
    }
    return this.on(event, once)
  }
  off(event: string | symbol, fn: Listener): this {
    this.listeners.set(event, (this.listeners.get(event) ?? []).filter((f) => f !== fn))
    return this
  }
  removeListener(event: string | symbol, fn: Listener): this {
    return this.off(event, fn)
  }
  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this.listeners.clear()
    else this.listeners.delete(event)
    return this
  }
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const l = this.listeners.get(event) ?? []
    for (const f of l) f(...args)
    return l.length > 0
  }
}

export default EventEmitter
