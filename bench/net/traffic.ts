// Where a node's underlay bytes go: reads a pcap of what one host sent (tcpdump -Q out -w) and sorts every
// frame into a kind by its headers, so the idle-traffic figure of the failover suite can be broken down.
//
// Kinds, by the first bytes of the UDP payload (nothing here is decrypted):
//   dht            dht-rpc request/response (first byte 0x03 / 0x13): DHT maintenance, announces, lookups,
//                  holepunch signalling
//   wg-keepalive   WireGuard type 4 with an empty payload (32 bytes): persistent keepalives
//   wg-other       other WireGuard messages (handshakes, tunnelled data)
//   udx-message    UDX unordered datagram (secret-stream send(); the peer link's probes after issue 3)
//   udx-ack        UDX packet without data (ack / SACK / heartbeat): what the reliable stream costs per message
//   udx-probe      UDX data of exactly one probe frame (DATA on 'probe', 12 bytes + 20 of secret-stream)
//   udx-ping       UDX data of exactly one link PING/PONG frame (2-6 bytes + 20)
//   udx-keepalive  UDX data of one empty secret-stream message (its own keepalive)
//   udx-data       other UDX data (link-state floods, bus, several small frames sent together...)
//   other          anything else (ARP, IPv6 neighbour discovery, ...)

import { readFileSync } from 'node:fs'

export type TrafficKind =
  | 'dht'
  | 'wg-keepalive'
  | 'wg-other'
  | 'udx-message'
  | 'udx-ack'
  | 'udx-probe'
  | 'udx-ping'
  | 'udx-keepalive'
  | 'udx-data'
  | 'other'

export const TRAFFIC_KINDS: readonly TrafficKind[] = [
  'dht',
  'wg-keepalive',
  'wg-other',
  'udx-message',
  'udx-ack',
  'udx-probe',
  'udx-ping',
  'udx-keepalive',
  'udx-data',
  'other',
]

export type TrafficTally = Record<TrafficKind, { packets: number; bytes: number }>

const UDX_MAGIC = 0xff
const UDX_HEADER = 20
const UDX_DATA = 0b1
const UDX_END = 0b10
const UDX_MESSAGE = 0b1000
/** secret-stream: uint24 length + secretstream header of 17 bytes per message. */
const SECRET_STREAM_OVERHEAD = 20

export function emptyTally(): TrafficTally {
  return Object.fromEntries(TRAFFIC_KINDS.map((k) => [k, { packets: 0, bytes: 0 }])) as TrafficTally
}

/** The kind of one UDP payload (see the header). */
export function classifyUdp(
  payload: Uint8Array,
  srcPort: number,
  dstPort: number,
  wgPort = 51820,
): TrafficKind {
  const b0 = payload[0]
  if (b0 === UDX_MAGIC && payload[1] === 1 && payload.length >= UDX_HEADER) {
    const type = payload[2]!
    if (type & UDX_MESSAGE) return 'udx-message'
    if (!(type & (UDX_DATA | UDX_END))) return 'udx-ack'
    const body = payload.length - UDX_HEADER - SECRET_STREAM_OVERHEAD
    if (body === 12) return 'udx-probe'
    if (body >= 2 && body <= 6) return 'udx-ping'
    if (body === 0) return 'udx-keepalive'
    return 'udx-data'
  }
  if (srcPort === wgPort || dstPort === wgPort) {
    if (b0 === 4 && payload.length === 32) return 'wg-keepalive'
    if (b0 !== undefined && b0 >= 1 && b0 <= 4) return 'wg-other'
  }
  if (b0 === 0x03 || b0 === 0x13) return 'dht'
  return 'other'
}

/**
 * Tallies the frames of a pcap (Ethernet link type; a snap length of 128 bytes is plenty): bytes are the
 * frames' original lengths, as the interface's tx_bytes counts them.
 */
export function tallyPcap(bytes: Uint8Array, wgPort = 51820): TrafficTally {
  const tally = emptyTally()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 24) return tally
  const magic = view.getUint32(0, true)
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  if (!little && view.getUint32(0, false) !== 0xa1b2c3d4 && view.getUint32(0, false) !== 0xa1b23c4d)
    throw new Error('not a pcap file')
  const linkType = view.getUint32(20, little)
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}: only Ethernet (1) is read`)
  let at = 24
  while (at + 16 <= bytes.length) {
    const incl = view.getUint32(at + 8, little)
    const orig = view.getUint32(at + 12, little)
    const frame = bytes.subarray(at + 16, Math.min(bytes.length, at + 16 + incl))
    at += 16 + incl
    const kind = classifyFrame(frame, wgPort)
    tally[kind].packets++
    tally[kind].bytes += orig
  }
  return tally
}

export function tallyPcapFile(file: string, wgPort = 51820): TrafficTally {
  return tallyPcap(readFileSync(file), wgPort)
}

function classifyFrame(frame: Uint8Array, wgPort: number): TrafficKind {
  if (frame.length < 14) return 'other'
  const etherType = (frame[12]! << 8) | frame[13]!
  let l4: number
  let proto: number
  if (etherType === 0x0800) {
    const ihl = (frame[14]! & 0x0f) * 4
    proto = frame[14 + 9]!
    l4 = 14 + ihl
  } else if (etherType === 0x86dd) {
    proto = frame[14 + 6]!
    l4 = 14 + 40
  } else return 'other'
  if (proto !== 17 || frame.length < l4 + 8) return 'other'
  const srcPort = (frame[l4]! << 8) | frame[l4 + 1]!
  const dstPort = (frame[l4 + 2]! << 8) | frame[l4 + 3]!
  const udpLen = (frame[l4 + 4]! << 8) | frame[l4 + 5]!
  // The capture may be cut short: classify from what was captured, but size by the UDP header's length.
  const captured = frame.subarray(l4 + 8)
  const payload =
    captured.length >= udpLen - 8 ? captured.subarray(0, udpLen - 8) : sizedPrefix(captured, udpLen - 8)
  return classifyUdp(payload, srcPort, dstPort, wgPort)
}

/** A payload view whose length is the real one but whose bytes beyond the capture read as zero. */
function sizedPrefix(captured: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, length))
  out.set(captured.subarray(0, out.length))
  return out
}
