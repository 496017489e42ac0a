// The desired-state diff: validation, minimal plans, the order of operations for rotations, and the `wg set` argv
// (which must never carry a secret).

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type DesiredState,
  normalizeDesired,
  planNeedsWgSet,
  planReconfigure,
  wgSetArgs,
} from '../../src/wireguard/diff.js'
import type { LiveInterface, LivePeer } from '../../src/wireguard/dump.js'
import { generatePrivateKey, publicKeyOf } from '../../src/wireguard/keys.js'

const priv = generatePrivateKey()
const privB64 = priv.toString('base64')
const pub = publicKeyOf(priv)
const keys = Array.from({ length: 4 }, () => publicKeyOf(generatePrivateKey()))
const [K1, K2, K3, K4] = keys as [string, string, string, string]
const PSK = generatePrivateKey().toString('base64')

function livePeer(publicKey: string, over: Partial<LivePeer> = {}): LivePeer {
  return {
    publicKey,
    presharedKey: null,
    endpoint: null,
    allowedIps: [],
    latestHandshake: 0,
    rxBytes: 0,
    txBytes: 0,
    persistentKeepalive: 0,
    ...over,
  }
}

function live(peers: LivePeer[], over: Partial<LiveInterface> = {}): LiveInterface {
  return { privateKey: privB64, publicKey: pub, listenPort: 51820, fwmark: 0, peers, ...over }
}

function desired(over: Partial<DesiredState> = {}): DesiredState {
  return { privateKey: priv, listenPort: 51820, peers: [], routes: [], ...over }
}

const plan = (l: LiveInterface, d: DesiredState, routes: string[] = []) =>
  planReconfigure(l, routes, normalizeDesired(d))

describe('normalizeDesired', () => {
  test('canonicalises keys, prefixes, endpoints and sorts', () => {
    const n = normalizeDesired(
      desired({
        privateKey: privB64,
        peers: [
          {
            publicKey: Buffer.from(K2, 'base64'),
            allowedIps: ['fd00::0:5', '10.0.0.9/24', '10.0.0.0/24'],
            endpoint: '[FD00::1]:5',
          },
          { publicKey: K1, allowedIps: [] },
        ],
        routes: ['10.0.0.7/24', '10.0.0.0/24', 'fd00::5/128'],
      }),
    )
    assert.equal(n.publicKey, pub)
    assert.deepEqual(
      n.peers.map((p) => p.publicKey),
      [K1, K2].sort(),
    )
    const p2 = n.peers.find((p) => p.publicKey === K2)
    assert.deepEqual(p2?.allowedIps, ['10.0.0.0/24', 'fd00::5/128'])
    assert.equal(p2?.endpoint, '[fd00::1]:5')
    assert.deepEqual(n.routes, ['10.0.0.0/24', 'fd00::5/128'])
  })

  test('rejects what WireGuard would silently mangle', () => {
    const bad: [Partial<DesiredState>, RegExp][] = [
      [{ privateKey: Buffer.alloc(31) }, /32 bytes, got 31/],
      [{ privateKey: 'nope' }, /privateKey: not a base64/],
      [{ listenPort: 70000 }, /listenPort/],
      [{ listenPort: 1.5 }, /listenPort/],
      [{ peers: [{ publicKey: pub, allowedIps: [] }] }, /own public key/],
      [
        {
          peers: [
            { publicKey: K1, allowedIps: [] },
            { publicKey: K1, allowedIps: [] },
          ],
        },
        /listed twice/,
      ],
      [
        {
          peers: [
            { publicKey: K1, allowedIps: ['10.0.0.0/8'] },
            { publicKey: K2, allowedIps: ['10.1.2.3/8'] },
          ],
        },
        /10\.0\.0\.0\/8 also given/,
      ],
      [{ peers: [{ publicKey: K1, allowedIps: ['10.0.0.0/33'] }] }, /peers\[0\]\.allowedIps\[0\]/],
      [{ peers: [{ publicKey: K1, allowedIps: [], endpoint: 'host.example:1' }] }, /peers\[0\]\.endpoint/],
      [{ peers: [{ publicKey: K1, allowedIps: [], persistentKeepalive: -1 }] }, /persistentKeepalive/],
      [{ peers: [{ publicKey: K1, allowedIps: [], presharedKey: Buffer.alloc(3) }] }, /presharedKey/],
      [{ routes: ['nope'] }, /routes\[0\]/],
    ]
    for (const [over, msg] of bad) {
      assert.throws(
        () => normalizeDesired(desired(over)),
        (e: unknown) => {
          assert.equal((e as { code?: string }).code, 'WG_CONFIG_INVALID')
          assert.match((e as Error).message, msg)
          return true
        },
      )
    }
  })
})

