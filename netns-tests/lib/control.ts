// Reading a daemon's control plane and mesh state through its local API, for the control-plane netns tests.

import { BlackroadClient, type ControlStatusResponse } from '../../src/client/index.js'
import type { DaemonHandle } from './daemon.js'

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
