// Reading a daemon's control plane and mesh state through its local API, for the control-plane netns tests.

import { BlackroadClient, type ControlStatusResponse } from '../../src/client/index.js'
import type { DaemonHandle } from './daemon.js'
import { waitFor } from './wait.js'

/** Runs `fn` with a fresh client on the daemon's socket, closed afterwards. */
export async function api<T>(d: DaemonHandle, fn: (c: BlackroadClient) => Promise<T>): Promise<T> {
  const c = new BlackroadClient({ socketPath: d.socketPath, timeoutMs: 15_000 })
  try {
    return await fn(c)
  } finally {
    c.close()
  }
}

export const control = (d: DaemonHandle): Promise<ControlStatusResponse> => api(d, (c) => c.controlStatus())

/** The leader all of `among` agree on (same term), when they agree. */
export async function agreedLeader(among: DaemonHandle[]): Promise<string | null> {
  const st = await Promise.all(among.map((d) => control(d).catch(() => null)))
  const l = st[0]?.leader ?? null
  if (l === null || !st.every((s) => s !== null && s.leader === l && s.term === st[0]!.term)) return null
  return l
}

/** The daemon's mesh IPv4 once its mesh runs, else null. */
export async function meshIpv4(d: DaemonHandle): Promise<string | null> {
  const s = (await d.status()) as { mesh: { ipv4: string | null; state: string } }
  return s.mesh.state === 'running' ? s.mesh.ipv4 : null
}

export async function nodeId(d: DaemonHandle): Promise<string> {
  return String(((await d.status()) as { node_id: string }).node_id)
}

/** `federation create-cluster` on `root` (the root holder or an issuer): the join token for that cluster. */
export async function clusterToken(root: DaemonHandle, cluster: string): Promise<string> {
  const r = await root.cli([
    'federation',
    'create-cluster',
    '--name',
    cluster,
    '--region',
    'local',
    '--capacity',
    '10',
    '--json',
  ])
  if (r.code !== 0) throw new Error(`create-cluster ${cluster} on ${root.name} failed: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { join_token: string }).join_token
}

/**
 * `federation join` of `d` with `token` through the join service at `endpoint`. Answers that a repeat may
 * change (NO_LEADER: the service waits for the registry or a leader; UNREACHABLE; TIMEOUT: a join that did
 * commit is answered again) are retried with the same token for up to a minute; any other refusal fails.
 */
export async function joinThrough(
  d: DaemonHandle,
  token: string,
  endpoint: string,
  cluster: string,
): Promise<{ mesh: string }> {
  const args = [
    'federation',
    'join',
    '--token',
    token,
    '--control-plane',
    endpoint,
    '--cluster-name',
    cluster,
    '--json',
  ]
  const outcome = await waitFor(
    async () => {
      const r = await d.cli(args)
      if (r.code === 0) return { ok: JSON.parse(r.stdout) as { mesh: string } }
      if (/NO_LEADER|UNREACHABLE|TIMEOUT/.test(r.stderr)) return null
      return { refused: r.stderr }
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: `${d.name} joins through ${endpoint}` },
  )
  if (!outcome.ok) throw new Error(`${d.name}: join through ${endpoint} refused: ${outcome.refused}`)
  return outcome.ok
}
