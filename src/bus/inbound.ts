// The receiving half of the router: frames from links are split into envelopes (without copying), each
// envelope is forwarded towards the destination nodes that are not this one and delivered here if this
// node is among them. Local delivery, shared with local senders, applies in order: acks settle pending
// at-least-once sends; duplicates are dropped (see dedup.ts for the two tiers; an at-least-once duplicate is
// acked again, since the first ack may be what got lost);
// replies to the router settle pending requests; everything else passes the egress policy and goes to an
// agent, the subscribers of its subject, or the node-level handler.

import { DecodeError, isDecodeError } from '../wire/index.js'
import type { RouterCore } from './core.js'
import { DedupCache, SeqWindows } from './dedup.js'
import { decodeEnvelopeAt, type Envelope, Flag, maxEnvelopeBytes } from './envelope.js'
import { BusError } from './errors.js'
import { forEachInBatch } from './frames.js'
import { errorFromPayload, errorPayload } from './names.js'
import type { Outbound } from './outbound.js'
import { decodeRun, type Run, seqAt } from './runs.js'
import { type MessageHandler, policyRefusal } from './types.js'

export class Inbound {
  private peer = ''
  private readonly dedup: DedupCache
  private readonly recent = new SeqWindows()
  private readonly limits: { maxPayloadBytes: number }
  private readonly maxEnvelope: number
  private readonly each = (buf: Uint8Array, start: number, end: number) => this.envelope(buf, start, end)

  constructor(
    private readonly r: RouterCore,
    private readonly out: Outbound,
  ) {
    this.dedup = new DedupCache(r.clock.now(), {
      capacity: r.limits.dedupCapacity,
      windowMs: r.limits.dedupWindowMs,
    })
    this.limits = { maxPayloadBytes: r.limits.maxPayloadBytes }
    this.maxEnvelope = maxEnvelopeBytes(r.limits.maxPayloadBytes)
  }

  /** An envelope batch frame from the link to `peerId`. */
  frame(peerId: string, frame: Uint8Array): void {
    const outer = this.peer
    this.peer = peerId
    try {
      forEachInBatch(frame, this.maxEnvelope, this.each)
    } catch (err) {
      if (!isDecodeError(err)) throw err
      this.r.drop('malformed', null)
    } finally {
      this.peer = outer
    }
  }

  private envelope(buf: Uint8Array, start: number, end: number): void {
    const r = this.r
    let env: Envelope
    try {
      env = decodeEnvelopeAt(buf, start, end, this.limits)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      r.drop('malformed', null)
      return
    }
    this.route(env, buf.subarray(start, end))
  }

  /** A received message: forwarded towards its other destinations, delivered if this node is one. */
  private route(env: Envelope, raw: Uint8Array | null): void {
    const r = this.r
    r.metrics.in(this.peer, r.label(env))
    const to = env.to
    const self = r.nodeId
    if (to.length === 1) {
      if (to[0] === self) this.deliverRemote(env)
      else this.out.forward(env, to, raw)
      return
    }
    let mine = false
    const others: string[] = []
    for (const node of to) {
      if (node === self) mine = true
      else others.push(node)
    }
    if (others.length > 0) this.out.forward(env, others.length === to.length ? to : others, mine ? null : raw)
    if (mine) this.deliverRemote(env)
  }

  /**
   * A run frame (runs.ts) from the link to `peerId`. Addressed to this node alone, it is checked message by
   * message where that is per message (duplicates, the egress policy) and delivered to each subscriber at
   * once; anything else (a run to forward, or to fan out from here) goes on as its messages, one by one.
   */
  run(peerId: string, frame: Uint8Array): void {
    const r = this.r
    let run: Run
    try {
      run = decodeRun(frame, this.limits)
    } catch (err) {
      if (!isDecodeError(err)) throw err
      r.drop('malformed', null)
      return
    }
    const head = run.head
    const outer = this.peer
    this.peer = peerId
    try {
      if (head.to.length !== 1 || head.to[0] !== r.nodeId) {
        for (let i = 0; i < run.count; i++) this.route(run.message(i), null)
        return
      }
      const label = r.label(head)
      r.metrics.in(peerId, label, run.count)
      const policy = r.policy
      const passed = run.filter((i) => {
        if (this.recent.seen(head.srcNode, head.epoch, seqAt(head.seq, i))) {
          r.drop('duplicate', head)
          return false
        }
        const d = policy?.(head, 'egress')
        if (d === undefined || d.allow) return true
        r.drop(policyRefusal(d).drop, head)
        return false
      }, true)
      if (passed === null) return
      run = passed
      const subs = r.subs.match(head.subject)
      if (subs.length === 0) r.drop('no_interest', head, run.count)
      for (const s of subs) {
        if (s.runs === undefined) {
          for (let i = 0; i < run.count; i++) this.call(s.handler, run.message(i), peerId)
          continue
        }
        try {
          s.runs(run, peerId)
          r.metrics.out('local', label, run.count)
        } catch {
          r.drop('handler_error', head, run.count)
        }
      }
    } finally {
      this.peer = outer
    }
  }

