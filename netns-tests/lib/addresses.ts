// The address plan of a lab. Everything lives in 10.231.0.0/16 and the ULA fd62:7274::/48 ("br" "t"), which are
// used only inside the lab's namespaces: the root namespace has no interface, address or route in them, so lab
// traffic can never leak onto the machine's real networks, and two labs may reuse the same addresses because
// each lives in its own namespaces.
//
//   bridges (switched LANs)  10.231.<1..127>.0/24        fd62:7274:0:<n>::/64     hosts get .1, .2, ...
//   point-to-point links     10.231.128.0/17 in /30s     fd62:7274:1:<i>::/64     ends get .1 and .2 (::1, ::2)

import { HarnessError } from './errors.js'

export const LAB_V4_RANGE = '10.231.0.0/16'
export const LAB_V6_RANGE = 'fd62:7274::/48'

const MAX_BRIDGES = 127
const MAX_P2P = (128 * 256) / 4

export interface Subnet {
  /** 10.231.3.0/24 */
  cidr4: string
  /** fd62:7274:0:3::/64 */
  cidr6: string
  prefix4: number
  /** Address number i inside the subnet: v4(2) = 10.231.3.2 */
  v4(i: number): string
  v6(i: number): string
  /** Largest usable host number. */
  maxHost: number
}

function v4Subnet(base: number, prefix: number): Pick<Subnet, 'cidr4' | 'prefix4' | 'v4' | 'maxHost'> {
  const size = 2 ** (32 - prefix)
  const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
  return {
    cidr4: `${dotted(base)}/${prefix}`,
    prefix4: prefix,
    maxHost: size - 2,
    v4(i: number) {
      if (!Number.isInteger(i) || i < 1 || i > size - 2) {
        throw new HarnessError('ADDRESS_PLAN', `host number ${i} outside ${dotted(base)}/${prefix}`)
      }
      return dotted(base + i)
    },
  }
}

function v6Subnet(prefix64: string): Pick<Subnet, 'cidr6' | 'v6'> {
  return { cidr6: `${prefix64}::/64`, v6: (i: number) => `${prefix64}::${i.toString(16)}` }
}

const LAB_BASE = (10 << 24) | (231 << 16)

export class AddressPlan {
  private bridges = 0
  private links = 0

  /** A /24 (and /64) for a new bridge. */
  nextBridge(): Subnet {
    if (this.bridges >= MAX_BRIDGES)
      throw new HarnessError('ADDRESS_PLAN', `more than ${MAX_BRIDGES} bridges in one lab`)
    const n = ++this.bridges
    return { ...v4Subnet((LAB_BASE | (n << 8)) >>> 0, 24), ...v6Subnet(`fd62:7274:0:${n.toString(16)}`) }
  }

  /** A /30 (and /64) for a new point-to-point link. */
  nextLink(): Subnet {
    if (this.links >= MAX_P2P) throw new HarnessError('ADDRESS_PLAN', `more than ${MAX_P2P} links in one lab`)
    const i = this.links++
    return { ...v4Subnet((LAB_BASE | (128 << 8)) + i * 4, 30), ...v6Subnet(`fd62:7274:1:${i.toString(16)}`) }
  }
}
