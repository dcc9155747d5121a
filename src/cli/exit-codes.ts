/** Documented exit codes: scripts depend on them. */
export const EXIT = {
  OK: 0,
  /** Unexpected internal error (a bug: please report it). */
  INTERNAL: 1,
  USAGE: 2,
  NO_USABLE_INPUT: 3,
  PARTIAL_FAILURE: 4,
} as const