  /** A message from another node that is addressed (also) to this one. */
  private deliverRemote(env: Envelope): void {
    const r = this.r
    const f = env.flags
    if ((f & Flag.ACK) !== 0) {
      const error = (f & Flag.ERROR) !== 0 ? errorFromPayload(env.payload, env.srcNode) : null
      if (env.corrEpoch === r.epoch && r.acks.onAck(env.srcNode, env.corrSeq, error))
        r.metrics.out('local', r.label(env))
      else r.drop('late_reply', env)
      return
    }
    if ((f & Flag.ACK_REQUESTED) === 0) {
      if (this.recent.seen(env.srcNode, env.epoch, env.seq)) r.drop('duplicate', env)
      else this.deliverLocal(env, this.peer)
      return
    }
    if (this.dedup.has(env.srcNode, env.epoch, env.seq)) {
      r.drop('duplicate', env)
      this.out.ack(env, null)
      return
    }
    const err = this.deliverLocal(env, this.peer)
    // A refused message is not remembered: its retry meets the policy again and is refused again.
    if (err === null || (err.code !== 'POLICY_DENIED' && err.code !== 'RATE_LIMITED'))
      this.dedup.add(env.srcNode, env.epoch, env.seq, r.clock.now())
    this.out.ack(env, err)
  }

  /**
   * Delivers to local receivers. Returns null when delivered (or when nobody here listens to the subject
   * any more: a publish promises delivery to current subscribers only), else the error the sender should
   * see: POLICY_DENIED, or NO_RESPONDERS for a missing agent.
   */
  deliverLocal(env: Envelope, via: string | null = null): BusError | null {
    const r = this.r
    const f = env.flags
    if ((f & Flag.REPLY) !== 0 && env.agent === '') {
      this.settleRequest(env)
      return null
    }
    if ((f & Flag.REPLY) === 0 && r.policy !== undefined) {
      const d = r.policy(env, 'egress')
      if (!d.allow) {
        const refused = policyRefusal(d)
        r.drop(refused.drop, env)
        const err = refused.error
        if ((f & Flag.REQUEST) !== 0) this.answerError(env, err)
        return err
      }
    }
    if (env.agent !== '') {
      const h = r.agents.get(env.agent)
      if (h === undefined) {
        r.drop('no_agent', env)
        const err = new BusError('NO_RESPONDERS', `no agent ${env.agent} on ${r.nodeId}`)
        if ((f & Flag.REQUEST) !== 0) this.answerError(env, err)
        return err
      }
      this.call(h, env, via)
      return null
    }
    if (env.subject !== '') {
      const subs = r.subs.match(env.subject)
      if (subs.length === 0) r.drop('no_interest', env)
      for (const s of subs) this.call(s.handler, env, via)
      return null
    }
    if (r.nodeHandler === null) r.drop('unhandled', env)
    else this.call(r.nodeHandler, env, via)
    return null
  }

  private settleRequest(env: Envelope): void {
    const r = this.r
    let settled = false
    if (env.corrEpoch === r.epoch) {
      settled =
        (env.flags & Flag.ERROR) !== 0
          ? r.requests.reject(env.corrSeq, errorFromPayload(env.payload, env.srcNode))
          : r.requests.resolve(env.corrSeq, env)
    }
    if (settled) r.metrics.out('local', r.label(env))
    else r.drop('late_reply', env)
  }

  private answerError(req: Envelope, err: BusError): void {
    this.out
      .answer(req, Flag.REPLY | Flag.ERROR, errorPayload(err.code, err.message), req.priority, '')
      .catch(() => this.r.drop('queue_full', req))
  }

  private call(h: MessageHandler, env: Envelope, via: string | null): void {
    try {
      h(env, via)
      this.r.metrics.out('local', this.r.label(env))
    } catch {
      this.r.drop('handler_error', env)
    }
  }
}
