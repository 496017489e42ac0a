// A loss window: the last `size` outcomes of one direction's probes, for LinkMonitor's loss estimate (probe.ts).

/** The last `size` outcomes (0 delivered, 1 lost) of one direction's probes. */
export class LossWindow {
  private readonly outcomes: Uint8Array
  private count = 0
  private next = 0
  private lost = 0
  /** Outcomes recorded so far (monotonic): the index record() returns. */
  private total = 0

  constructor(private readonly size: number) {
    this.outcomes = new Uint8Array(size)
  }

  /** Records one outcome; returns its index, for forgive(). */
  record(lost: 0 | 1): number {
    if (this.count === this.size) this.lost -= this.outcomes[this.next]!
    else this.count++
    this.outcomes[this.next] = lost
    this.lost += lost
    this.next = (this.next + 1) % this.size
    return this.total++
  }

  /**
   * The loss recorded at `index` was no loss after all (its answer came late): it counts as delivered, if it
   * is still in the window. Returns whether it changed the window.
   */
  forgive(index: number): boolean {
    if (index < this.total - this.count || index >= this.total) return false
    const at = (this.next - (this.total - index) + this.size) % this.size
    if (this.outcomes[at] !== 1) return false
    this.outcomes[at] = 0
    this.lost--
    return true
  }

  clear(): void {
    this.count = 0
    this.next = 0
    this.lost = 0
    // total goes on: indexes handed out before the clear stay out of the window.
  }

  fraction(): number {
    return this.count === 0 ? 0 : this.lost / this.count
  }
}
