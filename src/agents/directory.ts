// The mesh's agent directory as this node sees it. A local agent registers a name and a type over the socket
// and becomes the bus address {node: this node, agent: name}; every other router learns of it through the
// bus's interest flood, because registration also announces the pattern `_agents.<name>.<type>` (see
// src/bus/interest.ts: records are node-scoped, refreshed and expired, so an agent's advertisement goes away
// with its connection or its node). A name given without a node is resolved here: a local agent first, else
// the node that announces it (the smallest node id when several do, so every router picks the same one).
// Labels and capabilities are known for local agents only; the Raft registry will carry them mesh-wide.

import { BusError, type BusRouter, type MessageHandler, type Subscription } from '../bus/index.js'

export const ADVERT_PREFIX = '_agents'
/** Agent names and types: one DNS label, so `<name>.agents.<domain>` is a valid name. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const REMOTE_CACHE_MS = 250

export interface AgentInfo {
  name: string
  type: string
  labels: Record<string, string>
  capabilities: string[]
}

export interface AgentView {
  name: string
  type: string
  node: string
  /** Bus address `node/name`. */
  address: string
  local: boolean
  labels: Record<string, string> | null
  capabilities: string[] | null
  registered_at: string | null
}

interface Local {
  info: AgentInfo
  registeredAt: number
  unregister: () => void
  advert: Subscription
}

export class AgentDirectory {
  private readonly local = new Map<string, Local>()
  private remote: { at: number; byName: Map<string, { node: string; type: string }[]> } | null = null

  constructor(
    private readonly bus: BusRouter,
    private readonly now: () => number = Date.now,
    private readonly onChange: () => void = () => {},
  ) {}

  get nodeId(): string {
    return this.bus.nodeId
  }

  get size(): number {
    return this.local.size
  }

  /** Registers a local agent; BusError INVALID_ADDRESS for a bad or taken name, LIMIT when full. */
  register(info: AgentInfo, handler: MessageHandler): void {
    checkLabel(info.name, 'agent name')
    checkLabel(info.type, 'agent type')
    if (this.local.has(info.name))
      throw new BusError('INVALID_ADDRESS', `agent ${info.name} is already registered on this node`)
    const unregister = this.bus.registerAgent(info.name, handler)
    let advert: Subscription
    try {
      advert = this.bus.subscribe(`${ADVERT_PREFIX}.${info.name}.${info.type}`, () => {})
    } catch (err) {
      unregister()
      throw err
    }
    this.local.set(info.name, { info, registeredAt: this.now(), unregister, advert })
    this.onChange()
  }

  unregister(name: string): boolean {
    const l = this.local.get(name)
    if (l === undefined) return false
    this.local.delete(name)
    l.unregister()
    l.advert.unsubscribe()
    this.onChange()
    return true
  }

  /**
   * The bus address of `target`: `node/agent` as given (no lookup: the destination router answers for it), or
   * an agent name resolved through the directory. BusError NO_RESPONDERS when no node has that agent.
   */
  resolve(target: string): { node: string; agent: string } {
    const slash = target.indexOf('/')
    if (slash >= 0) {
      const node = target.slice(0, slash)
      const agent = target.slice(slash + 1)
      if (node === '' || agent === '' || agent.includes('/'))
        throw new BusError('INVALID_ADDRESS', `"${target}" is not an agent address (node/agent or a name)`)
      return { node, agent }
    }
    if (this.local.has(target)) return { node: this.bus.nodeId, agent: target }
    const found = this.remoteByName().get(target)
    if (found === undefined || found.length === 0)
      throw new BusError(
        'NO_RESPONDERS',
        `no agent named ${JSON.stringify(target)} is registered in the mesh`,
      )
    return { node: found[0]!.node, agent: target }
  }

  /** Every agent this node knows of: its own with details, other nodes' as they announce them. */
  list(): AgentView[] {
    const out: AgentView[] = []
    const self = this.bus.nodeId
    for (const [name, l] of this.local) {
      out.push({
        name,
        type: l.info.type,
        node: self,
        address: `${self}/${name}`,
        local: true,
        labels: { ...l.info.labels },
        capabilities: [...l.info.capabilities],
        registered_at: new Date(l.registeredAt).toISOString(),
      })
    }
    for (const [name, where] of this.remoteByName(true)) {
      for (const w of where) {
        out.push({
          name,
          type: w.type,
          node: w.node,
          address: `${w.node}/${name}`,
          local: false,
          labels: null,
          capabilities: null,
          registered_at: null,
        })
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.node < b.node ? -1 : 1))
  }

  /** Drops every local agent (the daemon is stopping). */
  close(): void {
    for (const name of [...this.local.keys()]) this.unregister(name)
  }

  private remoteByName(fresh = false): Map<string, { node: string; type: string }[]> {
    const t = this.now()
    if (!fresh && this.remote !== null && t - this.remote.at < REMOTE_CACHE_MS) return this.remote.byName
    const byName = new Map<string, { node: string; type: string }[]>()
    for (const rec of this.bus.interest.records()) {
      for (const p of rec.patterns) {
        const a = parseAdvert(p)
        if (a === null) continue
        const list = byName.get(a.name) ?? []
        list.push({ node: rec.node, type: a.type })
        byName.set(a.name, list)
      }
    }
    for (const list of byName.values()) list.sort((x, y) => (x.node < y.node ? -1 : x.node > y.node ? 1 : 0))
    this.remote = { at: t, byName }
    return byName
  }
}

export function parseAdvert(pattern: string): { name: string; type: string } | null {
  if (!pattern.startsWith(`${ADVERT_PREFIX}.`)) return null
  const parts = pattern.split('.')
  if (parts.length !== 3 || !LABEL.test(parts[1]!) || !LABEL.test(parts[2]!)) return null
  return { name: parts[1]!, type: parts[2]! }
}

export function checkLabel(s: string, what: string): void {
  if (typeof s !== 'string' || !LABEL.test(s))
    throw new BusError(
      'INVALID_ADDRESS',
      `${what} ${JSON.stringify(s)} must be 1-63 characters a-z, 0-9 and '-' (not first or last)`,
    )
}
