// The simulator's queued event and its stats record. An event is one flat object whose fields are reused
// by kind, so scheduling a delivery or a timer never allocates more than that one object.

import type { SimStats } from './types.js'

export const DELIVER = 0
export const TIMER = 1
export const REQUEST = 2
export const CALL = 3

export interface SimEvent {
  time: number
  seq: number
  kind: number
  node: number
  /** DELIVER: sender. */
  peer: number
  /** TIMER: generation; REQUEST: request id. */
  id: number
  /** DELIVER: message (or its bytes); TIMER: name; REQUEST: request; CALL: the function. */
  payload: unknown
}

export function emptyStats(seed: number): SimStats {
  return {
    seed,
    steps: 0,
    time: 0,
    sent: 0,
    delivered: 0,
    droppedLoss: 0,
    droppedPartition: 0,
    droppedDown: 0,
    duplicated: 0,
    reordered: 0,
    timersFired: 0,
    persists: 0,
    requests: 0,
    replies: 0,
    requestsFailed: 0,
    effects: 0,
    crashes: 0,
    tornCrashes: 0,
    restarts: 0,
    pauses: 0,
    partitions: 0,
    partitionsByKind: {},
    heals: 0,
    activePeriods: 0,
    quietPeriods: 0,
    traceHash: '',
  }
}
