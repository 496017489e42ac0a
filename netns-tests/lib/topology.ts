// The things a lab is built from: hosts (a namespace each), bridges (a switch, in a namespace of its own), links
// (a veth pair, either host<->host or host<->bridge port) and NAT routers. These classes hold what was created
// and offer what a test does with it; creating and destroying them is the Lab's job (lab.ts).

import type { Subnet } from './addresses.js'
import { HarnessError } from './errors.js'
import type { ExecOptions, ExecResult } from './exec.js'
import type { DirectionState, FaultDirection, LinkFaults } from './faults.js'
import type { Proc, SpawnOptions } from './proc.js'

/** A process spawned held (Host.spawnHeld): it runs its command once released. */
export interface HeldProc {
  readonly proc: Proc
  release(): void
}

/** What hosts need from their lab: running commands in a namespace and tracking processes. */
export interface HostContext {
  execIn(ns: string, argv: readonly string[], opts?: ExecOptions, where?: string): Promise<ExecResult>
  spawnIn(ns: string, where: string, argv: readonly string[], opts?: SpawnOptions): Proc
}

/** One interface of a host: where it is attached and its addresses. */
export interface HostInterface {
  name: string
  on: Bridge | Link
  v4: string
  v6: string | undefined
  subnet: Subnet
}

export type HostKind = 'host' | 'router' | 'nat'

export class Host {
  readonly name: string
  readonly ns: string
  readonly kind: HostKind
  readonly interfaces: HostInterface[] = []
  /** @internal next free NFQUEUE number in this namespace */
  nextQueue = 0
  private readonly ctx: HostContext

  constructor(ctx: HostContext, name: string, ns: string, kind: HostKind) {
    this.ctx = ctx
    this.name = name
    this.ns = ns
    this.kind = kind
  }

  /** Runs argv inside this host's namespace (ip netns exec) and returns how it went; never throws for exit codes. */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.ctx.execIn(this.ns, argv, opts, this.name)
  }

  /** Like exec, but a non-zero exit or timeout throws HarnessError EXEC_FAILED / EXEC_TIMEOUT with the output. */
  execOk(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.ctx.execIn(this.ns, argv, { ...opts, check: true }, this.name)
  }

  /** Starts a long-lived process in this namespace; its output goes to <host>.<logName>.log in the lab's log dir. */
  spawn(argv: readonly string[], opts: SpawnOptions = {}): Proc {
    return this.ctx.spawnIn(this.ns, this.name, argv, opts)
  }

  /**
   * Like spawn, but held: a shell waits in the namespace, and release() makes it exec argv (same process, same
   * log). For timing start-ups: the fork of this test process (a large Node process: 10-20 ms of CPU each here)
   * then happens before the clock starts, not on the cores the timed processes share. The shell is sh, not
   * bash: its stdin is the pipe release() writes to, a socketpair under Node, and bash on a socket stdin takes
   * itself for an ssh session and runs ~/.bashrc first (here pyenv's init: 6-180 ms of CPU, depending on the
   * environment, and with it the PATH the command gets).
   */
  spawnHeld(argv: readonly string[], opts: Omit<SpawnOptions, 'stdin'> = {}): HeldProc {
    const proc = this.spawn(['sh', '-c', 'read -r _ && exec "$@"', 'held', ...argv], {
      ...opts,
      stdin: 'pipe',
    })
    return {
      proc,
      release: () => {
        if (proc.stdin === null || !proc.alive)
          throw new HarnessError('SPAWN_FAILED', `${proc.name} is not held`)
        proc.stdin.write('\n')
      },
    }
  }

  /** The interface on a bridge or link (the first interface when none is given). */
  iface(on?: Bridge | Link): HostInterface {
    const found = on === undefined ? this.interfaces[0] : this.interfaces.find((i) => i.on === on)
    if (!found) {
      const where =
        on === undefined
          ? 'any network'
          : on instanceof Bridge
            ? `bridge ${on.name}`
            : `link ${on.describe()}`
      throw new HarnessError('ADDRESS_PLAN', `host ${this.name} has no interface on ${where}`)
    }
    return found
  }

  /** IPv4 address on a bridge or link (the first interface's when none is given). */
  addr(on?: Bridge | Link): string {
    return this.iface(on).v4
  }

  /** IPv6 (ULA) address on a bridge or link; throws when the lab runs without IPv6. */
  addr6(on?: Bridge | Link): string {
    const i = this.iface(on)
    if (i.v6 === undefined) throw new HarnessError('ADDRESS_PLAN', `lab has no IPv6 (host ${this.name})`)
    return i.v6
  }

  /**
   * Gives this host a new IPv4 address on a bridge, as a new DHCP lease would: the old address is removed
   * first (removing a primary address also removes the secondaries of its subnet), then the new one added.
   * addr(on) answers the new address afterwards. Returns the old one.
   */
  async renumber(on: Bridge, v4: string): Promise<string> {
    const i = this.iface(on)
    const old = i.v4
    await this.execOk(['ip', 'addr', 'del', `${old}/${i.subnet.prefix4}`, 'dev', i.name])
    await this.execOk(['ip', 'addr', 'add', `${v4}/${i.subnet.prefix4}`, 'dev', i.name])
    i.v4 = v4
    return old
  }

  /** Adds a route in this namespace: addRoute('10.231.5.0/24', '10.231.128.2'). */
  async addRoute(dst: string, via: string): Promise<void> {
    await this.execOk(['ip', 'route', 'replace', dst, 'via', via])
  }

  async setDefaultRoute(via: string): Promise<void> {
    await this.execOk(['ip', ...(via.includes(':') ? ['-6'] : []), 'route', 'replace', 'default', 'via', via])
  }
}

