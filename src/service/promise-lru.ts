/** The last `size` promised values by key; a rejected one is dropped so the next get tries again. */
export class PromiseLru<T> {
  private entries = new Map<string, Promise<T>>()
  constructor(private readonly size: number) {}
  get(key: string, make: () => Promise<T>): Promise<T> {
    let v = this.entries.get(key)
    if (!v) {
      const made = make()
      // drop only this promise's own entry: the key may have been evicted and made again since
      made.catch(() => {
        if (this.entries.get(key) === made) this.entries.delete(key)
      })
      v = made
    }
    this.entries.delete(key)
    this.entries.set(key, v)
    while (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!)
    return v
  }
}
