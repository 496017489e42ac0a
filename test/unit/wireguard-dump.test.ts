// `wg show NAME dump` parsing: real output shapes (taken from wireguard-tools 1.0.20210914 + wireguard-go) and
// malformed input, which must always be a DumpParseError with a line number, never a crash or a partial result.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { parseDump } from '../../src/wireguard/dump.js'
import { DumpParseError } from '../../src/wireguard/errors.js'

const PRIV = 'SIDUI3EtMvAAT/99HkyKzwuZR2c6YT0895RKl2Ir/GM='
const PUB = 'pkEZfmW4yEf8A5b2504GNC+BDst+RGgmpINL304dJl4='
const P1 = '5/r3NxqIBkvI33qu4vcDw4LKObnHSlOoPHNczex6jV8='
const P2 = 'QoQ5x7bCcfW6vAp+g9LVMfQ4SbE0Sg/R38SPbkRET3A='
const PSK = 'XdeK00QN7SlXfJjoX1xKkHFFw3WkN9pZtwQgmZ910a4='

const row = (...f: string[]): string => f.join('\t')
const HEAD = row(PRIV, PUB, '51000', 'off')

function expectParseError(text: string, line: number, reason: RegExp): void {
  assert.throws(
    () => parseDump(text),
    (err: unknown) => {
      assert.ok(err instanceof DumpParseError, `expected DumpParseError, got ${String(err)}`)
      assert.equal(err.code, 'WG_DUMP_INVALID')
      assert.equal(err.line, line)
      assert.match(err.message, reason)
      return true
    },
  )
}

test('parses an interface with two peers as wg prints it', () => {
  const text = [
    HEAD,
    row(
      P1,
      PSK,
      '[fd00::1]:123',
      '10.0.0.0/24,fd00::5/128,::ffff:1.2.3.4/128',
      '1732560000',
      '1234',
      '5678',
      '25',
    ),
    row(P2, '(none)', '(none)', '(none)', '0', '0', '0', 'off'),
    '',
  ].join('\n')
  assert.deepEqual(parseDump(text), {
    privateKey: PRIV,
    publicKey: PUB,
    listenPort: 51000,
    fwmark: 0,
    peers: [
      {
        publicKey: P1,
        presharedKey: PSK,
        endpoint: '[fd00::1]:123',
        allowedIps: ['10.0.0.0/24', 'fd00::5/128', '::ffff:1.2.3.4/128'],
        latestHandshake: 1732560000,
        rxBytes: 1234,
        txBytes: 5678,
        persistentKeepalive: 25,
      },
      {
        publicKey: P2,
        presharedKey: null,
        endpoint: null,
        allowedIps: [],
        latestHandshake: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
      },
    ],
  })
})

test('an interface without a private key and peers, fwmark in hex', () => {
  const d = parseDump(`${row('(none)', '(none)', '0', '0xca6c')}\n`)
  assert.equal(d.privateKey, null)
  assert.equal(d.publicKey, null)
  assert.equal(d.fwmark, 0xca6c)
  assert.deepEqual(d.peers, [])
})

test('IPv4 endpoints and odd spellings are canonicalised', () => {
  const d = parseDump(
    [HEAD, row(P1, '(none)', '[FD00:0::1%eth0]:9', '10.1.0.0/16', '0', '0', '0', 'off')].join('\n'),
  )
  assert.equal(d.peers[0]?.endpoint, '[fd00::1]:9')
  const d4 = parseDump(
    [HEAD, row(P1, '(none)', '192.0.2.1:51820', '(none)', '0', '0', '0', 'off')].join('\n'),
  )
  assert.equal(d4.peers[0]?.endpoint, '192.0.2.1:51820')
})

test('CRLF line endings and trailing blank lines are tolerated', () => {
  const d = parseDump(`${HEAD}\r\n${row(P2, '(none)', '(none)', '(none)', '0', '0', '0', 'off')}\r\n\n\n`)
  assert.equal(d.peers.length, 1)
})

