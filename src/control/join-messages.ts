// The join channel's messages, one codec for all of them. The channel is TLS 1.3 (see join-client.ts and
// join-server.ts); over it each message is one frame: u32 big-endian length, then the message below. The first
// byte of a message is its tag, the second the protocol version (1):
//
//   HELLO   1  server → client: root public key (32) | federation id | control plane's node certificate
//   JOIN    2  client → server: token | node name | underlay addresses (list of host:port)
//   RENEW   3  client → server: (nothing: the TLS client key names the node)
//   JOINED  4  server → client: certificate | federation id, name, createdAt | federation secret
//              | revocations (identity's list codec) | mesh IPv4 | mesh IPv6 | control-plane endpoints
//              | bootstrap hints | static-peer hints [| Raft voters (node ids, leader first)]
//   RENEWED 5  server → client: certificate
//   REFUSED 6  server → client: code | message
//
// decodeJoinMessage accepts exactly these shapes and throws DecodeError on anything else.
//
// The voters came later, as an optional trailing list, written only when there are some: a JOINED without
// them is byte for byte what earlier servers send, and decodes with no voters. (A reader that predates them
// refuses the trailing bytes, so a node joining a Raft control plane needs this version.)

import { revocationListCodec, type SignedRevocation } from '../identity/index.js'
import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'

export const JOIN_PROTOCOL_VERSION = 1
/** A frame larger than this is refused before it is buffered. */
export const MAX_JOIN_FRAME = 4 * 1024 * 1024
const MAX = {
  cert: 16 * 1024,
  token: 8192,
  name: 253,
  addr: 300,
  addrs: 32,
  code: 64,
  message: 1024,
  id: 64,
  secret: 256,
  voters: 64,
}

export type RefusalCode =
  | 'TOKEN_MALFORMED'
  | 'TOKEN_REUSED'
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'OTHER_FEDERATION'
  | 'CLUSTER_NOT_FOUND'
  | 'REVOKED'
  | 'NODE_EXISTS'
  | 'NOT_REGISTERED'
  | 'POOL_EXHAUSTED'
  | 'NO_LEADER'
  | 'TIMEOUT'
  | 'PROTOCOL'
  | 'INTERNAL'

export const REFUSAL_CODES: readonly RefusalCode[] = [
  'TOKEN_MALFORMED',
  'TOKEN_REUSED',
  'BAD_SIGNATURE',
  'EXPIRED',
  'NOT_YET_VALID',
  'OTHER_FEDERATION',
  'CLUSTER_NOT_FOUND',
  'REVOKED',
  'NODE_EXISTS',
  'NOT_REGISTERED',
  'POOL_EXHAUSTED',
  'NO_LEADER',
  'TIMEOUT',
  'PROTOCOL',
  'INTERNAL',
]

export interface JoinedPayload {
  certificate: Uint8Array
  federation: { id: string; name: string; createdAt: number }
  secret: Uint8Array
  revocations: SignedRevocation[]
  ipv4: string
  ipv6: string
  controlPlane: string[]
  bootstrap: string[]
  staticPeers: string[]
  /** The control plane's Raft voters, leader first; empty when it runs none. */
  voters: string[]
}

export type JoinMessage =
  | { type: 'hello'; rootPublicKey: Uint8Array; federationId: string; certificate: Uint8Array }
  | { type: 'join'; token: string; name: string; addresses: string[] }
  | { type: 'renew' }
  | ({ type: 'joined' } & JoinedPayload)
  | { type: 'renewed'; certificate: Uint8Array }
  | { type: 'refused'; code: RefusalCode; message: string }

const TAGS = { hello: 1, join: 2, renew: 3, joined: 4, renewed: 5, refused: 6 } as const

function strings(w: Writer, list: readonly string[]): void {
  w.varint(list.length)
  for (const s of list) w.string(s)
}

function readStrings(r: Reader, maxItems: number, maxBytes: number): string[] {
  const n = r.count(maxItems)
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(r.string(maxBytes))
  return out
}

