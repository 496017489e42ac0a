// How a revocation reaches every router. A revocation is a record signed by the federation root, so it can
// travel over any peer link and be checked by whoever receives it: the router that learns one (from the
// control plane, from disk or from a neighbour) verifies it, persists the whole list (revocations.bin), cuts the
// revoked node off (the caller re-verifies its links and drops routes) and passes it on to every other
// neighbour. On each new link both sides send what they hold, so a router that was away catches up.
// Frames on the 'revocation' channel are exactly one encoded SignedRevocation.

import { Counter, type Registry } from 'prom-client'
import {
  decodeRevocation,
  encodeRevocation,
  type RevocationSet,
  type SignedRevocation,
  TrustError,
} from '../identity/index.js'

export const REVOCATION_CHANNEL = 'revocation'

export interface RevocationGossipOptions {
  set: RevocationSet
  /** Writes the complete list durably (revocations.bin). */
  persist(list: readonly SignedRevocation[]): Promise<void>
  send(peer: string, frame: Uint8Array): void
  peers(): string[]
  /** Called once per new revocation, after it is in the set: re-verify links, drop routes. */
  onRevoked(rev: SignedRevocation): void
  registry?: Registry
}

export class RevocationGossip {
  private readonly counter: Counter<'result'>
  private persisting: Promise<void> = Promise.resolve()

  constructor(private readonly opts: RevocationGossipOptions) {
    const name = 'blackroad_revocation_frames_total'
    this.counter =
      (opts.registry?.getSingleMetric(name) as Counter<'result'> | undefined) ??
      new Counter({
        name,
        help: 'Revocations received or issued, by result (accepted, duplicate, bad-signature, malformed)',
        labelNames: ['result'],
        registers: opts.registry ? [opts.registry] : [],
      })
  }

  /** A revocation from the control plane or an operator: enforce, persist, flood. Returns false if known. */
  add(rev: SignedRevocation, from: string | null = null): boolean {
    let fresh: boolean
    try {
      fresh = this.opts.set.add(rev)
    } catch (err) {
      if (err instanceof TrustError) {
        this.counter.inc({ result: 'bad-signature' })
        return false
      }
      throw err
    }
    if (!fresh) {
      this.counter.inc({ result: 'duplicate' })
      return false
    }
    this.counter.inc({ result: 'accepted' })
    const list = [...this.opts.set.entries()]
    this.persisting = this.persisting.then(() => this.opts.persist(list)).catch(() => {})
    this.opts.onRevoked(rev)
    const frame = encodeRevocation(rev)
    for (const peer of this.opts.peers()) if (peer !== from) this.opts.send(peer, frame)
    return true
  }

  /** A frame from a neighbour; never throws. */
  receive(peer: string, frame: Uint8Array): void {
    let rev: SignedRevocation
    try {
      rev = decodeRevocation(frame)
    } catch {
      this.counter.inc({ result: 'malformed' })
      return
    }
    this.add(rev, peer)
  }

  /** Everything we hold, for a neighbour whose link just came up. */
  syncTo(peer: string): void {
    for (const rev of this.opts.set.entries()) this.opts.send(peer, encodeRevocation(rev))
  }

  entries(): readonly SignedRevocation[] {
    return this.opts.set.entries()
  }

  /** Whether this router enforces a revocation of `cert` (RevocationSet.isRevoked). */
  isRevoked(cert: { nodeId: string; serial: number }): boolean {
    return this.opts.set.isRevoked(cert)
  }

  /** Resolves when the latest list is on disk. */
  flushed(): Promise<void> {
    return this.persisting
  }
}
