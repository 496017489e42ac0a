// The peer-link wire format. hyperswarm's secret stream encrypts each write() as one message and delivers
// it as one 'data' event, so a frame is exactly one secret-stream message: no length prefix of our own.
//
//   frame   = u8 type, then by type:
//   HELLO 1 = u8 link version (1) | bytes certificate (varint length, <= 16 KiB) | varint max frame bytes
//             the first frame each side sends: its node certificate and the largest frame it accepts
//   READY 2 = (empty)      "your certificate verified"; a side is up once it has verified the peer's HELLO
//                          and received the peer's READY, so a refused peer never sees the link come up
//   DATA  3 = string channel (varint length, [a-z][a-z0-9._-]{0,31}) | payload (the rest of the frame)
//   PING  4 = varint nonce
//   PONG  5 = varint nonce (echo of a PING)
//   CLOSE 6 = string reason (<= 64 bytes): why the sender is closing, then it ends the stream
//   CERT  7 = bytes certificate: a renewed certificate on an up link, verified like the first one
//
// Channel names travel in every DATA frame (a few bytes): no channel-open handshake, no id tables to get
// out of step, and a new channel is just a new name. decodeFrame throws DecodeError on anything else.
//
// Datagrams: beside its frames, an up link carries unreliable, unordered datagrams (secret-stream's send():
// each one encrypted and authenticated on its own, sent as one UDX message packet with no ack, retransmission
// or stream framing). They are for traffic that would rather be lost than late: routing probes. A datagram is
// 1..MAX_DATAGRAM_BYTES opaque bytes whose first byte names its kind for the layer above; the link only
// checks the size. Datagrams arriving before the link is up, or outside the size bounds, are dropped and
// counted.

import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'

export const LINK_VERSION = 1
export const MAX_CERTIFICATE_BYTES = 16 * 1024
export const MAX_REASON_BYTES = 64
/** secret-stream refuses writes of 2^24 - 1 bytes and more (with its 20 bytes of header and tag). */
export const MAX_FRAME_LIMIT = 16 * 1024 * 1024 - 64
/** Smallest frame limit a peer may advertise: a HELLO with a certificate must fit. */
export const MIN_FRAME_LIMIT = 32 * 1024
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
/** Largest datagram a link sends or accepts: well inside one UDP packet after UDX's and secret-stream's headers. */
export const MAX_DATAGRAM_BYTES = 1024
export const CHANNEL_NAME = /^[a-z][a-z0-9._-]{0,31}$/
const MAX_CHANNEL_BYTES = 32

export const FrameType = { HELLO: 1, READY: 2, DATA: 3, PING: 4, PONG: 5, CLOSE: 6, CERT: 7 } as const

export type Frame =
  | { type: 'hello'; version: number; certificate: Uint8Array; maxFrameBytes: number }
  | { type: 'ready' }
  | { type: 'data'; channel: string; payload: Uint8Array }
  | { type: 'ping'; nonce: number }
  | { type: 'pong'; nonce: number }
  | { type: 'close'; reason: string }
  | { type: 'cert'; certificate: Uint8Array }

export const frameCodec: Codec<Frame> = {
  encode(w: Writer, f: Frame) {
    switch (f.type) {
      case 'hello':
        w.u8(FrameType.HELLO).u8(f.version).bytes(f.certificate).varint(f.maxFrameBytes)
        return
      case 'ready':
        w.u8(FrameType.READY)
        return
      case 'data':
        w.u8(FrameType.DATA).string(f.channel).fixed(f.payload)
        return
      case 'ping':
        w.u8(FrameType.PING).varint(f.nonce)
        return
      case 'pong':
        w.u8(FrameType.PONG).varint(f.nonce)
        return
      case 'close':
        w.u8(FrameType.CLOSE).string(f.reason)
        return
      case 'cert':
        w.u8(FrameType.CERT).bytes(f.certificate)
        return
    }
  },
  decode(r: Reader): Frame {
    const at = r.offset
    const type = r.u8()
    switch (type) {
      case FrameType.HELLO: {
        const version = r.u8()
        const certificate = r.bytes(MAX_CERTIFICATE_BYTES)
        const maxAt = r.offset
        const maxFrameBytes = r.varint()
        if (maxFrameBytes < MIN_FRAME_LIMIT || maxFrameBytes > MAX_FRAME_LIMIT) {
          throw new DecodeError(
            'invalid-value',
            `advertised frame limit ${maxFrameBytes} is out of range`,
            maxAt,
          )
        }
        return { type: 'hello', version, certificate, maxFrameBytes }
      }
      case FrameType.READY:
        return { type: 'ready' }
      case FrameType.DATA: {
        const nameAt = r.offset
        const channel = r.string(MAX_CHANNEL_BYTES)
        if (!CHANNEL_NAME.test(channel))
          throw new DecodeError('invalid-value', 'invalid channel name', nameAt)
        return { type: 'data', channel, payload: r.fixed(r.remaining) }
      }
      case FrameType.PING:
        return { type: 'ping', nonce: r.varint() }
      case FrameType.PONG:
        return { type: 'pong', nonce: r.varint() }
      case FrameType.CLOSE:
        return { type: 'close', reason: r.string(MAX_REASON_BYTES) }
      case FrameType.CERT:
        return { type: 'cert', certificate: r.bytes(MAX_CERTIFICATE_BYTES) }
      default:
        throw new DecodeError('unknown-tag', `unknown frame type ${type}`, at)
    }
  },
}

export function encodeFrame(f: Frame): Uint8Array {
  const size =
    f.type === 'data'
      ? f.payload.length + 40
      : f.type === 'hello' || f.type === 'cert'
        ? f.certificate.length + 16
        : 16
  return encodeWith(frameCodec, f, size)
}

const dataHeads = new Map<string, Uint8Array>()

/**
 * The bytes a DATA frame on `channel` starts with (type, channel name): a DATA frame is these followed by its
 * payload, so a sender can write the two parts without building the frame first. One per channel, kept.
 */
export function dataFrameHead(channel: string): Uint8Array {
  let head = dataHeads.get(channel)
  if (head === undefined) {
    const f = encodeFrame({ type: 'data', channel, payload: new Uint8Array(0) })
    head = new Uint8Array(f)
    dataHeads.set(channel, head)
  }
  return head
}

/** A fill (as frameFilled's, sendWith's) that copies `payload` in: what send() writes. */
export function copyFill(payload: Uint8Array): (out: Buffer, at: number) => void {
  return (out, at) => out.set(payload, at)
}

/**
 * A DATA frame built from `head` (dataFrameHead) and a payload of `n` bytes that `fill` writes at `out[at]`,
 * with up to `room` bytes there as its working space: for senders that write payloads in place (a link's
 * sendWith) when the frame cannot be written where it is sealed.
 */
export function frameFilled(
  head: Uint8Array,
  n: number,
  room: number,
  fill: (out: Buffer, at: number) => void,
): Buffer {
  const out = Buffer.allocUnsafe(head.length + Math.max(n, room))
  out.set(head, 0)
  fill(out, head.length)
  return out.length === head.length + n ? out : out.subarray(0, head.length + n)
}

/** Exactly one frame; DecodeError on unknown types, truncation, bad values or trailing bytes. */
export function decodeFrame(bytes: Uint8Array): Frame {
  return decodeWith(frameCodec, bytes)
}