export const joinMessageCodec: Codec<JoinMessage> = {
  encode(w, m) {
    w.u8(TAGS[m.type]).u8(JOIN_PROTOCOL_VERSION)
    switch (m.type) {
      case 'hello':
        w.fixed(m.rootPublicKey).string(m.federationId).bytes(m.certificate)
        return
      case 'join':
        w.string(m.token).string(m.name)
        strings(w, m.addresses)
        return
      case 'renew':
        return
      case 'joined':
        w.bytes(m.certificate)
          .string(m.federation.id)
          .string(m.federation.name)
          .varint(m.federation.createdAt)
        w.bytes(m.secret)
        revocationListCodec.encode(w, m.revocations)
        w.string(m.ipv4).string(m.ipv6)
        strings(w, m.controlPlane)
        strings(w, m.bootstrap)
        strings(w, m.staticPeers)
        if (m.voters.length > 0) strings(w, m.voters)
        return
      case 'renewed':
        w.bytes(m.certificate)
        return
      case 'refused':
        w.string(m.code).string(m.message)
        return
    }
  },
  decode(r) {
    const tagAt = r.offset
    const tag = r.u8()
    const versionAt = r.offset
    const version = r.u8()
    if (version !== JOIN_PROTOCOL_VERSION) {
      throw new DecodeError(
        'unsupported-version',
        `join protocol version ${version} is not supported`,
        versionAt,
      )
    }
    switch (tag) {
      case TAGS.hello: {
        const rootPublicKey = r.fixed(32)
        return {
          type: 'hello',
          rootPublicKey,
          federationId: r.string(MAX.id),
          certificate: r.bytes(MAX.cert),
        }
      }
      case TAGS.join: {
        const token = r.string(MAX.token)
        const name = r.string(MAX.name)
        return { type: 'join', token, name, addresses: readStrings(r, MAX.addrs, MAX.addr) }
      }
      case TAGS.renew:
        return { type: 'renew' }
      case TAGS.joined: {
        const certificate = r.bytes(MAX.cert)
        const federation = { id: r.string(MAX.id), name: r.string(MAX.name), createdAt: r.varint() }
        const secret = r.bytes(MAX.secret)
        const revocations = revocationListCodec.decode(r)
        const ipv4 = r.string(MAX.addr)
        const ipv6 = r.string(MAX.addr)
        const controlPlane = readStrings(r, MAX.addrs, MAX.addr)
        const bootstrap = readStrings(r, MAX.addrs, MAX.addr)
        const staticPeers = readStrings(r, MAX.addrs, MAX.addr)
        let voters: string[] = []
        if (r.remaining > 0) {
          const votersAt = r.offset
          voters = readStrings(r, MAX.voters, MAX.id)
          // Written only when there are voters: an empty list would give one message two encodings.
          if (voters.length === 0) {
            throw new DecodeError('invalid-value', 'JOINED with an empty voter list', votersAt)
          }
        }
        return {
          type: 'joined',
          certificate,
          federation,
          secret,
          revocations,
          ipv4,
          ipv6,
          controlPlane,
          bootstrap,
          staticPeers,
          voters,
        }
      }
      case TAGS.renewed:
        return { type: 'renewed', certificate: r.bytes(MAX.cert) }
      case TAGS.refused: {
        const codeAt = r.offset
        const code = r.string(MAX.code)
        if (!REFUSAL_CODES.includes(code as RefusalCode)) {
          throw new DecodeError('invalid-value', `unknown refusal code ${JSON.stringify(code)}`, codeAt)
        }
        return { type: 'refused', code: code as RefusalCode, message: r.string(MAX.message) }
      }
      default:
        throw new DecodeError('unknown-tag', `unknown join message tag ${tag}`, tagAt)
    }
  },
}

export function encodeJoinMessage(m: JoinMessage): Uint8Array {
  return encodeWith(joinMessageCodec, m, 256)
}

export function decodeJoinMessage(bytes: Uint8Array): JoinMessage {
  return decodeWith(joinMessageCodec, bytes)
}

/** Frame = u32 big-endian length + message. */
export function frameJoinMessage(m: JoinMessage): Buffer {
  const body = encodeJoinMessage(m)
  const out = Buffer.alloc(4 + body.length)
  out.writeUInt32BE(body.length, 0)
  out.set(body, 4)
  return out
}

/**
 * Splits a byte stream into frames: push() chunks, get whole messages back. A length over MAX_JOIN_FRAME is a
 * DecodeError at once, so a peer cannot make us buffer more than that.
 */
export class JoinFrameReader {
  private buf = Buffer.alloc(0)

  push(chunk: Uint8Array): JoinMessage[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk])
    const out: JoinMessage[] = []
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0)
      if (n > MAX_JOIN_FRAME)
        throw new DecodeError('length-exceeds-max', `join frame of ${n} bytes is over ${MAX_JOIN_FRAME}`)
      if (this.buf.length < 4 + n) break
      out.push(decodeJoinMessage(this.buf.subarray(4, 4 + n)))
      this.buf = this.buf.subarray(4 + n)
    }
    return out
  }
}
