// The simulator's event queue: a binary min-heap ordered by (time, seq). The sequence number is unique and
// grows with every schedule call, so two events at the same virtual millisecond always leave the queue in
// the order they were scheduled — the one property that makes a run exactly reproducible from its seed.

export interface Scheduled {
  readonly time: number
  readonly seq: number
}

function before(x: Scheduled, y: Scheduled): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq)
}

export class EventHeap<E extends Scheduled> {
  private readonly items: E[] = []

  get size(): number {
    return this.items.length
  }

  peek(): E | undefined {
    return this.items[0]
  }

  push(e: E): void {
    const items = this.items
    let i = items.length
    items.push(e)
    // Sift up, moving parents down instead of swapping: one write per level.
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!before(e, p)) break
      items[i] = p
      i = parent
    }
    items[i] = e
  }

  pop(): E | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    const n = items.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let child = l
      let c = items[l]!
      if (r < n && before(items[r]!, c)) {
        child = r
        c = items[r]!
      }
      if (!before(c, last)) break
      items[i] = c
      i = child
    }
    items[i] = last
    return top
  }
}