test('malformed dumps: typed error naming the line', () => {
  expectParseError('', 1, /empty output/)
  expectParseError('\n\n', 1, /empty output/)
  expectParseError('garbage', 1, /1 fields, expected 4/)
  expectParseError(row(PRIV, PUB, '51000'), 1, /3 fields/)
  expectParseError(row('not-a-key', PUB, '51000', 'off'), 1, /private-key 'not-a-key' is not a base64 key/)
  expectParseError(row(PRIV, PUB, '70000', 'off'), 1, /listen-port 70000 is larger than 65535/)
  expectParseError(row(PRIV, PUB, '-1', 'off'), 1, /listen-port '-1'/)
  expectParseError(row(PRIV, PUB, '51000', 'on'), 1, /fwmark 'on'/)
  // `wg show all dump` has an interface-name column: not what we asked for.
  expectParseError(row('brw0', PRIV, PUB, '51000', 'off'), 1, /5 fields/)
  expectParseError(`${HEAD}\n${row(P1, '(none)')}`, 2, /2 fields, expected 8/)
  expectParseError(`${HEAD}\n\n${row(P1, '(none)', '(none)', '(none)', '0', '0', '0', 'off')}`, 2, /1 fields/)
  const peer = (over: Partial<Record<number, string>>): string => {
    const f = [P1, '(none)', '(none)', '(none)', '0', '0', '0', 'off']
    for (const [i, v] of Object.entries(over)) f[Number(i)] = v as string
    return `${HEAD}\n${row(...f)}`
  }
  expectParseError(peer({ 0: '(none)' }), 2, /peer public-key/)
  expectParseError(peer({ 0: `${P1.slice(0, 42)}Z=` }), 2, /not a base64 key/) // non-canonical last char
  expectParseError(peer({ 1: 'short=' }), 2, /preshared-key/)
  expectParseError(peer({ 2: 'example.com:51820' }), 2, /endpoint/)
  expectParseError(peer({ 2: '10.0.0.1:70000' }), 2, /endpoint/)
  expectParseError(peer({ 2: 'fd00::1:51820' }), 2, /endpoint/) // IPv6 without brackets is ambiguous
  expectParseError(peer({ 3: '10.0.0.0/33' }), 2, /allowed-ip '10.0.0.0\/33'/)
  expectParseError(peer({ 3: '10.0.0.1' }), 2, /allowed-ip/)
  expectParseError(peer({ 3: '10.0.0.0/8,' }), 2, /allowed-ip ''/)
  expectParseError(peer({ 4: '1.5' }), 2, /latest-handshake/)
  expectParseError(peer({ 5: '' }), 2, /transfer-rx/)
  expectParseError(peer({ 6: '0x10' }), 2, /transfer-tx/)
  expectParseError(peer({ 7: '65536' }), 2, /persistent-keepalive/)
  expectParseError(
    `${peer({})}\n${row(P1, '(none)', '(none)', '(none)', '0', '0', '0', 'off')}`,
    3,
    /listed twice/,
  )
})

test('a very long garbage field is clipped in the message', () => {
  assert.throws(
    () => parseDump(row('x'.repeat(10_000), PUB, '1', 'off')),
    (err: unknown) => err instanceof DumpParseError && err.message.length < 200,
  )
})

test('arbitrary text never crashes the parser: result or DumpParseError', () => {
  const cell = fc.oneof(
    fc.string(),
    fc.constantFrom(
      '(none)',
      'off',
      '0',
      PRIV,
      P1,
      '10.0.0.0/8',
      '[::1]:1',
      '1.2.3.4:5',
      '18446744073709551616',
    ),
  )
  const line = fc.array(cell, { maxLength: 9 }).map((f) => f.join('\t'))
  fc.assert(
    fc.property(fc.array(line, { maxLength: 5 }), (lines) => {
      try {
        const d = parseDump(lines.join('\n'))
        assert.ok(Array.isArray(d.peers))
      } catch (err) {
        assert.ok(err instanceof DumpParseError, `unexpected ${String(err)}`)
      }
    }),
    { numRuns: 2_000 },
  )
})
