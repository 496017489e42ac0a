// The daemon's bus on the mesh (src/daemon/bus-node.ts): attached to a network whose links and routes are
// already up (links can come up while the WireGuard interface still starts), it sends along the plan in force
// at once, not only after the next plan. The network here is a stand-in for NetworkCore's links and routing.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { Registry } from 'prom-client'
import { BusNode } from '../../src/daemon/bus-node.js'
import type { NetworkCore } from '../../src/daemon/network.js'

const A = 'node_aaaaaaaaaaaaaaaa'
const B = 'node_bbbbbbbbbbbbbbbb'
const C = 'node_cccccccccccccccc'

function network(routes: { destination: string; nextHop: string }[]) {
  const sent: string[] = []
  const link = Object.assign(new EventEmitter(), {
    send: (channel: string) => {
      sent.push(channel)
      return true
    },
  })
  const links = Object.assign(new EventEmitter(), {
    peers: () => [B],
    get: (peer: string) => (peer === B ? link : undefined),
  })
  const routing = Object.assign(new EventEmitter(), {
    plan: { routes: routes.map((r) => ({ ...r, costMicros: 1000 })) },
    lsdb: { get: () => undefined },
  })
  return { net: { links, routing } as unknown as NetworkCore, sent, routing }
}

test('a bus attached after the routes were planned sends along them at once', async () => {
  const { net, sent } = network([
    { destination: B, nextHop: B },
    { destination: C, nextHop: B },
  ])
  const node = new BusNode(A, new Registry(), pino({ level: 'silent' }))
  try {
    node.attach(net)
    // C is reached through B, the only link: the message goes out on B's bus channel.
    await node.bus.send({ node: C, agent: '' }, Buffer.from('hello'))
    assert.deepEqual(sent, ['bus'])
  } finally {
    node.close()
  }
})
