// One peer link as the router sees it: the link, its priority queue, and the pump that moves queued
// envelopes into link writes. The pump runs deferred (once per turn, see Scheduler.defer), takes the
// highest priorities first, packs as many envelopes as fit into one batch frame, and stops as soon as the
// link says its buffer is full; the link's drain callback restarts it. So a link never buffers more than
// one batch beyond what it asked for, and everything else waits here, bounded and in priority order.

import { varintLength } from '../wire/index.js'
import { DEFAULT_PRIORITY, type Envelope } from './envelope.js'
import { writeBatch } from './frames.js'
import { PriorityQueue, type QueueBounds } from './queue.js'
import { Run, runFrameRoom, writeRunFrame, writeRunFrameInto } from './runs.js'
import type { Scheduler } from './scheduler.js'
import type { BusLink } from './types.js'

/**
 * What waits in a link queue: forwarded bytes (ttl already decremented), an envelope to encode, or a run of
 * messages (runs.ts) that goes out as a frame of its own.
 */
export type QueueItem = Uint8Array | Envelope | Run

/** How many messages an item holds (queue bounds count items; drops are counted in messages). */
export function messagesIn(item: QueueItem): number {
  return item instanceof Run ? item.count : 1
}

export interface PortOptions extends QueueBounds {
  maxBatchBytes: number
  maxBatchCount: number
}

export class LinkPort {
  readonly queue: PriorityQueue<QueueItem>
  /** Largest envelope this link can carry (inside a batch frame). */
  readonly maxEnvelope: number
  private writable = true
  private scheduled = false
  private closed = false
  private readonly batch: QueueItem[] = []
  private readonly sizes: number[] = []
  private readonly batchBytes: number
  private readonly flushFn = () => this.flush()

  constructor(
    readonly link: BusLink,
    private readonly opts: PortOptions,
    private readonly scheduler: Scheduler,
    /** Called after the pump freed queue space (blocked senders may proceed). */
    private readonly onSpace: (port: LinkPort) => void,
  ) {
    this.queue = new PriorityQueue(opts)
    const frameLimit = link.maxFrameBytes ?? Number.POSITIVE_INFINITY
    // A batch of one: type byte, count varint (1 byte), length varint (up to 4 bytes).
    this.maxEnvelope = Math.max(0, frameLimit - 6)
    this.batchBytes = Math.min(opts.maxBatchBytes, frameLimit)
    link.onDrain(() => this.drained())
  }

  get peerId(): string {
    return this.link.peerId
  }

  get isClosed(): boolean {
    return this.closed
  }

  /**
   * A message of `priority` just queued here finds more queued than the link needs to keep busy: for bulk
   * traffic (default priority or lower) HOLD_BATCHES batch frames' worth, for anything half the queue's
   * bounds (higher priorities overtake the bulk, so their senders need not wait for it). Local senders
   * that can pause hold off meanwhile (Outbound.holdOff): a short standing queue keeps memory, queueing
   * delay and the garbage collector's work (queued messages outliving the young generation) small, while
   * the link still always finds a full batch waiting when it drains.
   */
  backloggedFor(priority: number): boolean {
    return (
      this.queue.fill >= 0.5 ||
      (priority <= DEFAULT_PRIORITY && this.queue.bytes >= HOLD_BATCHES * this.batchBytes)
    )
  }

  /** Drained to half the backlog mark (hysteresis: senders resume with room for several reads). */
  get caughtUp(): boolean {
    return this.queue.bytes <= (HOLD_BATCHES * this.batchBytes) / 2 && this.queue.fill <= 0.25
  }

  /** Queues an item of `size` wire bytes (the caller checked the bounds) and makes sure a flush is coming. */
  enqueue(item: QueueItem, size: number, priority: number): void {
    this.queue.push(item, size, priority)
    if (!this.scheduled && this.writable && !this.closed) {
      this.scheduled = true
      this.scheduler.defer(this.flushFn)
    }
  }

  /** Sends a control frame now, ahead of the queue (interest records: small, rare, must not wait). */
  sendControl(frame: Uint8Array): void {
    if (this.closed) return
    if (!this.link.send(frame)) this.writable = false
  }

  /** Moves queued envelopes into link writes until the queue is empty or the link is full. */
  flush(): void {
    this.scheduled = false
    if (this.closed) return
    let sent = false
    const q = this.queue
    while (this.writable && q.count > 0) {
      const first = q.peek()
      if (first instanceof Run) {
        q.shift()
        sent = true
        const ttl = first.head.ttl - 1
        this.writable =
          this.link.sendWith !== undefined
            ? this.link.sendWith(first.frameBytes, runFrameRoom(first), (out, at) =>
                writeRunFrameInto(first, ttl, out, at),
              )
            : this.link.send(writeRunFrame(first, ttl))
        continue
      }
      let n = 0
      let size = 4
      while (n < this.opts.maxBatchCount) {
        const next = q.peekSize()
        if (next < 0 || (n > 0 && q.peek() instanceof Run)) break
        const cost = varintLength(next) + next
        if (n > 0 && size + cost > this.batchBytes) break
        this.sizes[n] = next
        this.batch[n++] = q.shift()!
        size += cost
      }
      const frame = writeBatch(this.batch as (Uint8Array | Envelope)[], this.sizes, n)
      for (let i = 0; i < n; i++) this.batch[i] = EMPTY
      sent = true
      this.writable = this.link.send(frame)
    }
    if (sent) this.onSpace(this)
  }

  private drained(): void {
    if (this.closed) return
    this.writable = true
    if (this.queue.count > 0 && !this.scheduled) {
      this.scheduled = true
      this.scheduler.defer(this.flushFn)
    }
  }

  /** Stops the port; returns how many queued messages were dropped. */
  close(): number {
    this.closed = true
    return this.queue.clear(messagesIn)
  }
}

const EMPTY = new Uint8Array(0)
/** Batch frames' worth of queued bytes past which a link counts as backlogged. */
const HOLD_BATCHES = 8
