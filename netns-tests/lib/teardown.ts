// Tearing a lab down, in an order that cannot strand anything:
//   1. processes the test started, by PID (TERM, then KILL after a grace period), all at once;
//   2. the nfqdelay holders (stdin EOF releases held packets, then TERM/KILL);
//   3. stray processes still inside our namespaces that the harness did not start (a daemonized wireguard-go,
//      a shell's background job), found through /proc/<pid>/ns/net while the namespaces are still mounted;
//   4. the namespaces (with them every veth, bridge, address, route and iptables rule of the lab);
//   5. this run's WireGuard UAPI sockets (a KILLed wireguard-go leaves its socket behind) and the scratch dir;
//   6. the proof: nothing with this lab's names is left (netns.sh's final check); then the logs are removed,
//      or kept and their tails printed when the test failed or something was left.

import { existsSync, rmSync, unlinkSync } from 'node:fs'
import path from 'node:path'
import {
  deleteNamespacesSync,
  listNamespaces,
  listRootInterfaces,
  listWireguardSockets,
  processesInNamespaces,
  WIREGUARD_SOCKET_DIR,
} from './cleanup.js'
import type { DelayHolder } from './delay.js'
import { HarnessError } from './errors.js'
import { execCommand, killGroup, pidAlive } from './exec.js'
import type { LabLog } from './logs.js'
import type { RunId } from './names.js'
import type { Proc } from './proc.js'
import { sleepMs } from './wait.js'

/** What a lab created that teardown must undo. */
export interface LabResources {
  run: RunId
  log: LabLog
  scratchDir: string
  /** In creation order. */
  namespaces: string[]
  /** Network-namespace inodes of our namespaces, to find processes inside them. */
  nsInodes: Set<number>
  procs: Proc[]
  holders: DelayHolder[]
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e))

export async function teardown(res: LabResources, failed: boolean, keepLogs: boolean): Promise<void> {
  const problems: string[] = []
  const note = (what: string) => (e: unknown) => problems.push(`${what}: ${errText(e)}`)
  await Promise.all(res.procs.map((p) => p.stop(3_000).catch(note(`stopping ${p.name}`))))
  await Promise.all(res.holders.map((h) => h.stop().catch(note(`stopping nfqdelay ${h.pid}`))))
  await stopStrays(res).catch(note('stopping stray processes'))
  // Checked while the namespaces are still mounted: afterwards their inode numbers may be reused by anyone.
  for (const p of strays(res)) problems.push(`process ${p} still inside a lab namespace`)
  if (res.namespaces.length > 0) {
    const input = res.namespaces.map((n) => `netns del ${n}\n`).join('')
    const r = await execCommand(['ip', '-force', '-batch', '-'], { input, timeoutMs: 30_000 }, res.log)
    if (!r.ok) problems.push(`deleting namespaces: ${r.stderr.trim()}`)
  }
  for (const s of listWireguardSockets().filter((f) => f.startsWith(res.run.ifPrefix))) {
    try {
      unlinkSync(path.join(WIREGUARD_SOCKET_DIR, s))
    } catch (e) {
      note(`removing ${s}`)(e)
    }
  }
  rmSync(res.scratchDir, { recursive: true, force: true })
  const left = await findLeftovers(res).catch((e: unknown) => [`checking leftovers failed: ${errText(e)}`])
  if (failed || problems.length > 0 || left.length > 0) {
    const why = [...problems, ...left.map((l) => `left behind: ${l}`)]
    process.stderr.write(
      `\n===== netns lab ${res.run.text}: ${failed ? 'test failed' : 'cleanup problems'}; logs kept in ${res.log.dir}\n` +
        (why.length ? `${why.join('\n')}\n` : '') +
        `${res.log.tails()}\n===== end of lab ${res.run.text} logs\n`,
    )
  } else if (!keepLogs) {
    res.log.remove()
  }
  if (problems.length > 0 || left.length > 0) {
    throw new HarnessError('NOT_CLEAN', `lab ${res.run.text} cleanup: ${[...problems, ...left].join('; ')}`, {
      problems,
      left,
    })
  }
}

function strays(res: LabResources): number[] {
  return processesInNamespaces(res.nsInodes).filter((p) => p !== process.pid)
}

/** Processes inside our namespaces that the harness did not start itself: TERM, wait up to 3 s, KILL. */
async function stopStrays(res: LabResources): Promise<void> {
  const first = strays(res)
  if (first.length === 0) return
  res.log.note(`stopping stray processes in our namespaces: ${first.join(' ')}`)
  for (const p of first) killGroup(p, 'SIGTERM')
  for (let i = 0; i < 30 && strays(res).length > 0; i++) await sleepMs(100)
  for (const p of strays(res)) killGroup(p, 'SIGKILL')
  for (let i = 0; i < 50 && strays(res).length > 0; i++) await sleepMs(100)
}

/** Anything of this lab still on the machine, one description per item. */
export async function findLeftovers(res: LabResources): Promise<string[]> {
  const left: string[] = []
  for (const ns of await listNamespaces()) if (ns.startsWith(res.run.nsPrefix)) left.push(`namespace ${ns}`)
  for (const p of res.procs) if (p.alive || pidAlive(p.pid)) left.push(`process ${p.name} pid ${p.pid}`)
  for (const h of res.holders) if (h.alive) left.push(`nfqdelay pid ${h.pid}`)
  for (const i of await listRootInterfaces()) {
    if (i.startsWith(res.run.ifPrefix)) left.push(`root-namespace interface ${i}`)
  }
  for (const s of listWireguardSockets()) {
    if (s.startsWith(res.run.ifPrefix)) left.push(`socket ${WIREGUARD_SOCKET_DIR}/${s}`)
  }
  if (existsSync(res.scratchDir)) left.push(`directory ${res.scratchDir}`)
  return left
}

/** Last-resort cleanup from the process 'exit' hook: synchronous only, SIGKILL by PID, then delete namespaces. */
export function closeSync(res: LabResources): void {
  for (const p of res.procs) if (p.alive) killGroup(p.pid, 'SIGKILL')
  for (const h of res.holders) if (h.alive) killGroup(h.pid, 'SIGKILL')
  for (const p of strays(res)) killGroup(p, 'SIGKILL')
  deleteNamespacesSync(res.namespaces)
  for (const s of listWireguardSockets().filter((f) => f.startsWith(res.run.ifPrefix))) {
    try {
      unlinkSync(path.join(WIREGUARD_SOCKET_DIR, s))
    } catch {}
  }
  rmSync(res.scratchDir, { recursive: true, force: true })
  process.stderr.write(`netns lab ${res.run.text} cleaned up at process exit; logs kept in ${res.log.dir}\n`)
}
