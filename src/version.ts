import { readFileSync } from 'node:fs'

/** Read once from package.json so provenance always names the version that ran. */
export const RADDIFF_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version

export const NOT_FOR_CLINICAL_USE = 'NOT FOR CLINICAL USE'
