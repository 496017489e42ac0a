// Names of everything a lab creates. Every name carries the prefix 'brt' and the owning process id, so
// - two runs on one machine (or several engineers' runs) never collide,
// - sweepStale() can tell leftovers of a dead run from objects of a live one by parsing the pid back out,
// - nothing of someone else's is ever touched (no other prefix is considered ours).
//
// Namespaces:   brt-<pid decimal>-<lab seq>-<name>        (no length limit; readable in `ip netns list`)
// Interfaces:   brt<pid base36, 5><lab seq base36, 2><tag> (Linux IFNAMSIZ: at most 15 characters)
// Scratch dirs: /tmp/brt-<pid>-<lab seq>                   (short, so Unix socket paths stay under 108 bytes)

import { HarnessError } from './errors.js'

export const PREFIX = 'brt'
/** Linux interface names are at most IFNAMSIZ - 1 = 15 bytes. */
export const MAX_IFNAME = 15
const PID_WIDTH = 5 // 36^5 > 4194304, the largest pid_max Linux allows
const MAX_PID = 4_194_304
const SEQ_WIDTH = 2

/** A lab's identity: the pieces every one of its names is built from. */
export interface RunId {
  pid: number
  seq: number
  /** brt-<pid>-<seq>-, the namespace prefix of this lab. */
  nsPrefix: string
  /** brt<pid36><seq36>, the interface prefix of this lab (10 characters). */
  ifPrefix: string
  /** <pid>-<seq>, used for directories and in messages. */
  text: string
}

export function makeRunId(pid: number, seq: number): RunId {
  if (seq < 0 || seq >= 36 ** SEQ_WIDTH)
    throw new HarnessError('BAD_NAME', `lab sequence ${seq} out of range`)
  const seq36 = seq.toString(36).padStart(SEQ_WIDTH, '0')
  return {
    pid,
    seq,
    nsPrefix: `${PREFIX}-${pid}-${seq36}-`,
    ifPrefix: `${PREFIX}${pid.toString(36).padStart(PID_WIDTH, '0')}${seq36}`,
    text: `${pid}-${seq36}`,
  }
}

/** Characters left for an interface tag after the lab prefix. */
export const IF_TAG_MAX = MAX_IFNAME - PREFIX.length - PID_WIDTH - SEQ_WIDTH

/** Host and bridge names chosen by tests: short, DNS-label-like, so they read well in namespace names. */
export function checkObjectName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(name)) {
    throw new HarnessError('BAD_NAME', `name "${name}" must match [a-z][a-z0-9-]{0,23}`)
  }
}

export function interfaceName(run: RunId, tag: string): string {
  const name = run.ifPrefix + tag
  if (!/^[a-z0-9]+$/.test(tag) || tag.length > IF_TAG_MAX) {
    throw new HarnessError('BAD_NAME', `interface tag "${tag}" must be 1-${IF_TAG_MAX} of [a-z0-9]`)
  }
  return name
}

/** The pid that owns a namespace name of ours, or undefined when the name is not ours. */
export function pidOfNamespace(ns: string): number | undefined {
  const m = /^brt-(\d+)-/.exec(ns)
  return m ? Number(m[1]) : undefined
}

/** The pid that owns an interface (or WireGuard socket base) name of ours, or undefined when it is not ours. */
export function pidOfInterface(ifname: string): number | undefined {
  if (!ifname.startsWith(PREFIX) || ifname.length < PREFIX.length + PID_WIDTH + SEQ_WIDTH) return undefined
  const pid36 = ifname.slice(PREFIX.length, PREFIX.length + PID_WIDTH)
  if (!/^[0-9a-z]+$/.test(pid36)) return undefined
  const pid = Number.parseInt(pid36, 36)
  return Number.isSafeInteger(pid) && pid > 0 && pid <= MAX_PID ? pid : undefined
}

/** The pid that owns a scratch directory name (brt-<pid>-<seq>), or undefined. */
export function pidOfScratchDir(base: string): number | undefined {
  const m = /^brt-(\d+)-[0-9a-z]+$/.exec(base)
  return m ? Number(m[1]) : undefined
}
