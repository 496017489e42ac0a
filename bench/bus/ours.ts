// Our side of the bus measurements: a pair of routers (daemons A and B on a bridge of their own, A routing to B)
// and the adapter that runs the workloads (workload.ts) over a client's bus stream. Used by the `bus` suite and
// bench/tools/bus-ab.ts.

import type { Lab } from '../../netns-tests/lib/lab.js'
import type { MeshNode } from '../../netns-tests/lib/mesh.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import { BlackroadClient, type BusStream } from '../../src/client/index.js'
import { dhtAddress, type OurMesh } from '../net/ours.js'
import type { BusSide } from './workload.js'

export function ourSide(s: BusStream): BusSide {
  return {
    publish: (subject, payload) => s.publish(subject, payload),
    shouldDrain: () => s.needsDrain,
    drain: () => s.drain(),
    subscribe: async (subject, onMessage) => {
      await s.subscribed(s.subscribe(subject, onMessage))
    },
    respond: async (subject) => {
      await s.subscribed(s.respond(subject, (m) => m.data))
    },
    request: async (subject, payload, timeoutMs) => {
      await s.request(subject, payload, { timeoutMs })
    },
    close: () => s.close(),
  }
}

/** A fresh bus-stream client on `n`'s daemon, as a workload side. */
export async function ourClient(n: MeshNode): Promise<BusSide> {
  return ourSide(await new BlackroadClient({ socketPath: n.daemon!.socketPath }).connect())
}

/**
 * Hosts `<prefix>a` and `<prefix>b` on bridge `bridge`, a daemon of `mesh` on each with `config` (a runs the DHT
 * bootstrap), both started; resolves once A has a route to B.
 */
export async function startRouterPair(
  lab: Lab,
  mesh: OurMesh,
  opts: { bridge: string; prefix: string; config: Record<string, Record<string, unknown>> },
): Promise<[MeshNode, MeshNode]> {
  const lan = await lab.bridge(opts.bridge)
  const a = await lab.host(`${opts.prefix}a`)
  const b = await lab.host(`${opts.prefix}b`)
  await lab.attach(a, lan)
  await lab.attach(b, lan)
  const [na, nb] = (await mesh.enrol(
    [
      { host: a, config: opts.config },
      { host: b, config: opts.config },
    ],
    [dhtAddress(a)],
  )) as [MeshNode, MeshNode]
  await Promise.all([mesh.start(na, true), mesh.start(nb, true)])
  const c = new BlackroadClient({ socketPath: na.daemon!.socketPath })
  try {
    await waitFor(async () => (await c.routes()).some((r) => r.destination === nb.node.nodeId), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `a route from ${opts.prefix}a to ${opts.prefix}b`,
    })
  } finally {
    c.close()
  }
  return [na, nb]
}