describe('planReconfigure', () => {
  test('identical state: no actions, nothing to run', () => {
    const l = live([
      livePeer(K1, {
        endpoint: '10.0.0.1:51820',
        allowedIps: ['fd00::1/128', '100.64.0.1/32'],
        persistentKeepalive: 25,
      }),
    ])
    const p = plan(
      l,
      desired({
        peers: [
          {
            publicKey: K1,
            endpoint: '10.0.0.1:51820',
            allowedIps: ['100.64.0.1/32', 'fd00::1/128'],
            persistentKeepalive: 25,
          },
        ],
        routes: ['100.64.0.1/32'],
      }),
      ['100.64.0.1/32'],
    )
    assert.deepEqual(p.actions, [])
    assert.equal(planNeedsWgSet(p), false)
    assert.deepEqual([p.routesAdd, p.routesRemove], [[], []])
  })

  test('from an empty interface: key, port, peers and routes', () => {
    const p = plan(
      live([], { privateKey: null, publicKey: null, listenPort: 0 }),
      desired({
        peers: [{ publicKey: K1, endpoint: '10.0.0.1:1', allowedIps: ['100.64.0.1/32'] }],
        routes: ['100.64.0.1/32'],
      }),
    )
    assert.equal(p.privateKey, privB64)
    assert.equal(p.listenPort, 51820)
    assert.deepEqual(p.peers, [{ publicKey: K1, endpoint: '10.0.0.1:1', allowedIps: ['100.64.0.1/32'] }])
    assert.deepEqual(p.routesAdd, ['100.64.0.1/32'])
    assert.equal(p.actions.length, 4)
  })

  test('listenPort 0 means "any": never a change', () => {
    assert.deepEqual(plan(live([], { listenPort: 43210 }), desired({ listenPort: 0 })).actions, [])
  })

  test('an omitted endpoint keeps the learned one; a given one replaces it', () => {
    const l = live([livePeer(K1, { endpoint: '198.51.100.7:4000' })])
    assert.deepEqual(plan(l, desired({ peers: [{ publicKey: K1, allowedIps: [] }] })).actions, [])
    const p = plan(l, desired({ peers: [{ publicKey: K1, allowedIps: [], endpoint: '198.51.100.8:4000' }] }))
    assert.deepEqual(p.peers, [{ publicKey: K1, endpoint: '198.51.100.8:4000' }])
    assert.match(p.actions[0] ?? '', /endpoint 198\.51\.100\.7:4000 -> 198\.51\.100\.8:4000/)
  })

  test('a live session keeps the endpoint WireGuard learned (roaming, symmetric NAT); a dead one gets ours', () => {
    const now = 1_800_000_000
    const want = desired({ peers: [{ publicKey: K1, allowedIps: [], endpoint: '198.51.100.8:51820' }] })
    // Handshake 30 s ago from the NAT's port 40123: ours (the announced 51820) would break the session.
    const alive = live([livePeer(K1, { endpoint: '198.51.100.8:40123', latestHandshake: now - 30 })])
    assert.deepEqual(planReconfigure(alive, [], normalizeDesired(want), now).actions, [])
    // The same session 10 minutes old is dead: the hint is tried again.
    const dead = live([livePeer(K1, { endpoint: '198.51.100.8:40123', latestHandshake: now - 600 })])
    assert.deepEqual(planReconfigure(dead, [], normalizeDesired(want), now).peers, [
      { publicKey: K1, endpoint: '198.51.100.8:51820' },
    ])
    // Never handshaked: ours.
    const never = live([livePeer(K1, { endpoint: '198.51.100.8:40123', latestHandshake: 0 })])
    assert.equal(planReconfigure(never, [], normalizeDesired(want), now).peers.length, 1)
  })

  test('only the changed fields of a peer are sent', () => {
    const l = live([
      livePeer(K1, { allowedIps: ['10.0.0.0/24'], persistentKeepalive: 25, presharedKey: PSK }),
    ])
    const p = plan(
      l,
      desired({
        peers: [{ publicKey: K1, allowedIps: ['10.0.0.0/24', '10.0.1.0/24'], persistentKeepalive: 25 }],
      }),
    )
    assert.deepEqual(p.peers, [
      { publicKey: K1, presharedKey: null, allowedIps: ['10.0.0.0/24', '10.0.1.0/24'] },
    ])
    assert.match(p.actions[0] ?? '', /remove preshared key.*allowed-ips \+10\.0\.1\.0\/24/)
  })

  test('peer rotation: new key first (takes the allowed-ips), old key removed last, one plan', () => {
    const l = live([livePeer(K1, { endpoint: '10.0.0.1:1', allowedIps: ['100.64.0.1/32'] }), livePeer(K3)])
    const p = plan(
      l,
      desired({
        peers: [
          { publicKey: K2, endpoint: '10.0.0.1:1', allowedIps: ['100.64.0.1/32'] },
          { publicKey: K3, allowedIps: [] },
        ],
      }),
    )
    assert.deepEqual(p.peers, [
      { publicKey: K2, endpoint: '10.0.0.1:1', allowedIps: ['100.64.0.1/32'] },
      { publicKey: K1, remove: true },
    ])
  })

  test('a prefix moving between existing peers: the gaining peer is applied first', () => {
    const l = live([
      livePeer(K1, { allowedIps: ['10.9.0.0/16'] }),
      livePeer(K2, { allowedIps: ['10.1.0.0/16'] }),
      livePeer(K4, { allowedIps: ['10.4.0.0/16'] }),
    ])
    const p = plan(
      l,
      desired({
        peers: [
          { publicKey: K1, allowedIps: [] }, // loses 10.9/16
          { publicKey: K2, allowedIps: ['10.1.0.0/16', '10.9.0.0/16'] }, // gains it
          { publicKey: K4, allowedIps: ['10.4.0.0/16', '10.5.0.0/16'] }, // unrelated growth
        ],
      }),
    )
    assert.deepEqual(
      p.peers.map((c) => c.publicKey),
      [K2, ...[K1, K4].sort()],
    )
  })

  test('own key rotation keeps peers and changes only the key', () => {
    const l = live([livePeer(K1, { allowedIps: ['10.0.0.0/24'] })])
    const newPriv = generatePrivateKey()
    const p = plan(
      l,
      desired({ privateKey: newPriv, peers: [{ publicKey: K1, allowedIps: ['10.0.0.0/24'] }] }),
    )
    assert.equal(p.privateKey, newPriv.toString('base64'))
    assert.deepEqual(p.peers, [])
    assert.equal(p.actions.length, 1)
    assert.ok(!(p.actions[0] ?? '').includes(newPriv.toString('base64')), 'secret in actions')
  })

  test('routes: add missing, remove extra (only ours are listed)', () => {
    const p = plan(live([]), desired({ routes: ['10.0.0.0/24', 'fd00::/64'] }), [
      '10.0.0.0/24',
      '10.8.0.0/16',
    ])
    assert.deepEqual(p.routesAdd, ['fd00::/64'])
    assert.deepEqual(p.routesRemove, ['10.8.0.0/16'])
    assert.equal(planNeedsWgSet(p), false)
  })

  test('planning twice against the state the first plan produces gives no actions', () => {
    const d = desired({
      peers: [
        {
          publicKey: K1,
          endpoint: '[fd00::9]:7',
          allowedIps: ['fd00::9/128'],
          persistentKeepalive: 5,
          presharedKey: PSK,
        },
      ],
    })
    const n = normalizeDesired(d)
    const after = live(
      n.peers.map((p) =>
        livePeer(p.publicKey, {
          endpoint: p.endpoint,
          allowedIps: p.allowedIps,
          persistentKeepalive: p.persistentKeepalive,
          presharedKey: p.presharedKey,
        }),
      ),
    )
    assert.deepEqual(planReconfigure(after, [], n).actions, [])
  })
})

