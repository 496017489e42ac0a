// IP prefix parsing and canonical text: what goes into WireGuard allowed-ips must have one spelling, and
// anything ambiguous must be refused.

import assert from 'node:assert/strict'
import { isIP } from 'node:net'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { canonicalCidr, formatCidr, parseCidr } from '../../src/routing/index.js'

describe('canonicalCidr', () => {
  it('writes one spelling per prefix (RFC 5952 for IPv6)', () => {
    const cases: Array<[string, string]> = [
      ['100.64.0.7', '100.64.0.7/32'],
      ['10.0.0.0/8', '10.0.0.0/8'],
      ['FD5E:0000::0007/128', 'fd5e::7/128'],
      ['fd5e:0:0:0:0:0:0:7', 'fd5e::7/128'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1/128'],
      ['::', '::/128'],
      ['::1', '::1/128'],
      ['1::', '1::/128'],
      ['::ffff:192.0.2.1', '::ffff:c000:201/128'],
      ['fd00::/8', 'fd00::/8'],
    ]
    for (const [input, want] of cases) assert.equal(canonicalCidr(input), want, input)
  })

  it('refuses anything ambiguous', () => {
    const bad = [
      '',
      '10.0.0.1/8',
      '010.0.0.1',
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4/',
      '1.2.3.4/33',
      '1.2.3.4/01',
      ' 1.2.3.4',
      'fe80::1%eth0',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8',
      '12345::',
      '::/129',
      '1.2.3.4::',
      'fd00::1/64',
    ]
    for (const input of bad) assert.equal(canonicalCidr(input), null, JSON.stringify(input))
  })

  it('property: formatted prefixes are canonical and parse back to the same bits', () => {
    const arb = fc.oneof(
      fc.tuple(
        fc.constant(4 as const),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 32 }),
      ),
      fc.tuple(
        fc.constant(6 as const),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 128 }),
      ),
    )
    fc.assert(
      fc.property(arb, ([family, raw, prefix]) => {
        const bytes = Uint8Array.from(raw)
        for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >>> 3]! &= ~(0x80 >>> (bit & 7))
        const text = formatCidr({ family, bytes, prefix })
        assert.equal(canonicalCidr(text), text)
        const back = parseCidr(text)!
        assert.deepEqual([back.family, [...back.bytes], back.prefix], [family, [...bytes], prefix])
        assert.equal(isIP(text.slice(0, text.indexOf('/'))), family)
      }),
      { numRuns: 1000 },
    )
  })

  it('property: whatever it accepts, Node accepts as an address, and canonical forms are fixed points', () => {
    const arbText = fc.string({
      unit: fc.constantFrom(...'0123456789abcdefABCDEF:./'.split('')),
      maxLength: 45,
    })
    fc.assert(
      fc.property(arbText, (text) => {
        const c = canonicalCidr(text)
        if (c === null) return
        assert.equal(canonicalCidr(c), c)
        const addr = text.includes('/') ? text.slice(0, text.indexOf('/')) : text
        assert.notEqual(isIP(addr), 0, text)
      }),
      { numRuns: 2000 },
    )
  })
})
