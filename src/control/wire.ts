// The control plane's frames on the bus: a Raft message (or a learner's hello) signed by the sending
// router's node key. The bus names a source node in every envelope but does not authenticate it beyond the
// first hop (a neighbour could put any node id there), so each frame carries an Ed25519 signature over the
// source, the destination and the body; the receiver checks it against the source's certificate.
//
//   off 0 u8  version (1)
//       1 u8  kind: 1 raft message (body = raftMessageCodec), 2 learner hello (body empty)
//       2 64  signature over  DOMAIN | from | 0 | to | 0 | kind | body
//      66 ..  body
//
// Binding the destination keeps a frame meant for one voter from being replayed to another; a frame replayed
// to its own destination is a duplicate, which Raft tolerates (the bus also de-duplicates).

import type { NodeId } from '../protocols/core/index.js'
import { type RaftMsg, raftMessageCodec } from '../protocols/raft/index.js'
import { DecodeError, decodeWith, encodeWith } from '../wire/index.js'

export const CONTROL_WIRE_VERSION = 1
export const SIGNATURE_BYTES = 64
const HEADER = 2 + SIGNATURE_BYTES
const DOMAIN = new TextEncoder().encode('blackroad-raft-frame-v1\0')
const utf8 = new TextEncoder()

export const FrameKind = { raft: 1, hello: 2 } as const

export type ControlFrame = { readonly kind: 'raft'; readonly msg: RaftMsg } | { readonly kind: 'hello' }

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

export function encodeControlFrame(
  frame: ControlFrame,
  from: NodeId,
  to: NodeId,
  signer: FrameSigner,
): Uint8Array {
  const kind = FrameKind[frame.kind]
  const body = frame.kind === 'raft' ? encodeWith(raftMessageCodec, frame.msg) : new Uint8Array(0)
  const sig = signer.sign(signedBytes(from, to, kind, body))
  const out = new Uint8Array(HEADER + body.length)
  out[0] = CONTROL_WIRE_VERSION
  out[1] = kind
  out.set(sig, 2)
  out.set(body, HEADER)
  return out
}

/** Why a frame was refused; also the `reason` label of blackroad_raft_dropped_messages_total. */
export type FrameRejection = 'undecodable' | 'bad_signature'

export type DecodedFrame =
  | { ok: true; frame: ControlFrame }
  | { ok: false; reason: FrameRejection; detail: string }

/** Checks version, signature and body; never throws on untrusted bytes. */
export function decodeControlFrame(
  bytes: Uint8Array,
  from: NodeId,
  to: NodeId,
  verify: FrameVerifier,
): DecodedFrame {
  if (bytes.length < HEADER)
    return { ok: false, reason: 'undecodable', detail: `frame of ${bytes.length} bytes` }
  if (bytes[0] !== CONTROL_WIRE_VERSION) {
    return { ok: false, reason: 'undecodable', detail: `unknown frame version ${bytes[0]}` }
  }
  const kind = bytes[1]!
  if (kind !== FrameKind.raft && kind !== FrameKind.hello) {
    return { ok: false, reason: 'undecodable', detail: `unknown frame kind ${kind}` }
  }
  const sig = bytes.subarray(2, HEADER)
  const body = bytes.subarray(HEADER)
  if (!verify(from, signedBytes(from, to, kind, body), sig)) {
    return { ok: false, reason: 'bad_signature', detail: `signature does not verify as ${from}` }
  }
  if (kind === FrameKind.hello) {
    if (body.length !== 0) return { ok: false, reason: 'undecodable', detail: 'hello with a body' }
    return { ok: true, frame: { kind: 'hello' } }
  }
  try {
    return { ok: true, frame: { kind: 'raft', msg: decodeWith(raftMessageCodec, body) } }
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err
    return { ok: false, reason: 'undecodable', detail: err.message.slice(0, 200) }
  }
}
