import type { Entry } from './Entry.js'

/**
 * The LRU's order: a doubly-linked list threaded through the entries themselves, newest first.
 * Every operation is O(1) and allocates nothing; emptying it is O(n). @internal
 */
export class Recency {
  newest: Entry | undefined = undefined
  oldest: Entry | undefined = undefined
  size = 0
  /** The entries' total `size` (with `maxSize`). */
  totalSize = 0

  /** Adds an entry as the newest. */
  add(entry: Entry): void {
    entry.older = this.newest
    entry.newer = undefined
    if (this.newest === undefined) this.oldest = entry
    else this.newest.newer = entry
    this.newest = entry
    this.size++
    this.totalSize += entry.size
  }

  /** Makes an entry the newest. */
  touch(entry: Entry): void {
    if (this.newest === entry) return
    this.#unlink(entry)
    entry.older = this.newest
    entry.newer = undefined
    ;(this.newest as Entry).newer = entry
    this.newest = entry
  }

  /** Takes an entry out of the list. */
  remove(entry: Entry): void {
    this.#unlink(entry)
    entry.newer = entry.older = undefined
    this.size--
    this.totalSize -= entry.size
  }

  #unlink(entry: Entry): void {
    if (entry.newer === undefined) this.newest = entry.older
    else entry.newer.older = entry.older
    if (entry.older === undefined) this.oldest = entry.newer
    else entry.older.newer = entry.newer
  }
}
