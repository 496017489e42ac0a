// Prefix and endpoint canonicalisation: our text must equal what `wg`/`ip` print (glibc inet_ntop) or the diff
// would never converge.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { canonicalEndpoint, canonicalPrefix, formatAddress, parseAddress } from '../../src/wireguard/cidr.js'
import { WireGuardError } from '../../src/wireguard/errors.js'
import { parseRouteJson } from '../../src/wireguard/ip.js'

test('canonical prefixes: masked, compressed, explicit length', () => {
  const cases: [string, string][] = [
    ['10.0.0.7/24', '10.0.0.0/24'],
    ['100.64.0.5', '100.64.0.5/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.168.1.255/0', '0.0.0.0/0'],
    ['FD00:0000:0:0::5/128', 'fd00::5/128'],
    ['fd00::5', 'fd00::5/128'],
    ['fd12:3456:789a:1::7/64', 'fd12:3456:789a:1::/64'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1/128', '2001:db8:0:1:1:1:1:1/128'], // a single zero group is not compressed
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['::ffff:1.2.3.4/128', '::ffff:1.2.3.4/128'],
    ['::0102:0304/128', '::1.2.3.4/128'], // what glibc (and so wg) prints
    ['::0.0.1.2/128', '::102/128'],
    ['1:2:3:4:5:6:7:8/128', '1:2:3:4:5:6:7:8/128'],
    ['1:0:0:0:0:0:0:0/16', '1::/16'],
    [' 10.0.0.1/32 ', '10.0.0.1/32'],
  ]
  for (const [input, want] of cases) assert.equal(canonicalPrefix(input), want, input)
})

test('malformed prefixes are WG_CONFIG_INVALID', () => {
  for (const bad of [
    '',
    '10.0.0.0/33',
    '10.0.0/8',
    '010.0.0.1/32',
    '256.0.0.1',
    '10.0.0.1/',
    '10.0.0.1/08',
    'fd00::/129',
    'fd00:::1',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    'fd00::1%eth0/128',
    'fe80::zz',
    '::ffff:1.2.3/128',
    'localhost',
  ]) {
    assert.throws(
      () => canonicalPrefix(bad),
      (e: unknown) => e instanceof WireGuardError && e.code === 'WG_CONFIG_INVALID',
      bad,
    )
  }
})

test('endpoints: IP literals only, IPv6 bracketed, canonical', () => {
  assert.equal(canonicalEndpoint('192.0.2.1:51820'), '192.0.2.1:51820')
  assert.equal(canonicalEndpoint('[FD00:0::1]:1'), '[fd00::1]:1')
  for (const bad of [
    'example.com:51820',
    'fd00::1:51820',
    '[fd00::1]',
    '1.2.3.4:0',
    '1.2.3.4:65536',
    '1.2.3.4',
    '[1.2.3.4]x:1',
  ]) {
    assert.throws(() => canonicalEndpoint(bad), { code: 'WG_CONFIG_INVALID' }, bad)
  }
})

test('format(parse(x)) round-trips every IPv6 address (property)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.integer({ min: 0, max: 8 }),
      (bytes, zeros) => {
        // Bias towards zero runs, where the formatting rules live.
        const b = new Uint8Array(bytes)
        b.fill(0, 0, zeros * 2)
        const text = formatAddress(6, b)
        const back = parseAddress(text)
        assert.ok(back !== undefined && back.family === 6, text)
        assert.deepEqual(Array.from(back.bytes), Array.from(b), text)
        assert.equal(formatAddress(6, back.bytes), text)
      },
    ),
    { numRuns: 2_000 },
  )
})

test('ip -j route output: host routes get their length, empty tables, bad output is typed', () => {
  assert.deepEqual(parseRouteJson('[{"dst":"10.9.0.5","scope":"link"},{"dst":"10.9.0.0/16"}]\n', 4), [
    '10.9.0.5/32',
    '10.9.0.0/16',
  ])
  assert.deepEqual(parseRouteJson('[{"dst":"fd00:2::7","metric":1024},{"dst":"default"}]', 6), [
    'fd00:2::7/128',
    '::/0',
  ])
  assert.deepEqual(parseRouteJson('', 4), [])
  assert.deepEqual(parseRouteJson('[]', 6), [])
  for (const bad of ['{', '{"dst":"x"}', '[{"metric":1}]', '[null]', '[{"dst":"300.1.1.1"}]']) {
    assert.throws(
      () => parseRouteJson(bad, 4),
      (e: unknown) => e instanceof WireGuardError,
      bad,
    )
  }
})
