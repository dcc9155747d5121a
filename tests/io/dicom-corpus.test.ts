import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { listCorpus, parseMarkdown, runOne } from '../../scripts/dicom-corpus.js'

const repo = path.resolve(import.meta.dirname, '../..')
const root = path.resolve(repo, '../shared/data/dicom')
const table = path.join(repo, 'docs/dicom-corpus.md')

describe.skipIf(!existsSync(root) || !existsSync(table))('every file in shared/data/dicom', () => {
  it('loads or is rejected with a typed error, as recorded in docs/dicom-corpus.md', { timeout: 600_000 }, async () => {
    const expected = parseMarkdown(readFileSync(table, 'utf8'))
    const files = listCorpus(root).filter((f) => statSync(f).size > 0)
    expect(files.length).toBeGreaterThan(100)
    const mismatches: string[] = []
    for (const f of files) {
      const r = await runOne(f, root)
      // Hang guard: no single file may take more than 20 s on a 2-core machine.
      if (r.ms > 20_000) mismatches.push(`${r.file}: took ${r.ms} ms`)
      if (r.outcome === 'crashed') mismatches.push(`${r.file}: untyped error ${r.detail}`)
      const want = expected.get(r.file)
      if (!want) mismatches.push(`${r.file}: not in the table (regenerate it)`)
      else if (want.outcome !== r.outcome || want.detail !== r.detail) {
        mismatches.push(`${r.file}: expected ${want.outcome} ${want.detail}, got ${r.outcome} ${r.detail}`)
      }
    }
    expect(mismatches).toEqual([])
  })
})
