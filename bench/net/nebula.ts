// The Nebula anchor (Debian `nebula` 1.6): one CA and one certificate per host from nebula-cert, a lighthouse
// and nodes on lab hosts, UDP 4242 everywhere, punchy on, allow-all firewall, default MTU (1300), log level
// info, tun device neb0 in each namespace. The same settings as ../shared/anchors/overlay-nebula.sh.

import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Lab } from '../../netns-tests/lib/lab.js'
import type { Proc } from '../../netns-tests/lib/proc.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'

export const NEBULA_PORT = 4242
export const NEBULA_SETTINGS =
  'nebula: UDP 4242, punchy on, firewall allow-all, tun mtu 1300 (default), log level info'

let nebulaSeq = 0

export interface NebulaNode {
  host: Host
  /** Overlay address. */
  ip: string
  lighthouse: boolean
  configPath: string
  proc: Proc | null
}

/** Nebula hosts: nodes[0] is the lighthouse; overlay 10.232.0.0/16 (only inside the lab's namespaces). */
export class NebulaNet {
  readonly nodes: NebulaNode[] = []
  private readonly dir: string

  constructor(
    lab: Lab,
    readonly lighthouse: Host,
    hosts: readonly Host[],
  ) {
    this.dir = path.join(lab.scratchDir, `nebula-${nebulaSeq++}`)
    rmSync(this.dir, { recursive: true, force: true })
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const nc = (args: string[]) =>
      execFileSync('nebula-cert', args, { cwd: this.dir, stdio: 'pipe', timeout: 30_000 })
    nc(['ca', '-name', 'bench-anchor', '-duration', '48h'])
    const all = [lighthouse, ...hosts]
    const lhIp = overlayIp(0)
    all.forEach((host, i) => {
      const ip = overlayIp(i)
      const name = `${host.name}-${i}`
      nc(['sign', '-name', name, '-ip', `${ip}/16`, '-out-crt', `${name}.crt`, '-out-key', `${name}.key`])
      const lh = i === 0
      const config = [
        'pki:',
        `  ca: ${this.dir}/ca.crt`,
        `  cert: ${this.dir}/${name}.crt`,
        `  key: ${this.dir}/${name}.key`,
        `static_host_map: ${lh ? '{}' : `{"${lhIp}": ["${lighthouse.addr()}:${NEBULA_PORT}"]}`}`,
        'lighthouse:',
        `  am_lighthouse: ${lh}`,
        '  interval: 60',
        `  hosts: ${lh ? '[]' : `["${lhIp}"]`}`,
        'listen:',
        '  host: 0.0.0.0',
        `  port: ${NEBULA_PORT}`,
        'punchy:',
        '  punch: true',
        'tun:',
        '  disabled: false',
        '  dev: neb0',
        'logging:',
        '  level: info',
        '  format: text',
        'firewall:',
        '  outbound:',
        '    - port: any',
        '      proto: any',
        '      host: any',
        '  inbound:',
        '    - port: any',
        '      proto: any',
        '      host: any',
        '',
      ].join('\n')
      const configPath = path.join(this.dir, `${name}.yml`)
      writeFileSync(configPath, config)
      this.nodes.push({ host, ip, lighthouse: lh, configPath, proc: null })
    })
  }

  get members(): NebulaNode[] {
    return this.nodes.slice(1)
  }

  get lighthouseNode(): NebulaNode {
    return this.nodes[0]!
  }

  start(n: NebulaNode): void {
    n.proc = n.host.spawn(['nebula', '-config', n.configPath], { logName: 'nebula' })
  }

  /** Spawns a node held (see Host.spawnHeld); it starts on the returned release(). */
  prepare(n: NebulaNode): () => void {
    const held = n.host.spawnHeld(['nebula', '-config', n.configPath], { logName: 'nebula' })
    n.proc = held.proc
    return held.release
  }

  /** Starts the lighthouse and waits until it listens on UDP 4242 (the anchor's "lighthouse already up"). */
  async startLighthouse(): Promise<void> {
    const lh = this.lighthouseNode
    this.start(lh)
    await waitFor(
      async () => {
        if (!lh.proc!.alive) throw new Error(`nebula lighthouse exited: ${lh.proc!.logText().slice(-800)}`)
        const r = await lh.host.exec(['ss', '-Huln', `sport = :${NEBULA_PORT}`], { timeoutMs: 5_000 })
        return r.stdout.trim() !== ''
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'nebula lighthouse listening' },
    )
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        await n.proc?.stop(5_000)
        n.proc = null
      }),
    )
  }
}

function overlayIp(i: number): string {
  return `10.232.0.${i + 1}`
}
