// The Lab: builds a network of namespaces for one test and tears it down completely, whatever happens.
//
//   const lab = await Lab.create(t)               // cleanup registered on t.after, process exit, SIGINT/SIGTERM
//   const a = await lab.host('a'), lan = await lab.bridge('lan')
//   await lab.attach(a, lan); a.addr(lan)          // 10.231.1.1
//
// Everything lives in namespaces named brt-<pid>-<seq>-<name> (bridges and NAT routers too) and nothing is
// added to the root namespace, so deleting the namespaces removes every interface, address, route and rule.
// Teardown (teardown.ts) stops processes by PID, deletes the namespaces and proves nothing is left.

import { mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AddressPlan } from './addresses.js'
import { type Builder, buildAttach, buildBridge, buildLink, buildNat } from './build.js'
import { namespaceInode, type OpenLab, registerOpenLab, sweepStale, unregisterOpenLab } from './cleanup.js'
import { type DaemonHandle, type DaemonOptions, startDaemon } from './daemon.js'
import { HarnessError } from './errors.js'
import { type ExecOptions, type ExecResult, execCommand } from './exec.js'
import { LabLog } from './logs.js'
import { checkObjectName, interfaceName, makeRunId, type RunId } from './names.js'
import { Proc, type SpawnOptions } from './proc.js'
import { repoPaths } from './repo.js'
import { closeSync, findLeftovers, type LabResources, teardown } from './teardown.js'
import { Bridge, Host, type HostKind, type Link, NatRouter } from './topology.js'

/** The parts of node:test's TestContext the lab uses (`passed` exists at run time in Node >= 20.12). */
export interface TestLike {
  readonly name: string
  after(fn: () => unknown): void
  readonly passed?: boolean
}

export interface LabOptions {
  /** Used in the log directory's name when there is no test context. */
  name?: string
  /** Give every interface a ULA IPv6 address too (default true). */
  ipv6?: boolean
  /** Keep the log directory even when the test passes (also: env BRT_KEEP_LOGS=1). */
  keepLogs?: boolean
}

export interface HostOptions {
  /** Forward packets between interfaces (IPv4 and IPv6), for routers in the topology. */
  forwarding?: boolean
}

export interface LinkOptions {
  delayMs?: number
  jitterMs?: number
  lossPct?: number
}

export interface AttachOptions {
  /** Host number in the bridge's subnet (default: the next free one). */
  hostNumber?: number
}

export interface NatOptions {
  /** The bridge the router's WAN side plugs into ("the internet" of the lab). */
  wan: Bridge
  /** MASQUERADE --random-fully: a new source port per flow, approximating a symmetric ("hard") NAT. */
  symmetric?: boolean
  /** Name of the router's LAN bridge (default <name>-lan). */
  lanName?: string
}

let labSeq = 0
let swept: Promise<unknown> | undefined

export class Lab implements OpenLab {
  readonly run: RunId
  readonly log: LabLog
  readonly ipv6: boolean
  /** Short per-lab directory for daemon state and sockets (/tmp/brt-<pid>-<seq>). */
  readonly scratchDir: string
  private readonly keepLogs: boolean
  private readonly plan = new AddressPlan()
  private readonly names = new Map<string, Host | Bridge>()
  /** Everything teardown must undo, filled in as the lab grows. */
  private readonly res: LabResources
  private readonly linkList: Link[] = []
  private ifSeq = 0
  private closing: Promise<void> | undefined
  private tornDown = false

  private constructor(run: RunId, log: LabLog, opts: LabOptions) {
    this.run = run
    this.log = log
    this.ipv6 = opts.ipv6 ?? true
    this.keepLogs = opts.keepLogs ?? process.env.BRT_KEEP_LOGS === '1'
    this.scratchDir = path.join(os.tmpdir(), `brt-${run.text}`)
    mkdirSync(this.scratchDir, { recursive: true, mode: 0o700 })
    this.res = {
      run,
      log,
      scratchDir: this.scratchDir,
      namespaces: [],
      nsInodes: new Set(),
      procs: [],
      holders: [],
    }
  }

  /**
   * Creates a lab. With a test context, cleanup runs in t.after (the test fails if anything is left behind).
   * Without one, call lab.close() yourself (or use Lab.run). Needs root: throws NOT_ROOT otherwise.
   */
  static async create(t?: TestLike, opts: LabOptions = {}): Promise<Lab> {
    if (process.getuid?.() !== 0)
      throw new HarnessError('NOT_ROOT', 'netns tests must run as root (network namespaces)')
    swept ??= sweepStale().catch((e: unknown) => e)
    const sweep = await swept
    const run = makeRunId(process.pid, labSeq++)
    const lab = new Lab(run, new LabLog(repoPaths.logsRoot(), run.text, t?.name ?? opts.name ?? 'lab'), opts)
    registerOpenLab(lab)
    lab.log.note(`sweepStale: ${sweep instanceof Error ? `failed: ${sweep.message}` : JSON.stringify(sweep)}`)
    t?.after(() => lab.close({ failed: t.passed === false }))
    return lab
  }