export class Bridge {
  readonly name: string
  /** The namespace holding the bridge device (nothing else lives there). */
  readonly ns: string
  readonly dev: string
  readonly subnet: Subnet
  readonly ports: Link[] = []
  /** @internal host numbers handed out, and the lowest one not yet used */
  readonly usedHosts = new Set<number>()
  nextHost = 1

  constructor(name: string, ns: string, dev: string, subnet: Subnet) {
    this.name = name
    this.ns = ns
    this.dev = dev
    this.subnet = subnet
  }
}

export interface LinkEnd {
  node: Host | Bridge
  iface: string
  /** Unset for the bridge side of a port. */
  v4: string | undefined
  v6: string | undefined
}

export interface FaultOptions {
  /** Only packets sent by this end (a host, or the bridge for a port); default: both directions. */
  from?: Host | Bridge
}

export interface DelayOptions extends FaultOptions {
  jitterMs?: number
}

/**
 * A veth pair: 'p2p' between two hosts (a /30 of their own), or 'port' between a host and a bridge. Faults apply
 * per direction; delayMs and lossPct are one-way values, so a 20 ms link has a 40 ms round trip and 10 % loss on
 * both directions loses about 19 % of pings.
 */
export class Link {
  readonly kind: 'p2p' | 'port'
  readonly a: LinkEnd
  readonly b: LinkEnd
  readonly faults: LinkFaults

  constructor(kind: 'p2p' | 'port', a: LinkEnd, b: LinkEnd, faults: LinkFaults) {
    this.kind = kind
    this.a = a
    this.b = b
    this.faults = faults
  }

  describe(): string {
    return `${this.a.node.name}(${this.a.iface})<->${this.b.node.name}(${this.b.iface})`
  }

  /** Silently drops every packet (no carrier change) until restore(). */
  cut(opts: FaultOptions = {}): Promise<void> {
    return this.faults.update({ cut: true }, this.select(opts))
  }

  /** Undoes cut(); delay and loss stay as they were. */
  restore(opts: FaultOptions = {}): Promise<void> {
    return this.faults.update({ cut: false }, this.select(opts))
  }

  /** One-way delay in ms (0 removes it); with jitterMs the delay is uniform in delay±jitter, never reordering. */
  setDelay(delayMs: number, opts: DelayOptions = {}): Promise<void> {
    return this.faults.update({ delayMs, jitterMs: opts.jitterMs ?? 0 }, this.select(opts))
  }

  /** Random loss in percent per direction (0 removes it). */
  setLoss(lossPct: number, opts: FaultOptions = {}): Promise<void> {
    return this.faults.update({ lossPct }, this.select(opts))
  }

  /** Removes every fault on the link. */
  clearFaults(): Promise<void> {
    return this.faults.update({ delayMs: 0, jitterMs: 0, lossPct: 0, cut: false })
  }

  /** Current fault state per direction, keyed "from->to". */
  state(): Record<string, DirectionState> {
    return Object.fromEntries(this.faults.directions.map((d) => [`${d.from}->${d.to}`, { ...d.state }]))
  }

  private select(opts: FaultOptions): ((d: FaultDirection) => boolean) | undefined {
    const from = opts.from
    if (from === undefined) return undefined
    if (from !== this.a.node && from !== this.b.node) {
      throw new HarnessError('FAULT', `${from.name} is not an end of link ${this.describe()}`)
    }
    return (d) => d.from === from.name
  }
}

/** A router doing NAT between a private LAN bridge of its own and a WAN bridge (home-router style). */
export class NatRouter extends Host {
  /** @internal set by the lab right after construction */
  wan!: Bridge
  lan!: Bridge
  wanLink!: Link
  lanLink!: Link
  symmetric = false

  /** The router's (public) address on the WAN: what peers see as the source of NATed traffic. */
  get wanAddr(): string {
    return this.addr(this.wan)
  }

  /** The router's address on its LAN: the default gateway of hosts behind it. */
  get lanAddr(): string {
    return this.addr(this.lan)
  }
}
