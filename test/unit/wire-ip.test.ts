// The one IPv6 text formatter routing (allowed-ips) and DNS (AAAA data) share: RFC 5952 canonical form, and
// agreement with Node's own parser on random addresses (what we print parses back to the same bytes).

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { test } from 'node:test'
import { formatCidr, parseCidr } from '../../src/routing/index.js'
import { formatIpv6 } from '../../src/wire/index.js'

const bytes = (...groups: number[]): Uint8Array => {
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

test('RFC 5952: lower case, no leading zeros, the longest zero run (first on a tie), never one group', () => {
  assert.equal(formatIpv6(bytes(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), '2001:db8::1')
  assert.equal(formatIpv6(bytes(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 1, 0xabcd)), 'fd7a:115c:a1e0::1:abcd')
  assert.equal(formatIpv6(bytes(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), '2001:db8:0:1:1:1:1:1')
  assert.equal(formatIpv6(bytes(0x2001, 0, 0, 1, 0, 0, 0, 1)), '2001:0:0:1::1')
  assert.equal(formatIpv6(bytes(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), '2001:db8::1:0:0:1')
  assert.equal(formatIpv6(bytes()), '::')
  assert.equal(formatIpv6(bytes(0, 0, 0, 0, 0, 0, 0, 1)), '::1')
  assert.equal(formatIpv6(bytes(0xfe80)), 'fe80::')
})

test('random addresses (with zero runs) parse back to their bytes, and routing prints them the same', () => {
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(16)
    for (let g = 0; g < 8; g++) if ((b[g]! & 3) === 0) b.fill(0, 2 * g, 2 * g + 2)
    const text = formatIpv6(b)
    assert.ok(isIPv6(text), text)
    assert.equal(text, text.toLowerCase())
    const back = parseCidr(text)
    assert.ok(back !== null && back.family === 6, text)
    assert.deepEqual([...back.bytes], [...b], text)
    assert.equal(formatCidr(back), `${text}/128`)
  }
})
