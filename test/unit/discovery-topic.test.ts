// The discovery topic and the address forms discovery is configured with: the topic is a deterministic
// function of exactly (federation id, secret) under our domain, and every malformed address is refused
// with a typed error instead of becoming an unreachable DHT node.

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { NetworkInterfaceInfo } from 'node:os'
import { describe, it } from 'node:test'
import {
  DiscoveryError,
  deriveTopic,
  interfaceSignature,
  localBootstrapAddress,
  parseHostPort,
  parseStaticPeer,
  TOPIC_BYTES,
} from '../../src/discovery/index.js'

const secret = Buffer.alloc(32, 0x5a)

describe('deriveTopic', () => {
  it('is 32 bytes and deterministic', () => {
    const t = deriveTopic('fed_abcdefghijklmnop', secret)
    assert.equal(t.length, TOPIC_BYTES)
    assert.deepEqual(deriveTopic('fed_abcdefghijklmnop', Buffer.from(secret)), t)
  })

  it('changes with the federation id and with every byte of the secret', () => {
    const t = deriveTopic('fed_abcdefghijklmnop', secret)
    assert.notDeepEqual(deriveTopic('fed_abcdefghijklmnoq', secret), t)
    for (let i = 0; i < secret.length; i++) {
      const s = Buffer.from(secret)
      s[i]! ^= 1
      assert.notDeepEqual(deriveTopic('fed_abcdefghijklmnop', s), t, `byte ${i}`)
    }
  })

  it('cannot be shifted between id and secret (length-prefixed encoding)', () => {
    const a = deriveTopic('fed_a', Buffer.from('bcdefghijklmnopqrstu'))
    const b = deriveTopic('fed_ab', Buffer.from('cdefghijklmnopqrstu'))
    assert.notDeepEqual(a, b)
  })

  it('is SHA-256 over the length-prefixed domain, id and secret, as documented', () => {
    // Pinned: changing the derivation silently would split old and new routers into two networks.
    const domain = Buffer.from('blackroad-mesh/discovery-topic/v1')
    const id = Buffer.from('fed_abcdefghijklmnop')
    const input = Buffer.concat([
      Buffer.from([domain.length]),
      domain,
      Buffer.from([id.length]),
      id,
      Buffer.from([secret.length]),
      secret,
    ])
    assert.deepEqual(deriveTopic('fed_abcdefghijklmnop', secret), createHash('sha256').update(input).digest())
    const plain = createHash('sha256')
      .update(Buffer.concat([id, secret]))
      .digest()
    assert.notDeepEqual(deriveTopic('fed_abcdefghijklmnop', secret), plain)
  })

  it('refuses short secrets and empty ids', () => {
    assert.throws(
      () => deriveTopic('fed_x', Buffer.alloc(15)),
      (e: unknown) => e instanceof DiscoveryError && e.code === 'INVALID_SECRET',
    )
    assert.throws(
      () => deriveTopic('', secret),
      (e: unknown) => e instanceof DiscoveryError && e.code === 'INVALID_OPTIONS',
    )
  })
})

