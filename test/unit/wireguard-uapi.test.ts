// wireguard-go's UAPI, spoken by UapiControl: set requests carry the same changes in the same order as `wg set`,
// get answers read into the same live state as the `wg show dump` of that interface, and a refused request or a
// silent socket is a typed error. The socket is a fake server that records what it was sent.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { WgPlan } from '../../src/wireguard/diff.js'
import { parseDump } from '../../src/wireguard/dump.js'
import { WireGuardError } from '../../src/wireguard/errors.js'
import { parseUapiGet, UapiControl, uapiSetRequest } from '../../src/wireguard/uapi.js'

const PRIV = 'SIDUI3EtMvAAT/99HkyKzwuZR2c6YT0895RKl2Ir/GM='
const PUB = 'pkEZfmW4yEf8A5b2504GNC+BDst+RGgmpINL304dJl4='
const P1 = '5/r3NxqIBkvI33qu4vcDw4LKObnHSlOoPHNczex6jV8='
const P2 = 'QoQ5x7bCcfW6vAp+g9LVMfQ4SbE0Sg/R38SPbkRET3A='
const PSK = 'XdeK00QN7SlXfJjoX1xKkHFFw3WkN9pZtwQgmZ910a4='
const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex')
const ZERO = '0'.repeat(64)

const plan = (p: Partial<WgPlan>): WgPlan => ({
  peers: [],
  routesAdd: [],
  routesRemove: [],
  actions: [],
  ...p,
})

test('a set request holds the key, port and peer changes in plan order', () => {
  const text = uapiSetRequest(
    plan({
      privateKey: PRIV,
      listenPort: 51820,
      peers: [
        { publicKey: P1, endpoint: '[fd00::1]:51820', persistentKeepalive: 25, allowedIps: ['10.0.0.1/32'] },
        { publicKey: P2, presharedKey: null, allowedIps: [] },
        { publicKey: PUB, remove: true },
      ],
    }),
  )
  assert.equal(
    text,
    [
      'set=1',
      `private_key=${hex(PRIV)}`,
      'listen_port=51820',
      `public_key=${hex(P1)}`,
      'endpoint=[fd00::1]:51820',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=10.0.0.1/32',
      `public_key=${hex(P2)}`,
      `preshared_key=${ZERO}`,
      // An empty list clears the peer's allowed IPs, as `wg set ... allowed-ips ''` does.
      'replace_allowed_ips=true',
      `public_key=${hex(PUB)}`,
      'remove=true',
      '',
      '',
    ].join('\n'),
  )
})

const GET_ANSWER = [
  `private_key=${hex(PRIV)}`,
  'listen_port=51000',
  `public_key=${hex(P1)}`,
  `preshared_key=${hex(PSK)}`,
  'protocol_version=1',
  'endpoint=[fd00::1]:123',
  'last_handshake_time_sec=1732560000',
  'last_handshake_time_nsec=5',
  'tx_bytes=200',
  'rx_bytes=100',
  'persistent_keepalive_interval=25',
  'allowed_ip=10.0.0.0/24',
  'allowed_ip=fd00::5/128',
  `public_key=${hex(P2)}`,
  `preshared_key=${ZERO}`,
  'protocol_version=1',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'errno=0',
  '',
  '',
].join('\n')

test('a get answer reads into the live state wg show dump gives for it', () => {
  const dump = [
    [PRIV, PUB, '51000', 'off'].join('\t'),
    [P1, PSK, '[fd00::1]:123', '10.0.0.0/24,fd00::5/128', '1732560000', '100', '200', '25'].join('\t'),
    [P2, '(none)', '(none)', '(none)', '0', '0', '0', 'off'].join('\t'),
  ].join('\n')
  assert.deepEqual(parseUapiGet(GET_ANSWER), parseDump(dump))
})

test('a get answer without a private key or peers is an empty interface', () => {
  const live = parseUapiGet('listen_port=0\nerrno=0\n\n')
  assert.deepEqual(live, { privateKey: null, publicKey: null, listenPort: 0, fwmark: 0, peers: [] })
})

test('a get answer with a bad key, a bad line or no errno is refused', () => {
  const refused = (text: string, code: string): void =>
    assert.throws(
      () => parseUapiGet(text),
      (e: unknown) => e instanceof WireGuardError && e.code === code,
    )
  refused(`public_key=${hex(P1).slice(2)}\nerrno=0\n\n`, 'WG_DUMP_INVALID')
  refused('listen_port\nerrno=0\n\n', 'WG_DUMP_INVALID')
  refused(`public_key=${hex(P1)}\nendpoint=nowhere\nerrno=0\n\n`, 'WG_DUMP_INVALID')
  refused('listen_port=1\n', 'WG_APPLY_FAILED')
  refused('errno=-22\n\n', 'WG_APPLY_FAILED')
})

/** A fake wireguard-go socket: answers each request with `answer(request)`, or never when it returns null. */
async function fakeSocket(
  answer: (request: string) => string | null,
): Promise<{ dir: string; server: Server; seen: string[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'brt-uapi-'))
  const seen: string[] = []
  const server = createServer((sock) => {
    let buf = ''
    sock.on('data', (d) => {
      buf += d.toString()
      if (!buf.endsWith('\n\n')) return
      seen.push(buf)
      const a = answer(buf)
      // Answer in two writes: the reader must wait for the end of the answer, not take the first chunk.
      if (a !== null) {
        sock.write(a.slice(0, 10))
        // A short answer has no second part; the client may have read it whole and hung up by then (writing
        // nothing to the closed socket failed with EPIPE, now and then, under load).
        if (a.length > 10) setTimeout(() => sock.write(a.slice(10)), 5)
      }
    })
  })
  await new Promise<void>((r) => server.listen(path.join(dir, 'wgt0.sock'), r))
  return { dir, server, seen }
}

test('UapiControl reads and sets over the socket, and a refused set is WG_APPLY_FAILED', async (t) => {
  const fake = await fakeSocket((req) =>
    req.startsWith('get=1') ? GET_ANSWER : req.includes('endpoint=') ? 'errno=-22\n\n' : 'errno=0\n\n',
  )
  t.after(() => {
    fake.server.close()
    rmSync(fake.dir, { recursive: true, force: true })
  })
  const c = new UapiControl((name) => path.join(fake.dir, `${name}.sock`))
  const live = await c.show('wgt0')
  assert.deepEqual(
    live.peers.map((p) => p.publicKey),
    [P1, P2],
  )
  await c.set('wgt0', plan({ listenPort: 1 }))
  await assert.rejects(
    c.set('wgt0', plan({ peers: [{ publicKey: P1, endpoint: '10.0.0.1:1' }] })),
    (e: unknown) =>
      e instanceof WireGuardError && e.code === 'WG_APPLY_FAILED' && /errno -22/.test(e.message),
  )
  assert.deepEqual(fake.seen.slice(0, 2), ['get=1\n\n', 'set=1\nlisten_port=1\n\n'])
})

test('UapiControl gives up on a socket that does not answer, and on a missing socket', async (t) => {
  const fake = await fakeSocket(() => null)
  t.after(() => {
    fake.server.close()
    rmSync(fake.dir, { recursive: true, force: true })
  })
  const c = new UapiControl((name) => path.join(fake.dir, `${name}.sock`), 100)
  await assert.rejects(
    c.show('wgt0'),
    (e: unknown) => e instanceof WireGuardError && /after 100 ms/.test(e.message),
  )
  await assert.rejects(
    c.show('absent'),
    (e: unknown) => e instanceof WireGuardError && e.code === 'WG_APPLY_FAILED',
  )
})