describe('wgSetArgs', () => {
  test('builds one invocation; secrets only as file paths', () => {
    const secrets: string[] = []
    const p = plan(
      live([livePeer(K1, { allowedIps: ['10.0.0.1/32'] }), livePeer(K3, { presharedKey: PSK })], {
        privateKey: null,
      }),
      desired({
        listenPort: 1234,
        peers: [
          {
            publicKey: K2,
            endpoint: '10.0.0.1:1',
            allowedIps: ['10.0.0.1/32'],
            persistentKeepalive: 25,
            presharedKey: PSK,
          },
          { publicKey: K3, allowedIps: [] },
        ],
      }),
    )
    const args = wgSetArgs('brw0', p, (s) => {
      secrets.push(s)
      return `/secret/${secrets.length}`
    })
    assert.deepEqual(args, [
      'set',
      'brw0',
      'private-key',
      '/secret/1',
      'listen-port',
      '1234',
      'peer',
      K2,
      'preshared-key',
      '/secret/2',
      'endpoint',
      '10.0.0.1:1',
      'persistent-keepalive',
      '25',
      'allowed-ips',
      '10.0.0.1/32',
      'peer',
      K3,
      'preshared-key',
      '/dev/null',
      'peer',
      K1,
      'remove',
    ])
    assert.deepEqual(secrets, [privB64, PSK])
    for (const a of args) assert.ok(!secrets.includes(a), 'a secret reached argv')
  })

  test('clearing allowed-ips and keepalive', () => {
    const p = plan(
      live([livePeer(K1, { allowedIps: ['10.0.0.1/32'], persistentKeepalive: 9 })]),
      desired({ peers: [{ publicKey: K1, allowedIps: [] }] }),
    )
    assert.deepEqual(
      wgSetArgs('x', p, () => 'unused'),
      ['set', 'x', 'peer', K1, 'persistent-keepalive', 'off', 'allowed-ips', ''],
    )
  })
})

