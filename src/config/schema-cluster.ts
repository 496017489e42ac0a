// Schema of who this node is and what it belongs to: node, cluster (the guide's cluster.yaml), resources (the
// guide's edge setup) and federation. Descriptions here are the reference documentation (see describeSchema()).

import { hostname } from 'node:os'
import {
  absPath,
  defaultText,
  dnsLabel,
  duration,
  endpoint,
  hostPort,
  labels,
  MAX_TIMER_MS,
  typed,
} from './fields.js'
import { z } from './zod.js'

/** The hostname reduced to a DNS label, so a default never fails the rule the user did not write. */
export function defaultNodeName(): string {
  const first = (hostname().split('.')[0] ?? '').toLowerCase()
  const cleaned = first
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '')
  return cleaned === '' ? 'node' : cleaned
}

export const nodeRole = z.enum(['primary', 'secondary', 'edge', 'worker'])
export const clusterType = z.enum(['primary', 'secondary', 'edge'])

export const nodeSchema = z
  .strictObject({
    name: defaultText(
      dnsLabel()
        .prefault(() => defaultNodeName())
        .describe('Name of this node; its DNS name is <name>.<cluster>.<dns.domain>.'),
      "the machine's hostname (first label, lowercased)",
    ),
    role: defaultText(
      nodeRole
        .optional()
        .describe(
          'Role of this node in its cluster: primary, secondary, edge or worker (the guide uses worker on edge nodes).',
        ),
      'cluster.type',
    ),
    labels: labels().prefault({}).describe("Scheduling labels of this node, added to its cluster's labels."),
    state_dir: absPath()
      .prefault('/var/lib/blackroad')
      .describe('Directory for keys, certificates, the Raft log and replicas; created with mode 0700.'),
    control_plane: z
      .boolean()
      .prefault(false)
      .describe(
        'This node is a control-plane node: a Raft voter that stores the registry. On `federation init` it founds the control plane as its single voter; after `federation join` with a token for the control-plane cluster it is promoted from learner to voter once caught up.',
      ),
    bootstrap: z
      .boolean()
      .prefault(false)
      .describe(
        'This node runs a HyperDHT bootstrap node on discovery.port, so a LAN without internet finds itself.',
      ),
  })
  .prefault({})
  .describe('This node.')

const taint = z
  .strictObject({
    key: z.string().min(1).describe('Taint key; agents must tolerate it to be placed here.'),
    value: z
      .union([z.string(), z.number(), z.boolean()])
      .transform((v) => String(v))
      .prefault('')
      .describe('Taint value (scalars are read as text).'),
    effect: z
      .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
      .describe('NoSchedule: never place; PreferNoSchedule: avoid; NoExecute: also evict running agents.'),
  })
  .describe('A taint restricting which agents the scheduler places on this cluster.')

export const clusterSchema = z
  .strictObject({
    name: dnsLabel()
      .optional()
      .describe('Cluster name (e.g. us-west); unset until the node joins a cluster.'),
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected an id like cluster_abc123' })
      .optional()
      .describe('Cluster id assigned by the control plane at creation (e.g. cluster_abc123).'),
    region: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
        message: 'expected a region name like us-west-2 or local',
      })
      .optional()
      .describe('Region of the cluster (e.g. us-west-2, or local for home edge clusters).'),
    type: clusterType
      .prefault('primary')
      .describe('Cluster type: primary (full), secondary (read replicas) or edge.'),
    network: z
      .strictObject({
        pod_cidr: cidr()
          .optional()
          .describe('CIDR of agent (pod) addresses in this cluster, e.g. 10.100.0.0/16.'),
        service_cidr: cidr().optional().describe('CIDR of cluster service addresses, e.g. 10.101.0.0/16.'),
        mesh_port: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .prefault(7946)
          .describe('Port the cluster advertises for its mesh endpoint in its cluster record.'),
      })
      .prefault({})
      .describe("Cluster networking (the guide's cluster.yaml)."),
    resources: z
      .strictObject({
        max_agents: z.number().int().min(0).prefault(5000).describe('Most agents the cluster runs at once.'),
        max_memory_gb: z
          .number()
          .min(0)
          .optional()
          .describe('Memory the scheduler may fill across the cluster, in GB; unset = no limit.'),
        max_gpu: z.number().int().min(0).prefault(0).describe('GPUs available to agents across the cluster.'),
      })
      .prefault({})
      .describe('Cluster-wide capacity the scheduler scores against.'),
    labels: labels().prefault({}).describe('Scheduling labels of the cluster (e.g. tier: production).'),
    taints: z.array(taint).prefault([]).describe('Taints restricting scheduling onto this cluster.'),
    federation: z
      .strictObject({
        control_plane: z
          .union([endpoint(), z.array(endpoint())])
          .transform((v) => (Array.isArray(v) ? v : [v]))
          .prefault([])
          .describe(
            "Control-plane endpoint(s) as in the guide's cluster.yaml; fills federation.control_plane when that is empty.",
          ),
        heartbeat_interval: duration({ min: 1000, max: MAX_TIMER_MS })
          .prefault('30s')
          .describe('How often the cluster reports its health to the control plane.'),
        sync_interval: duration({ min: 1000, max: MAX_TIMER_MS })
          .prefault('5m')
          .describe('How often the cluster reconciles its registry view with the control plane.'),
      })
      .prefault({})
      .describe("The cluster's connection to the federation control plane."),
  })
  .prefault({})
  .describe("The cluster this node belongs to (the guide's cluster.yaml).")

