// The babeld anchor (Debian babeld 1.12): one babeld per lab host, configured on the command line as
// ../shared/anchors/babel-converge.sh does: wired interfaces, hello interval H, timestamps on and the RTT metric
// made effective (max-rtt-penalty 96, rtt-min 10, rtt-max 120: babeld's own defaults for tunnels; on wired
// interfaces the penalty defaults to 0, which would leave babeld blind to latency), no carrier sense (-l).
// Routes are read from the kernel, where babeld installs them (proto babel).

import path from 'node:path'
import type { Lab } from '../../netns-tests/lib/lab.js'
import type { Proc } from '../../netns-tests/lib/proc.js'
import type { Host } from '../../netns-tests/lib/topology.js'

export const BABEL_RTT = { maxRttPenalty: 96, rttMin: 10, rttMax: 120 }

export function babelSettings(helloS: number): string {
  return `babeld: type wired, hello-interval ${helloS} s (update ${4 * helloS} s), enable-timestamps true, max-rtt-penalty ${BABEL_RTT.maxRttPenalty}, rtt-min ${BABEL_RTT.rttMin} ms, rtt-max ${BABEL_RTT.rttMax} ms, no carrier sense (-l off)`
}

let seq = 0

/** Starts babeld in host on the given interfaces; stop it with proc.stop() (it removes its routes on exit). */
export function startBabeld(lab: Lab, host: Host, ifaces: readonly string[], helloS: number): Proc {
  const base = path.join(lab.scratchDir, `babeld-${host.name}-${seq++}`)
  const conf = `default type wired hello-interval ${helloS} enable-timestamps true max-rtt-penalty ${BABEL_RTT.maxRttPenalty} rtt-min ${BABEL_RTT.rttMin} rtt-max ${BABEL_RTT.rttMax}`
  return host.spawn(
    ['babeld', '-c', '/dev/null', '-I', `${base}.pid`, '-S', `${base}.state`, '-C', conf, ...ifaces],
    {
      logName: 'babeld',
    },
  )
}

/** The interface of host's kernel route to dst (a /32), or null when there is none. */
export async function routeDev(host: Host, dst: string): Promise<string | null> {
  const r = await host.exec(['ip', '-4', 'route', 'show', `${dst}/32`], { timeoutMs: 5_000 })
  return / dev (\S+)/.exec(r.stdout)?.[1] ?? null
}

/** Removes whatever babeld left in host's routing table (it flushes on a clean exit; this is for a killed one). */
export async function flushBabelRoutes(host: Host): Promise<void> {
  await host.exec(['ip', '-4', 'route', 'flush', 'proto', 'babel'], { timeoutMs: 5_000 })
  await host.exec(['ip', '-6', 'route', 'flush', 'proto', 'babel'], { timeoutMs: 5_000 })
}
