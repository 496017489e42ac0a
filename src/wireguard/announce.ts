// WireGuard key announcements: the node key (the node's identity) vouches for its current WireGuard public
// key and listen port in a signed record of kind 'wg-key'. The WireGuard key rotates on a schedule; peers
// accept an announcement only if the signer is the node they know, the sequence number is newer than the last
// one accepted, and it is not absurdly old, so a replayed or forged announcement can never move a peer's
// traffic to another key.

import { type KeyPair, type SignedRecord, signRecord, verifyRecord } from '../identity/index.js'
import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'

export const WG_KEY_RECORD = 'wg-key'

export interface WgKeyAnnouncement {
  /** X25519 public key WireGuard uses now. */
  publicKey: Uint8Array
  listenPort: number
  /** Monotonic per node: a restart continues from issuedAt so it never goes back. */
  seq: number
  issuedAt: number
}

export const wgKeyAnnouncementCodec: Codec<WgKeyAnnouncement> = {
  encode(w: Writer, v: WgKeyAnnouncement): void {
    w.u8(1).fixed(v.publicKey).u16(v.listenPort).varint(v.seq).varint(v.issuedAt)
  },
  decode(r: Reader): WgKeyAnnouncement {
    const version = r.u8()
    if (version !== 1) throw new DecodeError('unsupported-version', `wg-key record version ${version}`)
    const publicKey = r.fixed(32)
    const listenPort = r.u16()
    const seq = r.varint()
    const issuedAt = r.varint()
    return { publicKey, listenPort, seq, issuedAt }
  },
}

export function signWgKeyAnnouncement(a: WgKeyAnnouncement, nodeKey: KeyPair): SignedRecord {
  return signRecord(WG_KEY_RECORD, encodeWith(wgKeyAnnouncementCodec, a), nodeKey)
}

export type AnnouncementVerdict =
  | { ok: true; announcement: WgKeyAnnouncement }
  | { ok: false; reason: 'bad-signature' | 'wrong-signer' | 'malformed' | 'stale' }

/**
 * Keeps the newest accepted announcement per node and judges new ones. `nodeKey` is the node's Ed25519 key as
 * its certificate names it; a record signed by any other key is refused.
 */
export class WgKeyBook {
  private readonly latest = new Map<string, WgKeyAnnouncement>()

  accept(nodeId: string, nodeKey: Uint8Array, rec: SignedRecord): AnnouncementVerdict {
    if (!Buffer.from(rec.signer).equals(Buffer.from(nodeKey))) return { ok: false, reason: 'wrong-signer' }
    let body: Uint8Array
    try {
      body = verifyRecord(rec, WG_KEY_RECORD, nodeKey)
    } catch {
      return { ok: false, reason: 'bad-signature' }
    }
    let a: WgKeyAnnouncement
    try {
      a = decodeWith(wgKeyAnnouncementCodec, body)
    } catch {
      return { ok: false, reason: 'malformed' }
    }
    const prev = this.latest.get(nodeId)
    if (prev && a.seq <= prev.seq) return { ok: false, reason: 'stale' }
    this.latest.set(nodeId, a)
    return { ok: true, announcement: a }
  }

  get(nodeId: string): WgKeyAnnouncement | undefined {
    return this.latest.get(nodeId)
  }

  forget(nodeId: string): void {
    this.latest.delete(nodeId)
  }
}
