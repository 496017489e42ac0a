// The control plane's frames on the bus: Raft messages (or a router's hello) from one router to another.
// The bus names a source node in every envelope but does not authenticate it beyond the first hop (a
// neighbour could put any node id there). Two ways to prove the source:
//   - signed: an Ed25519 signature over the source, the destination and the body, checked against the
//     source's certificate. Works over any path, relays included.
//   - link: no signature; accepted only when the envelope arrived over the direct peer link of the node it
//     names as source, whose key the link's Noise handshake authenticated (src/transport). This is the common
//     case between voters, and it spares a sign and a verify per frame on the commit path.
//
//   off 0 u8  version (1)
//       1 u8  kind: 1 raft message, 2 hello, 3 raft batch — each signed; 4 raft batch, link-authenticated
//       2 64  signature over  DOMAIN | from | 0 | to | 0 | kind | body   (kinds 1-3 only)
//     ..  ..  body: kind 1 one raftMessageCodec value, kinds 3 and 4 a varint count then that many;
//               kind 2 empty ("add me as a learner"), or one byte 1 ("I am a learner and want to vote")
//
// The hello's one-byte body came later: a router that does not know it refuses it as undecodable, so a
// learner sends it only once it is a learner (see replica.ts), and a plain hello to be added first.
// Binding the destination keeps a frame meant for one voter from being replayed to another; a frame replayed
// to its own destination is a duplicate, which Raft tolerates (the bus also de-duplicates).

import type { NodeId } from '../protocols/core/index.js'
import { type RaftMsg, raftMessageCodec } from '../protocols/raft/index.js'
import { arrayCodec, DecodeError, decodeWith, encodeWith } from '../wire/index.js'

export const CONTROL_WIRE_VERSION = 1
export const SIGNATURE_BYTES = 64
const HEADER = 2 + SIGNATURE_BYTES
const DOMAIN = new TextEncoder().encode('blackroad-raft-frame-v1\0')
const utf8 = new TextEncoder()

export const FrameKind = { raft: 1, hello: 2, batch: 3, linkBatch: 4 } as const
/** Most messages one batch frame carries (a sender splits longer queues). */
export const MAX_BATCH = 256
const batchCodec = arrayCodec(raftMessageCodec, MAX_BATCH)
/** The one body a hello may have besides none: the sender wants to vote. */
const HELLO_WANTS_VOTE = 1

export type ControlFrame =
  | { readonly kind: 'raft'; readonly msg: RaftMsg }
  /** `wantsVote`: a control-plane node, already a learner, asks to be promoted to voter. */
  | { readonly kind: 'hello'; readonly wantsVote?: boolean }
  | { readonly kind: 'batch'; readonly msgs: readonly RaftMsg[] }

export interface FrameSigner {
  sign(message: Uint8Array): Uint8Array
}

/** Returns true when `signature` over `message` was made by `from`'s certified key. */
export type FrameVerifier = (from: NodeId, message: Uint8Array, signature: Uint8Array) => boolean

function signedBytes(from: NodeId, to: NodeId, kind: number, body: Uint8Array): Uint8Array {
  const f = utf8.encode(from)
  const t = utf8.encode(to)
  const out = new Uint8Array(DOMAIN.length + f.length + 1 + t.length + 1 + 1 + body.length)
  let p = 0
  out.set(DOMAIN, p)
  p += DOMAIN.length
  out.set(f, p)
  p += f.length + 1
  out.set(t, p)
  p += t.length + 1
  out[p++] = kind
  out.set(body, p)
  return out
}

/**
 * Encodes a frame. `signer` null makes a batch link-authenticated (no signature): only for a destination this
 * router reaches over its own direct peer link.
 */
export function encodeControlFrame(
  frame: ControlFrame,
  from: NodeId,
  to: NodeId,
  signer: FrameSigner | null,
): Uint8Array {
  const body =
    frame.kind === 'raft'
      ? encodeWith(raftMessageCodec, frame.msg)
      : frame.kind === 'batch'
        ? encodeWith(batchCodec, frame.msgs as RaftMsg[])
        : frame.wantsVote === true
          ? Uint8Array.of(HELLO_WANTS_VOTE)
          : new Uint8Array(0)
  if (signer === null) {
    if (frame.kind !== 'batch') throw new Error('only a batch frame can go without a signature')
    const out = new Uint8Array(2 + body.length)
    out[0] = CONTROL_WIRE_VERSION
    out[1] = FrameKind.linkBatch
    out.set(body, 2)
    return out
  }
  const kind = FrameKind[frame.kind]
  const sig = signer.sign(signedBytes(from, to, kind, body))
  const out = new Uint8Array(HEADER + body.length)
  out[0] = CONTROL_WIRE_VERSION
  out[1] = kind
  out.set(sig, 2)
  out.set(body, HEADER)
  return out
}

/** Why a frame was refused; also the `reason` label of blackroad_raft_dropped_messages_total. */
export type FrameRejection = 'undecodable' | 'bad_signature' | 'unauthenticated'

export type DecodedFrame =
  | { ok: true; frame: ControlFrame }
  | { ok: false; reason: FrameRejection; detail: string }

/**
 * Checks version, proof of source and body; never throws on untrusted bytes. `overLink` says whether the
 * envelope arrived over the direct peer link of `from` (the only case a link-authenticated frame is taken).
 */
export function decodeControlFrame(
  bytes: Uint8Array,
  from: NodeId,
  to: NodeId,
  verify: FrameVerifier,
  overLink = false,
): DecodedFrame {
  if (bytes.length < 2) return { ok: false, reason: 'undecodable', detail: `frame of ${bytes.length} bytes` }
  if (bytes[0] !== CONTROL_WIRE_VERSION) {
    return { ok: false, reason: 'undecodable', detail: `unknown frame version ${bytes[0]}` }
  }
  const kind = bytes[1]!
  let body: Uint8Array
  if (kind === FrameKind.linkBatch) {
    if (!overLink) {
      return { ok: false, reason: 'unauthenticated', detail: `unsigned frame not from ${from}'s own link` }
    }
    body = bytes.subarray(2)
  } else if (kind === FrameKind.raft || kind === FrameKind.hello || kind === FrameKind.batch) {
    if (bytes.length < HEADER)
      return { ok: false, reason: 'undecodable', detail: `frame of ${bytes.length} bytes` }
    body = bytes.subarray(HEADER)
    if (!verify(from, signedBytes(from, to, kind, body), bytes.subarray(2, HEADER))) {
      return { ok: false, reason: 'bad_signature', detail: `signature does not verify as ${from}` }
    }
  } else {
    return { ok: false, reason: 'undecodable', detail: `unknown frame kind ${kind}` }
  }
  if (kind === FrameKind.hello) {
    if (body.length === 0) return { ok: true, frame: { kind: 'hello' } }
    if (body.length === 1 && body[0] === HELLO_WANTS_VOTE) {
      return { ok: true, frame: { kind: 'hello', wantsVote: true } }
    }
    return { ok: false, reason: 'undecodable', detail: `hello with a body of ${body.length} bytes` }
  }
  try {
    if (kind === FrameKind.raft)
      return { ok: true, frame: { kind: 'raft', msg: decodeWith(raftMessageCodec, body) } }
    return { ok: true, frame: { kind: 'batch', msgs: decodeWith(batchCodec, body) } }
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err
    return { ok: false, reason: 'undecodable', detail: err.message.slice(0, 200) }
  }
}
