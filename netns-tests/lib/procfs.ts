// Reading /proc/<pid>/stat and its threads' /proc/<pid>/task/<tid>/stat: one parser for the harness, the tests
// and the bench. The command name may hold spaces and parentheses, so fields are counted after the last ')'.

import { readdirSync, readFileSync } from 'node:fs'

/** A stat file's command name and the fields after it (fields[0] is field 3, the state); null when gone. */
export function readStat(file: string): { comm: string; fields: string[] } | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return null
  }
  const close = text.lastIndexOf(')')
  return { comm: text.slice(text.indexOf('(') + 1, close), fields: text.slice(close + 2).split(' ') }
}

/** utime + stime (fields 14 and 15) in clock ticks. */
export function statCpuTicks(fields: readonly string[]): number {
  return Number(fields[11]) + Number(fields[12])
}

export interface ThreadInfo {
  tid: number
  /** R, S, D, ... (field 3). */
  state: string
  /** Scheduling policy (field 41): 0 SCHED_OTHER, 5 SCHED_IDLE, ... */
  policy: number
  cpuTicks: number
}

/** The threads of `pid` (or this process) named `comm`; none when the process is gone. */
export function threadsNamed(pid: number | 'self', comm: string): ThreadInfo[] {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
  const out: ThreadInfo[] = []
  for (const tid of tids) {
    const s = readStat(`/proc/${pid}/task/${tid}/stat`)
    if (s === null || s.comm !== comm) continue
    out.push({
      tid: Number(tid),
      state: s.fields[0] ?? '',
      policy: Number(s.fields[38]),
      cpuTicks: statCpuTicks(s.fields),
    })
  }
  return out
}
