import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'

/**
 * Layout of the storage root, which every node of a service mounts (NFS, CephFS, a Kubernetes
 * ReadWriteMany volume): uploads/<id>/ and results/<job>/. An upload is written under
 * incoming/<id>/ and renamed into place in one step once it is complete and checked, so a
 * node that dies mid-upload leaves nothing another node would take for a stored scan. The rename
 * stays on one filesystem (the root), which is what makes it atomic there.
 */
/** Creates the root's folders (a fresh root with PostgreSQL as the store has nothing in it yet). */
export async function prepareStorageRoot(root: string): Promise<void> {
  for (const d of ['uploads', 'results', 'incoming']) await mkdir(path.join(root, d), { recursive: true })
}

export const uploadDir = (root: string, uploadId: string): string => path.join(root, 'uploads', uploadId)
export const partialUploadDir = (root: string, uploadId: string): string => path.join(root, 'incoming', uploadId)

export async function createPartialUpload(root: string, uploadId: string): Promise<string> {
  const dir = partialUploadDir(root, uploadId)
  await mkdir(dir, { recursive: true })
  await mkdir(path.join(root, 'uploads'), { recursive: true })
  return dir
}

/** Moves a complete upload into place; afterwards workers on any node can open it. */
export async function publishUpload(root: string, uploadId: string): Promise<string> {
  const to = uploadDir(root, uploadId)
  await rename(partialUploadDir(root, uploadId), to)
  return to
}

/**
 * Removes partial uploads older than `maxAgeMs`: those of a node that died mid-upload. Younger
 * ones may be in flight on another node, so they stay.
 */
export async function sweepPartialUploads(root: string, maxAgeMs: number): Promise<number> {
  const dir = path.join(root, 'incoming')
  let n = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const st = await stat(path.join(dir, name)).catch(() => undefined)
    if (st && Date.now() - st.mtimeMs > maxAgeMs) {
      await rm(path.join(dir, name), { recursive: true, force: true })
      n++
    }
  }
  return n
}