  /** Runs fn with a fresh lab and always cleans up; a throw from fn counts as a failure (logs kept, printed). */
  static async run<T>(fn: (lab: Lab) => Promise<T>, opts: LabOptions = {}): Promise<T> {
    const lab = await Lab.create(undefined, opts)
    let result: T
    try {
      result = await fn(lab)
    } catch (err) {
      await lab
        .close({ failed: true })
        .catch((e: unknown) => lab.log.note(`cleanup after failure: ${String(e)}`))
      throw err
    }
    await lab.close()
    return result
  }

  get closed(): boolean {
    return this.closing !== undefined
  }

  owns(name: string): boolean {
    return (
      name.startsWith(this.run.nsPrefix) ||
      name.startsWith(this.run.ifPrefix) ||
      name === path.basename(this.scratchDir)
    )
  }

  /** A fresh interface name unique on the machine (e.g. for a WireGuard interface: its UAPI socket is global). */
  ifName(tag = 'i'): string {
    return interfaceName(this.run, `${tag}${(this.ifSeq++).toString(36)}`)
  }

  async host(name: string, opts: HostOptions = {}): Promise<Host> {
    return this.makeHost(name, opts.forwarding ? 'router' : 'host', Host)
  }

  async bridge(name: string): Promise<Bridge> {
    this.claim(name)
    const br = await buildBridge(this.builder(), name, this.plan.nextBridge())
    this.names.set(name, br)
    return br
  }

  /** Connects a host to a bridge with a veth pair; the host gets the next address of the bridge's subnet. */
  async attach(host: Host, bridge: Bridge, opts: AttachOptions = {}): Promise<Link> {
    this.assertOpen()
    const link = await buildAttach(this.builder(), host, bridge, opts.hostNumber)
    this.linkList.push(link)
    return link
  }

  /** A point-to-point veth between two hosts, with a /30 of its own and optional initial faults. */
  async link(a: Host, b: Host, opts: LinkOptions = {}): Promise<Link> {
    this.assertOpen()
    const link = await buildLink(this.builder(), a, b, this.plan.nextLink())
    this.linkList.push(link)
    if (opts.delayMs || opts.jitterMs)
      await link.setDelay(opts.delayMs ?? 0, { jitterMs: opts.jitterMs ?? 0 })
    if (opts.lossPct) await link.setLoss(opts.lossPct)
    return link
  }

  /** A NAT router between a new LAN bridge (<name>-lan) and opts.wan; put hosts behind it with behind(). */
  async natRouter(name: string, opts: NatOptions): Promise<NatRouter> {
    const r = await this.makeHost(name, 'nat', NatRouter)
    r.symmetric = opts.symmetric ?? false
    r.wan = opts.wan
    r.wanLink = await this.attach(r, opts.wan)
    r.lan = await this.bridge(opts.lanName ?? `${name}-lan`)
    r.lanLink = await this.attach(r, r.lan, { hostNumber: 1 })
    await buildNat(this.builder(), r)
    return r
  }

  /** Attaches host to the NAT router's LAN and routes everything through the router. */
  async behind(host: Host, nat: NatRouter): Promise<Link> {
    const link = await this.attach(host, nat.lan)
    await host.setDefaultRoute(nat.lanAddr)
    return link
  }

  /** Starts a real `blackroad daemon` in host (see daemon.ts for the contract). */
  startDaemon(host: Host, config: Record<string, unknown>, opts: DaemonOptions = {}): Promise<DaemonHandle> {
    this.assertOpen()
    return startDaemon(this, host, config, opts)
  }

  get links(): readonly Link[] {
    return this.linkList
  }

  /** Runs argv in namespace ns (logged as `where`). */
  execIn(ns: string, argv: readonly string[], opts: ExecOptions = {}, where = ns): Promise<ExecResult> {
    this.assertOpen()
    return execCommand(['ip', 'netns', 'exec', ns, ...argv], opts, this.log, where)
  }

  /** Starts a tracked long-lived process in namespace ns; logs to <where>.<logName>.log. */
  spawnIn(ns: string, where: string, argv: readonly string[], opts: SpawnOptions = {}): Proc {
    this.assertOpen()
    const logName = opts.logName ?? path.basename(argv[0] ?? 'process')
    const p = Proc.start(
      `${where}/${logName}`,
      ['ip', 'netns', 'exec', ns, ...argv],
      this.log.pathFor(`${where}.${logName}`),
      opts,
    )
    this.res.procs.push(p)
    this.log.note(`spawned ${where}/${logName} pid ${p.pid}`)
    return p
  }