export const resourcesSchema = z
  .strictObject({
    max_agents: z.number().int().min(0).prefault(100).describe('Most agents this node runs at once.'),
    reserved_memory_mb: z
      .number()
      .int()
      .min(0)
      .prefault(512)
      .describe('Memory kept back for the OS and the daemon, in MiB; agents are not placed into it.'),
  })
  .prefault({})
  .describe("Capacity of this node (the guide's edge setup); cluster.resources is the cluster-wide total.")

export const federationSchema = z
  .strictObject({
    name: dnsLabel()
      .optional()
      .describe('Federation name (e.g. blackroad-global); set by `federation init` or join.'),
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected a federation id of letters, digits, "_" and "-"' })
      .optional()
      .describe('Federation id; with the federation secret it derives the discovery topic.'),
    control_plane: z
      .array(endpoint())
      .prefault([])
      .describe(
        'Control-plane endpoints used to join and renew certificates; defaults to cluster.federation.control_plane.',
      ),
    root_fingerprint: z
      .string()
      .regex(/^[A-Za-z0-9+/=:_-]{16,128}$/, {
        message: 'expected the federation root key fingerprint as printed by `blackroad federation init`',
      })
      .optional()
      .describe('Fingerprint of the federation root key to trust; pins the root before the first join.'),
    join_token_ttl: duration({ min: 60_000 })
      .prefault('24h')
      .describe('Default lifetime of join tokens this node issues when it is on the control plane.'),
    join_listen: hostPort({ ipOnly: true })
      .prefault('0.0.0.0:7443')
      .describe(
        'Where a control-plane node accepts `federation join` and certificate renewals (TLS 1.3): the root key holder, and every voter whose certificate the root signed for the control-plane cluster.',
      ),
    voters: z
      .array(
        z.string().regex(/^node_[a-z2-7]{16}$/, { message: 'expected a node id like node_abcdefghijklmnop' }),
      )
      .prefault([])
      .describe(
        'Node ids of the control-plane (Raft) voters a new Raft log starts from, the same list on every node (clusters set up by hand). Every other node keeps a learner copy of the registry; one with node.control_plane asks to be promoted. Empty (the usual case): the voters come from `federation init` (that node alone) or are learned at `federation join`, then the Raft membership grows as control-plane nodes join.',
      ),
    raft: z
      .strictObject({
        heartbeat: duration({ min: 10, max: 60_000 })
          .prefault('100ms')
          .describe('Leader heartbeat period (etcd default; suits a WAN or a LAN of Raspberry Pis).'),
        election_timeout: duration({ min: 50, max: 600_000 })
          .prefault('1s')
          .describe(
            'Shortest election timeout; each timeout is drawn at random up to twice this. At least 3 heartbeats.',
          ),
        request_timeout: duration({ min: 100, max: 600_000 })
          .prefault('5s')
          .describe(
            'How long a registry write or linearizable read waits (retrying while there is no leader).',
          ),
      })
      .prefault({})
      .describe('Control-plane Raft timing.'),
  })
  .prefault({})
  .describe('The federation this node is part of.')

function cidr() {
  const schema = z.string().superRefine((s, ctx) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(s)
    const ok = m !== null && (m[1] as string).split('.').every((o) => Number(o) <= 255) && Number(m[2]) <= 32
    if (!ok) ctx.addIssue({ code: 'custom', message: `expected an IPv4 CIDR like 10.100.0.0/16, got "${s}"` })
  })
  return typed(schema, 'IPv4 CIDR')
}
