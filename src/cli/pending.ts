// Commands of the guide whose layer this build does not have yet. Each exits with status 2 and names the
// capability it waits for, so a script can tell "not yet" from "failed" and nothing invented is ever printed.

import { EXIT_NOT_AVAILABLE, printError } from './output.js'

export const PENDING_CAPABILITIES = {
  controlPlane: 'the control plane (Raft registry)',
  scheduler: 'the global scheduler on the control plane',
  replication: 'the replication engine',
  failover: 'cluster failover',
  migration: 'agent migration',
} as const

export type PendingCapability = keyof typeof PENDING_CAPABILITIES

export function notAvailable(command: string, capability: PendingCapability, json?: boolean): number {
  printError(
    { json },
    'NOT_AVAILABLE',
    `\`blackroad ${command}\` needs ${PENDING_CAPABILITIES[capability]}, which this build does not have yet`,
  )
  return EXIT_NOT_AVAILABLE
}