  /**
   * Tears everything down (idempotent; concurrent calls share one teardown). failed=true keeps the logs and
   * prints their tails. Throws NOT_CLEAN if anything of this run survived, after printing what.
   */
  close(opts: { failed?: boolean } = {}): Promise<void> {
    this.closing ??= this.teardown(opts.failed ?? false)
    return this.closing
  }

  /** Throws NOT_CLEAN listing anything of this lab still on the machine; call after close(). */
  async assertClean(): Promise<void> {
    if (!this.closed)
      throw new HarnessError('NOT_CLEAN', `lab ${this.run.text} is still open: call close() first`)
    const left = await findLeftovers(this.res)
    if (left.length > 0)
      throw new HarnessError('NOT_CLEAN', `lab ${this.run.text} left: ${left.join('; ')}`, { left })
  }

  /** The lab's objects and addresses, one per line (also written to lab.log at cleanup). */
  describe(): string {
    const lines: string[] = []
    for (const n of this.names.values()) {
      if (n instanceof Bridge) lines.push(`bridge ${n.name}: ns ${n.ns} dev ${n.dev} ${n.subnet.cidr4}`)
      else
        lines.push(
          `${n.kind} ${n.name}: ns ${n.ns} ${n.interfaces.map((i) => `${i.name}=${i.v4}`).join(' ')}`,
        )
    }
    for (const l of this.linkList) lines.push(`link ${l.describe()} ${JSON.stringify(l.state())}`)
    return lines.join('\n')
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private builder(): Builder {
    return {
      run: this.run,
      ipv6: this.ipv6,
      log: this.log,
      addNamespace: (ns, sysctls) => this.addNamespace(ns, sysctls),
      execIn: (ns, argv, opts) => this.execIn(ns, argv, opts),
      ifName: (tag) => this.ifName(tag),
      faultEnv: {
        execIn: (ns, argv, opts) => this.execIn(ns, argv, opts),
        logPath: (base) => this.log.pathFor(base),
        trackHolder: (h) => this.res.holders.push(h),
      },
    }
  }

  private claim(name: string): void {
    this.assertOpen()
    checkObjectName(name)
    if (this.names.has(name))
      throw new HarnessError('DUPLICATE', `"${name}" is already a host or bridge in this lab`)
  }

  private async makeHost<H extends Host>(
    name: string,
    kind: HostKind,
    Ctor: new (ctx: Lab, name: string, ns: string, kind: HostKind) => H,
  ): Promise<H> {
    this.claim(name)
    const ns = this.run.nsPrefix + name
    const sysctls = [
      'net.ipv4.conf.all.rp_filter=0', // multi-homed hosts and asymmetric routes during failover are normal here
      'net.ipv4.conf.default.rp_filter=0',
      'net.ipv6.conf.all.accept_dad=0', // no 1-2 s tentative addresses
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv6.conf.all.accept_ra=0',
      'net.ipv6.conf.default.accept_ra=0',
    ]
    if (kind !== 'host') sysctls.push('net.ipv4.ip_forward=1')
    if (kind === 'router') sysctls.push('net.ipv6.conf.all.forwarding=1')
    if (!this.ipv6) sysctls.push('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1')
    await this.addNamespace(ns, sysctls)
    const h = new Ctor(this, name, ns, kind)
    this.names.set(name, h)
    return h
  }

  private async addNamespace(ns: string, sysctls: readonly string[]): Promise<void> {
    await execCommand(['ip', 'netns', 'add', ns], { check: true }, this.log)
    this.res.namespaces.push(ns)
    const ino = namespaceInode(ns)
    if (ino !== undefined) this.res.nsInodes.add(ino)
    const set = sysctls.length > 0 ? ` && sysctl -q -w ${sysctls.join(' ')}` : ''
    await this.execIn(ns, ['sh', '-c', `ip link set lo up${set}`], { check: true })
  }

  private assertOpen(): void {
    if (this.closing) throw new HarnessError('LAB_CLOSED', `lab ${this.run.text} is closed`)
  }

  private teardown(failed: boolean): Promise<void> {
    this.log.note(`cleanup (test ${failed ? 'FAILED' : 'passed'})\n${this.describe()}`)
    return teardown(this.res, failed, this.keepLogs).finally(() => {
      this.tornDown = true
      unregisterOpenLab(this)
    })
  }

  /** Process-exit hook (also mid-teardown): no awaiting possible, so SIGKILL by PID and delete synchronously. */
  closeSync(): void {
    if (!this.tornDown) closeSync(this.res)
  }

  closeForSignal(): Promise<void> {
    return this.close({ failed: true }).catch(() => {})
  }
}
