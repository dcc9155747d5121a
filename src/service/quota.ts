import { statfs } from 'node:fs/promises'
import type { ServiceContext } from './context.js'
import { HttpError } from './errors.js'

/** 507 when the user's quota or the disk's free space would be exceeded by `extra` bytes. */
export async function checkQuota(ctx: ServiceContext, user: string, extra: number): Promise<void> {
  if ((await ctx.store.usage(user)) + extra > ctx.limits.userQuotaBytes) {
    throw new HttpError('QUOTA_EXCEEDED', 'your storage quota is used up; delete scans or jobs first')
  }
  const fs = await statfs(ctx.dataDir)
  if (fs.bavail * fs.bsize - extra < ctx.limits.minFreeBytes) {
    throw new HttpError('QUOTA_EXCEEDED', 'the server is out of disk space; try again later')
  }
}
