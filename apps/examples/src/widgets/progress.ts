import type { WorkerProgress } from './protocol.js'

const BAR_WIDTH = 24

/**
 * Live progress bars, one per worker, redrawn in place on a terminal (nothing is drawn when
 * stdout is not a TTY, e.g. in CI or with --json).
 */
export class ProgressBars {
  readonly #rows = new Map<string, WorkerProgress>()
  readonly #expectedPerWorker: number
  readonly #enabled: boolean
  #drawn = 0
  #timer: NodeJS.Timeout | undefined

  constructor(
    names: readonly string[],
    totalEvents: number,
    enabled = process.stdout.isTTY === true,
  ) {
    for (const name of names)
      this.#rows.set(name, { events: 0, merges: 0, flushes: 0, executions: 0, owned: 0 })
    this.#expectedPerWorker = Math.max(1, totalEvents / Math.max(1, names.length))
    this.#enabled = enabled
    if (enabled) this.#timer = setInterval(() => this.#draw(), 100)
  }

  update(name: string, progress: WorkerProgress): void {
    this.#rows.set(name, progress)
  }

  stop(): void {
    clearInterval(this.#timer)
    if (this.#enabled) this.#draw()
  }

  #draw(): void {
    const lines = [...this.#rows].map(([name, p]) => {
      const filled = Math.min(
        BAR_WIDTH,
        Math.round((p.events / this.#expectedPerWorker) * BAR_WIDTH),
      )
      const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled)
      const n = (x: number) => x.toLocaleString('en-US').padStart(9)
      return `${name.padEnd(9)} ${bar} ${n(p.events)} events ${n(p.merges)} merges ${n(p.flushes)} flushes ${n(p.executions)} executions`
    })
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : ''
    process.stdout.write(`${up}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`)
    this.#drawn = lines.length
  }
}
