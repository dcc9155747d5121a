/** Grid tuples, in a file of their own with no imports so browser code (the viewer's preview) can share them. */
export type Vec3 = [number, number, number]
export type Mat3 = [number, number, number, number, number, number, number, number, number]
