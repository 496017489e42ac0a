// The registry as the application in Raft simulations: a client workload of registry commands drawn from
// small pools of ids, nonces and addresses, so conflicts are common — clusters added twice, join tokens
// replayed, preferred addresses colliding, placements racing — and the registry's own invariants (never two
// nodes on one address, indexes consistent) are checked on every replica after every apply.

import type { SeededRng } from '../../src/protocols/core/index.js'
import {
  type Cluster,
  encodeCommand,
  encodeQuery,
  labelsOf,
  POOL_FIRST,
  type Registry,
  type RegistryCommand,
  type RegistryQuery,
  registryStateMachine,
} from '../../src/protocols/registry/index.js'
import type { Application } from './raft-harness.js'

const CLUSTERS = ['c1', 'c2', 'c3']
const REGIONS = ['us-west-2', 'eu-west-1', 'local']
/** A handful of addresses around the pool start, so preferred addresses collide often. */
const ADDRESS_SPREAD = 24

function cluster(rng: SeededRng): Cluster {
  const id = rng.pick(CLUSTERS)
  return {
    id,
    name: `${id}-${rng.pick(['a', 'b'])}`,
    region: rng.pick(REGIONS),
    role: rng.pick(['primary', 'secondary', 'edge'] as const),
    capacity: { agents: rng.int(1, 4), memoryMb: rng.pick([0, 2048]), gpu: rng.int(0, 2) },
    labels: labelsOf(rng.next() < 0.5 ? { tier: 'production' } : {}),
    taints: rng.next() < 0.3 ? [{ key: 'gpu-only', value: 'true', effect: 'NoSchedule' }] : [],
    cordoned: false,
  }
}

function address(rng: SeededRng): number {
  return POOL_FIRST + rng.int(0, ADDRESS_SPREAD)
}

export function registryCommand(rng: SeededRng, seq: number): RegistryCommand {
  const node = `node${rng.int(1, 30)}`
  const agent = `agent${rng.int(1, 12)}`
  const p = rng.next()
  if (p < 0.06)
    return { type: 'initFederation', federation: { id: 'fed1', name: 'blackroad', createdAt: seq } }
  if (p < 0.16) return { type: rng.next() < 0.7 ? 'addCluster' : 'updateCluster', cluster: cluster(rng) }
  if (p < 0.19) return { type: 'cordonCluster', id: rng.pick(CLUSTERS), cordoned: rng.next() < 0.5 }
  if (p < 0.2) return { type: 'removeCluster', id: rng.pick(CLUSTERS) }
  if (p < 0.45) {
    const nonce = new Uint8Array(16)
    nonce[0] = rng.int(0, 40)
    return {
      type: 'joinNode',
      nonce,
      nonceExpiresAt: 1_000_000 + rng.int(0, 1000),
      node: {
        id: node,
        cluster: rng.pick(CLUSTERS),
        certificate: rng.bytes(rng.int(8, 64)),
        addresses: [`10.0.0.${rng.int(1, 250)}:7946`],
        resources: { cpuMillis: 4000, memoryMb: 8192, gpu: rng.int(0, 1) },
      },
      preferredIpv4: address(rng),
      at: 1_000_000 + rng.int(0, 1100),
    }
  }
  if (p < 0.52) return { type: 'removeNode', id: node }
  if (p < 0.6) return { type: 'assignIpv4', id: node, ipv4: address(rng) }
  if (p < 0.63) return { type: 'revoke', revocation: { subject: node, reason: 'compromised', at: seq } }
  if (p < 0.66)
    return { type: 'heartbeat', id: node, at: seq, resources: { cpuMillis: 1, memoryMb: 1, gpu: 0 } }
  if (p < 0.68) return { type: 'pruneNonces', before: 1_000_000 + rng.int(0, 1000) }
  if (p < 0.72) {
    const action = rng.pick(['allow', 'deny', 'rateLimit'] as const)
    return {
      type: 'setPolicy',
      policy: {
        name: `p${rng.int(1, 3)}`,
        sourceClusters: ['*'],
        destinationClusters: [rng.pick(CLUSTERS)],
        sourceAgents: [],
        destinationAgents: [],
        action,
        rateLimitRps: action === 'rateLimit' ? 100 : 0,
        encrypt: true,
        maxLatencyMs: 0,
      },
    }
  }
  if (p < 0.8) {
    return {
      type: 'registerAgent',
      agent: {
        id: agent,
        name: agent,
        labels: [],
        requires: { cpuMillis: 500, memoryMb: rng.pick([256, 1024]), gpu: rng.int(0, 1) },
        tolerations: rng.next() < 0.5 ? ['gpu-only'] : [],
        spec: new Uint8Array([seq & 0xff]),
      },
    }
  }
  if (p < 0.82) return { type: 'removeAgent', id: agent }
  if (p < 0.96) {
    return { type: 'place', agent, cluster: rng.pick(CLUSTERS), node: null, epoch: seq, at: seq }
  }
  return { type: 'unplace', agent, epoch: seq }
}

function registryQuery(rng: SeededRng): RegistryQuery {
  const p = rng.next()
  if (p < 0.4) return { type: 'summary' }
  if (p < 0.7) return { type: 'nodeByIpv4', ipv4: address(rng) }
  if (p < 0.85) return { type: 'nodes', cluster: null }
  return { type: 'placement', agent: `agent${rng.int(1, 12)}` }
}

export function registryApp(): Application<Registry> {
  return {
    make: registryStateMachine,
    command: (rng, seq) => encodeCommand(registryCommand(rng, seq)),
    query: (rng) => encodeQuery(registryQuery(rng)),
    check: (sm) => sm.checkInvariants(),
  }
}