describe('addresses', () => {
  it('parses host:port with an IPv4 address or a host name', () => {
    assert.deepEqual(parseHostPort('10.0.0.1:49737'), { host: '10.0.0.1', port: 49737 })
    assert.deepEqual(parseHostPort('cp-1.example.net:1'), { host: 'cp-1.example.net', port: 1 })
  })

  for (const bad of [
    '10.0.0.1',
    '10.0.0.1:0',
    '10.0.0.1:65536',
    ':49737',
    '[::1]:49737',
    'fe80::1:49737',
    'a b:1',
    'x:-1',
    '',
  ]) {
    it(`refuses "${bad}"`, () => {
      assert.throws(
        () => parseHostPort(bad),
        (e: unknown) => e instanceof DiscoveryError && e.code === 'INVALID_ADDRESS',
      )
    })
  }

  it('parses static peers with a hex or base64url key, and address-only contacts', () => {
    const key = Buffer.alloc(32, 0xab)
    assert.deepEqual(parseStaticPeer(`${key.toString('hex')}@10.0.0.2:49737`), {
      publicKey: key,
      host: '10.0.0.2',
      port: 49737,
    })
    assert.deepEqual(parseStaticPeer(`${key.toString('base64url')}@pi-4:49737`), {
      publicKey: key,
      host: 'pi-4',
      port: 49737,
    })
    assert.deepEqual(parseStaticPeer('10.0.0.3:49737'), { publicKey: null, host: '10.0.0.3', port: 49737 })
  })

  for (const bad of [
    'abcd@10.0.0.2:1',
    `${'a'.repeat(63)}@10.0.0.2:1`,
    `${'A'.repeat(44)}@h:1`,
    '@10.0.0.2:1',
    `${'ab'.repeat(32)}@10.0.0.2`,
  ]) {
    it(`refuses static peer "${bad.slice(0, 24)}..."`, () => {
      assert.throws(
        () => parseStaticPeer(bad),
        (e: unknown) => e instanceof DiscoveryError && e.code === 'INVALID_ADDRESS',
      )
    })
  }

  it('finds which bootstrap entry is this machine', () => {
    const ifaces = {
      lo: [
        {
          address: '127.0.0.1',
          family: 'IPv4' as const,
          netmask: '255.0.0.0',
          mac: '',
          internal: true,
          cidr: null,
        },
      ],
      eth0: [
        {
          address: '10.1.2.3',
          family: 'IPv4' as const,
          netmask: '255.255.255.0',
          mac: '',
          internal: false,
          cidr: null,
        },
      ],
    }
    assert.deepEqual(localBootstrapAddress(['10.9.9.9:49737', '10.1.2.3:49737'], ifaces), {
      host: '10.1.2.3',
      port: 49737,
    })
    assert.equal(localBootstrapAddress(['10.9.9.9:49737', 'cp.example:49737'], ifaces), null)
  })
})

describe('interfaceSignature', () => {
  const addr = (address: string, internal = false): NetworkInterfaceInfo =>
    address.includes(':')
      ? { address, family: 'IPv6', netmask: '', mac: '', internal, cidr: null, scopeid: 0 }
      : { address, family: 'IPv4', netmask: '', mac: '', internal, cidr: null }
  const none = new Set<string>()

  it('changes when an underlay address changes, and only then', () => {
    const before = { lo: [addr('127.0.0.1', true)], eth0: [addr('10.1.2.3'), addr('fe80::1')] }
    const same = { eth0: [addr('fe80::1'), addr('10.1.2.3')], lo: [addr('127.0.0.1', true)] }
    const moved = { lo: [addr('127.0.0.1', true)], eth0: [addr('10.1.2.200'), addr('fe80::1')] }
    assert.equal(interfaceSignature(none, before), interfaceSignature(none, same), 'order does not matter')
    assert.notEqual(interfaceSignature(none, before), interfaceSignature(none, moved))
    assert.equal(
      interfaceSignature(none, { eth0: before.eth0 }),
      interfaceSignature(none, before),
      'loopback',
    )
    // A container's veth appears with only an IPv6 link-local address: not a move (the DHT is IPv4).
    const veth = { ...before, veth1a2b: [addr('fe80::a8c1:abff:fe12:3456')] }
    assert.equal(interfaceSignature(none, veth), interfaceSignature(none, before))
  })

  it('ignores the named interfaces (the mesh tunnel coming up is not an underlay change)', () => {
    const lan = { eth0: [addr('10.1.2.3')] }
    const withTunnel = { ...lan, brmesh0: [addr('10.42.0.7'), addr('fd42::7')] }
    assert.equal(interfaceSignature(new Set(['brmesh0']), withTunnel), interfaceSignature(none, lan))
    assert.notEqual(interfaceSignature(none, withTunnel), interfaceSignature(none, lan))
  })
})
