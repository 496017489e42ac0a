// The benchmark report format of BENCH.md: one line per figure with ours, the anchor, their ratio, which
// direction is better and the target ratio, then `#` comment lines (spread, settings), then a summary line.

export interface Figure {
  /** metric name within the suite, e.g. 'throughput' or 'reqrep_p50' */
  metric: string
  unit: string
  better: 'higher' | 'lower'
  /** samples of ours and of the anchor, interleaved runs of one invocation */
  ours: number[]
  anchor: number[]
  anchorName: string
  /** ratio ours/anchor the target asks for (>= for higher-is-better, <= for lower-is-better) */
  target: number
  notes?: string[]
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export function spreadPct(xs: number[]): number {
  const m = median(xs)
  if (xs.length < 2 || !Number.isFinite(m) || m === 0) return 0
  return Math.round(((Math.max(...xs) - Math.min(...xs)) / m) * 100)
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a'
  if (Math.abs(v) >= 100) return String(Math.round(v))
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(3).replace(/0+$/, '').replace(/\.$/, '')
}

export function meets(f: Figure): boolean {
  const r = median(f.ours) / median(f.anchor)
  if (!Number.isFinite(r)) return false
  return f.better === 'higher' ? r >= f.target : r <= f.target
}

export function formatReport(suite: string, figures: Figure[], comments: string[] = []): string {
  const lines: string[] = []
  for (const c of comments) lines.push(`# ${c}`)
  for (const f of figures) {
    const o = median(f.ours)
    const a = median(f.anchor)
    lines.push(
      `${suite}.${f.metric} ours=${fmt(o)}${f.unit} ${f.anchorName}=${fmt(a)}${f.unit} ratio=${fmt(o / a)} better=${f.better} target=${f.target}`,
    )
    lines.push(
      `#   n=${f.ours.length} ours=[${f.ours.map(fmt).join(', ')}] anchor=[${f.anchor.map(fmt).join(', ')}] spread=${Math.max(spreadPct(f.ours), spreadPct(f.anchor))}%`,
    )
    for (const n of f.notes ?? []) lines.push(`#   ${n}`)
  }
  lines.push(`${suite}: ${figures.length} figures, ${figures.filter(meets).length} meet their target`)
  return lines.join('\n')
}
