import { Enums, init as csInit } from '@cornerstonejs/core'
import * as cst from '@cornerstonejs/tools'

export type Plane = 'axial' | 'coronal' | 'sagittal'

export const ENGINE = 'raddiff'
const TOOLGROUP = 'raddiff-tools'

export const ORIENT: Record<Plane, Enums.OrientationAxis> = {
  axial: Enums.OrientationAxis.AXIAL,
  coronal: Enums.OrientationAxis.CORONAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
}

let initialised = false
export async function initCornerstone(): Promise<void> {
  if (initialised) return
  // Tiled: one WebGL context for all viewports; the context pool left viewports blank under SwiftShader.
  await csInit({ rendering: { renderingEngineMode: Enums.RenderingEngineModeEnum.Tiled } } as Parameters<typeof csInit>[0])
  cst.init()
  for (const T of [cst.WindowLevelTool, cst.PanTool, cst.ZoomTool, cst.StackScrollTool]) cst.addTool(T)
  initialised = true
}

/** W/L drag (left), pan (middle), zoom (right), scroll (wheel) on every viewport. */
export function bindTools(viewportIds: string[]): void {
  const tg = cst.ToolGroupManager.getToolGroup(TOOLGROUP) ?? cst.ToolGroupManager.createToolGroup(TOOLGROUP)!
  const { MouseBindings } = cst.Enums
  for (const T of [cst.WindowLevelTool, cst.PanTool, cst.ZoomTool, cst.StackScrollTool]) tg.addTool(T.toolName)
  tg.setToolActive(cst.WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] })
  tg.setToolActive(cst.PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] })
  tg.setToolActive(cst.ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] })
  tg.setToolActive(cst.StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] })
  for (const id of viewportIds) tg.addViewport(id, ENGINE)
}

/** One camera for all: slice, zoom and pan move together. */
export function linkCameras(viewportIds: string[]): cst.Synchronizer {
  const cam = cst.SynchronizerManager.getSynchronizer('raddiff-camera') ?? cst.synchronizers.createCameraPositionSynchronizer('raddiff-camera')
  for (const id of viewportIds) cam.add({ renderingEngineId: ENGINE, viewportId: id })
  return cam
}
