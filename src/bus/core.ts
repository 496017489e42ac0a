// What the router's halves share: the sending half (outbound.ts) and the receiving half (inbound.ts) see
// the router through this interface only, so each stays a plain module with no import cycle at run time.

import type { Envelope } from './envelope.js'
import type { BusError, DropReason } from './errors.js'
import type { InterestTable } from './interest.js'
import type { BusMetrics } from './metrics.js'
import type { AckTracker, RequestTable } from './pending.js'
import type { LinkPort } from './ports.js'
import type { Clock, Scheduler } from './scheduler.js'
import type { SubjectIndex } from './subjects.js'
import type { BusLimits, MessageHandler, NextHop, PolicyHook, RunHandler } from './types.js'

export interface LocalSub {
  readonly pattern: string
  readonly handler: MessageHandler
  /** Takes runs whole; without it a run is handed to `handler` message by message. */
  readonly runs: RunHandler | undefined
}

export interface RouterCore {
  readonly nodeId: string
  readonly epoch: number
  readonly limits: BusLimits
  readonly clock: Clock
  readonly scheduler: Scheduler
  readonly metrics: BusMetrics
  readonly policy: PolicyHook | undefined
  readonly nextHop: NextHop
  readonly ports: Map<string, LinkPort>
  readonly subs: SubjectIndex<LocalSub>
  readonly agents: Map<string, MessageHandler>
  readonly interest: InterestTable
  readonly requests: RequestTable
  readonly acks: AckTracker
  nodeHandler: MessageHandler | null
  nextSeq(): number
  /** Local delivery (inbound.ts); null when delivered, else the error the sender should see. */
  deliverLocal(env: Envelope): BusError | null
  drop(reason: DropReason, env: Envelope | null, n?: number): void
  label(env: Envelope): string
}
