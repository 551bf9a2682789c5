import { Consumer, type StoredEvent } from '../src/index.js'

/** A consumer that records in memory (at least once) what it consumes, failing as `fail` says. */
export class Recorder extends Consumer {
  /** Every event consumed, in order (a redelivered one again). */
  readonly seen: StoredEvent[] = []
  /** How often each event id was refused. */
  readonly failures = new Map<number, number>()
  constructor(
    private readonly consumerName = 'Recorder',
    private readonly fail: (event: StoredEvent, failures: number) => boolean = () => false,
  ) {
    super()
  }
  override get name() {
    return this.consumerName
  }
  /** The ids of {@link Recorder.seen}. */
  get ids(): number[] {
    return this.seen.map((event) => event.id)
  }
  override consume(event: StoredEvent) {
    const failures = this.failures.get(event.id) ?? 0
    if (this.fail(event, failures)) {
      this.failures.set(event.id, failures + 1)
      throw new Error(`refused ${event.id}`)
    }
    this.seen.push(event)
  }
}