test('an unclamped private key equal to the live (clamped) one is not a change', async () => {
  const { generateX25519KeyPair } = await import('../../src/identity/index.js')
  const { clampPrivateKey } = await import('../../src/wireguard/keys.js')
  // libsodium's crypto_box_keypair does not clamp; find one whose clamped form differs.
  let raw = generateX25519KeyPair().secretKey
  while (clampPrivateKey(raw) === raw.toString('base64')) raw = generateX25519KeyPair().secretKey
  const desired = normalizeDesired({ privateKey: raw, listenPort: 51820, peers: [], routes: [] })
  assert.equal(desired.privateKey, clampPrivateKey(raw))
  const l = live([], { privateKey: clampPrivateKey(raw), publicKey: publicKeyOf(raw) })
  assert.equal(planReconfigure(l, [], desired).privateKey, undefined)
  // The same comparison without clamping would see a change: the test can fail.
  assert.notEqual(raw.toString('base64'), l.privateKey)
})

test('publicKeyOf: the RFC 7748 test vector, asked for alternately with another key (it remembers only one)', () => {
  // RFC 7748 §6.1: Alice's private key and public key.
  const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex')
  const alicePub = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex')
  const other = generatePrivateKey()
  const otherPub = publicKeyOf(other)
  for (let i = 0; i < 3; i++) {
    assert.equal(publicKeyOf(alice), alicePub.toString('base64'))
    assert.equal(publicKeyOf(other), otherPub)
    assert.notEqual(otherPub, alicePub.toString('base64'))
  }
})
