// `npm run demo`: a local mesh on this machine — three hosts in three network namespaces on one bridge, a
// real `blackroad daemon` in each, enrolled in one federation (the demo acts as the federation's authority
// and writes each node's certificate before it starts). The nodes find each other through the first node's
// DHT bootstrap node, build WireGuard tunnels, and ping each other over the mesh. The demo prints what the
// daemons report, then runs until Ctrl-C, when every daemon is stopped and every namespace removed.

import { type Host, Lab, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh } from './lib/mesh.js'
import { repoPaths } from './lib/repo.js'

const NODES = [
  { name: 'lucidia', cluster: 'edge-home', region: 'local', role: 'edge' },
  { name: 'blackroad-pi', cluster: 'edge-home', region: 'local', role: 'edge' },
  { name: 'us-west-1', cluster: 'us-west', region: 'us-west-2', role: 'primary' },
] as const

const say = (s: string) => process.stdout.write(`${s}\n`)

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: run as root (it creates network namespaces)\n')
    process.exit(77)
  }
  const lab = await Lab.create(undefined, { name: 'demo' })
  const lan = await lab.bridge('lan')
  const hosts: Host[] = []
  for (const n of NODES) {
    const host = await lab.host(n.name)
    await lab.attach(host, lan)
    hosts.push(host)
  }
  const mesh = new Mesh(lab)
  say(`federation ${mesh.federation.federation.id}; starting ${NODES.length} daemons ...`)
  const started = Date.now()
  const nodes = await mesh.start(
    NODES.map((n, i) => ({
      host: hosts[i]!,
      enrol: { cluster: n.cluster, region: n.region, role: n.role },
      config: { cluster: { name: n.cluster, region: n.region, type: n.role }, logging: { level: 'info' } },
    })),
    [`${hosts[0]!.addr(lan)}:${DHT_PORT}`],
  )
  await waitFor(() => mesh.allPairsPing(nodes, { ipv6: true }), {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: 'the mesh to connect',
  })
  say(`every pair pings over mesh IPv4 and IPv6 (${Date.now() - started} ms after start)\n`)
  for (const n of nodes) {
    say(`--- ${n.node.name}: blackroad status`)
    say((await n.daemon!.cli(['status'])).stdout.trim())
  }
  say(`\n--- ${nodes[0]!.node.name}: blackroad peers`)
  say((await nodes[0]!.daemon!.cli(['peers'])).stdout.trim())
  say(`\n--- ${nodes[0]!.node.name}: blackroad routes`)
  say((await nodes[0]!.daemon!.cli(['routes'])).stdout.trim())
  const cli = repoPaths.cliMain()
  const first = nodes[0]!
  say('\nThe mesh is up. Try, for example:')
  say(`  ip netns exec ${first.host.ns} ping ${nodes[2]!.node.ipv4}`)
  say(`  ${cli} peers --socket ${first.daemon!.socketPath}`)
  say(`  ${cli} keys rotate --socket ${first.daemon!.socketPath}`)
  say(`Logs: ${lab.log.dir}\nPress Ctrl-C to stop the daemons and remove the namespaces.`)
  // Keep running. Ctrl-C is how a demo ends, not a failure: the daemons (same process group) get SIGINT and stop
  // cleanly, then the lab's namespaces go and the logs are removed (the harness's own hook would keep and print
  // them as for a failed test).
  process.removeAllListeners('SIGINT')
  process.removeAllListeners('SIGTERM')
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    say('\nstopping the demo mesh ...')
    const limit = setTimeout(() => process.exit(1), 30_000)
    limit.unref()
    void lab.close({ failed: false }).then(
      () => {
        say('stopped; namespaces removed')
        process.exit(0)
      },
      (err: Error) => {
        process.stderr.write(`demo: cleanup failed: ${err.message}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  setInterval(() => {}, 1 << 30)
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`)
  process.exit(1)
})
