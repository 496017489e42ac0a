// A loss window: the last `size` outcomes of one direction's probes, for LinkMonitor's loss estimate (probe.ts).

/** The last `size` outcomes (0 delivered, 1 lost) of one direction's probes. */
export class LossWindow {
  private readonly outcomes: Uint8Array
  private count = 0
  private next = 0
  private lost = 0

  constructor(private readonly size: number) {
    this.outcomes = new Uint8Array(size)
  }

  record(lost: 0 | 1): void {
    if (this.count === this.size) this.lost -= this.outcomes[this.next]!
    else this.count++
    this.outcomes[this.next] = lost
    this.lost += lost
    this.next = (this.next + 1) % this.size
  }

  clear(): void {
    this.count = 0
    this.next = 0
    this.lost = 0
  }

  fraction(): number {
    return this.count === 0 ? 0 : this.lost / this.count
  }
}
