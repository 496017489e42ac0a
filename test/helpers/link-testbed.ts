// What the transport test files share: a loopback HyperDHT testnet made before the file's tests and destroyed
// after them, a test federation, and the link managers the tests make (closed after the tests, before the
// testnet), plus linking two of them and waiting for a condition.

import { after, before } from 'node:test'
import { LocalTestnet } from '../../src/discovery/testnet.js'
import type { LinkManager, PeerLink } from '../../src/transport/index.js'
import { linkManagers, TestFederation, type TestNode } from '../../src/transport/testing.js'

export interface LinkTestbed {
  readonly fed: TestFederation
  /** A link manager for `node`, closed after the file's tests. */
  manager(node: TestNode, opts?: Parameters<TestFederation['linkManager']>[1]): LinkManager
  /** Connects two nodes' managers over the testnet; resolves with [a's link to b, b's link to a]. */
  link(a: TestNode, la: LinkManager, b: TestNode, lb: LinkManager): Promise<[PeerLink, PeerLink]>
  /** The testnet (after the file's before hook ran). */
  readonly net: LocalTestnet
}

/** Call at the top of a test file: registers the before/after hooks. */
export function linkTestbed(): LinkTestbed {
  let net: LocalTestnet | null = null
  const managers: LinkManager[] = []
  before(async () => {
    net = await LocalTestnet.create()
  })
  after(async () => {
    await Promise.all(managers.map((m) => m.close()))
    await net?.destroy()
  })
  const fed = new TestFederation()
  return {
    fed,
    manager(node, opts = {}) {
      const m = fed.linkManager(node, opts)
      managers.push(m)
      return m
    },
    link(a, la, b, lb) {
      return linkManagers(this.net, [a, la], [b, lb])
    },
    get net(): LocalTestnet {
      if (net === null) throw new Error('the testnet exists once the before hook ran')
      return net
    },
  }
}

/** Polls until `check` holds (bounded), so a test waits for a state instead of for a fixed time. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms
  while (!check()) {
    if (performance.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
