// A real daemon whose clock is wrong: the environment (for DaemonOptions.env) that makes node load, before the
// daemon, a module setting Date.now() and `new Date()` off by a fixed amount. A node holding a certificate that
// expired ten minutes ago, with its clock twenty minutes behind, believes the certificate valid and joins like any
// member; only its peers' checks (with the right time) can refuse it. The monotonic clock (performance.now) is
// left alone, so timers and RTT measurements are unaffected. The module is written into the lab's scratch dir at
// run time, so it works for tests run from source or from dist.

import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Lab } from './lab.js'

const PRELOAD = `
const shift = Number(process.env.BRT_CLOCK_SHIFT_MS || 0)
const RealDate = Date
const realNow = RealDate.now.bind(RealDate)
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + shift)
    else super(...args)
  }
  static now() {
    return realNow() + shift
  }
}
globalThis.Date = ShiftedDate
`

/** Env that runs the daemon with its wall clock shifted by shiftMs (negative: behind). */
export function clockShiftEnv(lab: Lab, shiftMs: number): Record<string, string> {
  const file = path.join(lab.scratchDir, 'clock-shift.mjs')
  writeFileSync(file, PRELOAD)
  return { NODE_OPTIONS: `--import=${pathToFileURL(file).href}`, BRT_CLOCK_SHIFT_MS: String(shiftMs) }
}
