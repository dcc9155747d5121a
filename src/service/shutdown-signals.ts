/** SIGTERM / SIGINT run `stop` once, then exit 0, or 1 when stopping failed. */
export function exitOnSignals(stop: () => Promise<void>): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      void stop().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    })
  }
}
