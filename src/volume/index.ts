export * from './volume.js'
export * from './voxel-array.js'
export * from './metadata.js'
