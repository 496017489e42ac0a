// Schema of data-handling sections: replication (the guide's replication.yaml) and tls (the guide's mtls.yaml).
// Cross-field rules that the replication engine relies on (strong consistency needs quorum writes, region counts
// fit in the replica count) are checked here so a bad file fails at load, not at the first write.

import { absPath, duration, MAX_TIMER_MS, typed } from './fields.js'
import { z } from './zod.js'

const strategy = z.enum(['local_only', 'async_replicate', 'sync_replicate', 'geo_replicate'])
type Strategy = z.infer<typeof strategy>

/** The guide mixes counted placements ({same_region: 1}) with named regions ("eu-west"); both are accepted. */
const regionItem = typed(
  z.union([
    z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
      message: 'expected a region or cluster name like eu-west',
    }),
    z
      .strictObject({
        same_region: z.number().int().min(1).optional().describe("Replicas in the writer's region."),
        any_region: z.number().int().min(1).optional().describe('Replicas in any region.'),
      })
      .refine((o) => Object.keys(o).length === 1, {
        message: 'expected exactly one of same_region: N or any_region: N in each item',
        // An unknown key already explains an empty item; saying it twice is noise.
        when: (payload) => payload.issues.length === 0,
      })
      .describe('A counted placement: {same_region: N} or {any_region: N}.'),
  ]),
  'region name or {same_region|any_region: N}',
)

interface MemoryDefaults {
  strategy: Strategy
  replicas: number
  consistency: 'eventual' | 'strong'
  regions: Array<string | Record<string, number>>
}

function memoryPolicy(d: MemoryDefaults, what: string) {
  return z
    .strictObject({
      strategy: strategy
        .prefault(d.strategy)
        .describe('local_only, async_replicate, sync_replicate (quorum) or geo_replicate.'),
      replicas: z
        .number()
        .int()
        .min(1)
        .max(15)
        .prefault(d.replicas)
        .describe('Copies kept, counting the local one.'),
      regions: z
        .array(regionItem)
        .prefault(d.regions)
        .describe('Where the copies go: counted placements and/or named regions.'),
      max_lag_seconds: z
        .number()
        .int()
        .min(1)
        .prefault(60)
        .describe('Async replicas further behind than this raise an alert.'),
      consistency: z
        .enum(['eventual', 'strong'])
        .prefault(d.consistency)
        .describe('strong needs sync_replicate or geo_replicate.'),
      conflict_resolution: z
        .enum(['last_write_wins', 'first_write_wins', 'merge', 'custom'])
        .prefault('last_write_wins')
        .describe('How concurrent writes are reconciled.'),
    })
    .superRefine((m, ctx) => {
      if (m.strategy === 'local_only' && (m.replicas > 1 || m.regions.length > 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['strategy'],
          message:
            'local_only keeps one copy; remove replicas > 1 and regions or pick a replicating strategy',
        })
      }
      if (m.consistency === 'strong' && m.strategy !== 'sync_replicate' && m.strategy !== 'geo_replicate') {
        ctx.addIssue({
          code: 'custom',
          path: ['consistency'],
          message: `strong consistency needs quorum writes: use sync_replicate or geo_replicate, not ${m.strategy}`,
        })
      }
      const placed = m.regions.reduce<number>(
        (n, r) => n + (typeof r === 'string' ? 1 : (r.same_region ?? 0) + (r.any_region ?? 0)),
        0,
      )
      if (placed > m.replicas) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions'],
          message: `regions place ${placed} copies but replicas is ${m.replicas}`,
        })
      }
    })
    .prefault({})
    .describe(what)
}

export const replicationSchema = z
  .strictObject({
    memory: z
      .strictObject({
        working: memoryPolicy(
          { strategy: 'local_only', replicas: 1, consistency: 'eventual', regions: [] },
          'Working memory: stays on the node by default.',
        ),
        episodic: memoryPolicy(
          {
            strategy: 'async_replicate',
            replicas: 2,
            consistency: 'eventual',
            regions: [{ same_region: 1 }, { any_region: 1 }],
          },
          'Episodic memory: asynchronously copied, one copy nearby and one anywhere.',
        ),
        semantic: memoryPolicy(
          { strategy: 'sync_replicate', replicas: 3, consistency: 'eventual', regions: [] },
          'Semantic memory: written to a quorum.',
        ),
        archival: memoryPolicy(
          { strategy: 'geo_replicate', replicas: 3, consistency: 'strong', regions: [] },
          'Archival memory: spread over regions.',
        ),
      })
      .prefault({})
      .describe('Replication per memory layer.'),
    agent_state: z
      .strictObject({
        strategy: z
          .enum(['leader_follower'])
          .prefault('leader_follower')
          .describe('Agent state has one writer and followers.'),
        replicas: z.number().int().min(1).max(15).prefault(2).describe("Copies of each agent's state."),
        failover_timeout_ms: z
          .number()
          .int()
          .min(100)
          .max(MAX_TIMER_MS)
          .prefault(5000)
          .describe('A follower takes over after the leader is silent this many milliseconds.'),
      })
      .prefault({})
      .describe('Agent state replication.'),
  })
  .prefault({})
  .describe("Data replication (the guide's replication.yaml).")

const certPair = (cert: string, key: string | undefined, what: string) =>
  z
    .strictObject({
      cert: absPath().prefault(cert).describe(`${what} certificate (PEM).`),
      key:
        key === undefined
          ? absPath()
              .optional()
              .describe(`${what} private key; only on the node that signs (unset elsewhere).`)
          : absPath().prefault(key).describe(`${what} private key (PEM), readable by the daemon only.`),
    })
    .prefault({})

export const tlsSchema = z
  .strictObject({
    ca: certPair('/etc/blackroad/ca.crt', undefined, 'Federation CA').describe('The federation CA.'),
    cluster: certPair('/etc/blackroad/cluster.crt', '/etc/blackroad/cluster.key', 'Cluster').describe(
      "This cluster's certificate.",
    ),
    verify_peer: z.boolean().prefault(true).describe("Require and check the peer's certificate."),
    verify_hostname: z.boolean().prefault(true).describe("Check the peer's name against its certificate."),
    rotation: z
      .strictObject({
        enabled: z.boolean().prefault(true).describe('Renew certificates automatically.'),
        check_interval: duration({ min: 60_000, max: MAX_TIMER_MS })
          .prefault('24h')
          .describe('How often expiry is checked.'),
        renew_before_expiry: duration({ min: 60_000 })
          .prefault('7d')
          .describe('Renew when a certificate expires sooner than this.'),
      })
      .prefault({})
      .describe('Certificate rotation.'),
  })
  .prefault({})
  .describe("mTLS for cross-cluster endpoints (the guide's mtls.yaml).")
