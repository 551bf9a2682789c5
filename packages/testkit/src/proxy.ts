import { connect, createServer, type Socket } from 'node:net'
import { type Random, seededRandom } from './random.js'

/** A command seen by the proxy on its way from a client to Redis. */
export interface ProxiedCommand {
  /** The command name, upper-cased (`EVALSHA`, `HSET`, …). */
  readonly name: string
  /** Its arguments after the name, decoded as UTF-8. */
  readonly args: readonly string[]
  /** Which client connection sent it: 1 for the first the proxy accepted, and so on. */
  readonly connection: number
}

/**
 * What happens to one command:
 * - `pass`: forwarded, and its reply forwarded back.
 * - `drop-command`: the connection is cut before the command is forwarded: Redis never sees it.
 * - `drop-reply`: forwarded; once Redis has replied (so it ran the command), the connection is cut
 *   instead of forwarding that reply: the lost-reply case a client cannot tell from a lost command.
 * - `{ delayMs }`: its reply is held back that long; the replies after it on its connection wait
 *   behind it, as on a slow link.
 *
 * A cut connection loses every reply not forwarded yet, as a real one would.
 */
export type Fault = 'pass' | 'drop-command' | 'drop-reply' | { readonly delayMs: number }

/** Decides the fault of each command, in the order commands reach the proxy. */
export type FaultPolicy = (command: ProxiedCommand) => Fault

/** Options of {@link randomFaults}: probabilities per matching command (they must sum to ≤ 1). */
export interface RandomFaultsOptions {
  /** The seed of the random sequence: the same commands in the same order get the same faults. */
  readonly seed: number
  /** Probability of `drop-reply`. Default 0. */
  readonly dropReply?: number
  /** Probability of `drop-command`. Default 0. */
  readonly dropCommand?: number
  /** Probability of a delayed reply. Default 0. */
  readonly delay?: number
  /** The longest delay (ms); each delay is uniform in [0, maxDelayMs]. Default 50. */
  readonly maxDelayMs?: number
  /** Which commands may get a fault; the others always `pass`. Default: every command. */
  readonly match?: (command: ProxiedCommand) => boolean
}

/**
 * A seeded random {@link FaultPolicy}: each matching command draws one number and gets
 * `drop-reply`, `drop-command`, a delay or `pass` with the given probabilities.
 *
 * @throws RangeError when a probability is outside [0, 1] or they sum to more than 1.
 * @example
 * ```ts
 * proxy.policy = randomFaults({ seed: 7, dropReply: 0.05, match: (c) => c.name === 'EVALSHA' })
 * ```
 */
export function randomFaults(options: RandomFaultsOptions): FaultPolicy {
  const { dropReply = 0, dropCommand = 0, delay = 0, maxDelayMs = 50 } = options
  const match = options.match ?? (() => true)
  for (const [name, p] of Object.entries({ dropReply, dropCommand, delay })) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`${name} must be a probability, got ${p}`)
  }
  if (dropReply + dropCommand + delay > 1)
    throw new RangeError('dropReply + dropCommand + delay must not exceed 1')
  if (!(maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be ≥ 0, got ${maxDelayMs}`)
  const random: Random = seededRandom(options.seed)
  return (command) => {
    if (!match(command)) return 'pass'
    const draw = random()
    if (draw < dropReply) return 'drop-reply'
    if (draw < dropReply + dropCommand) return 'drop-command'
    if (draw < dropReply + dropCommand + delay)
      return { delayMs: Math.floor(random() * maxDelayMs) }
    return 'pass'
  }
}

/** What the proxy did so far. */
export interface ProxyStats {
  /** Client connections accepted (refused ones not counted). */
  readonly connections: number
  /** Client connections open now. */
  readonly open: number
  /** Commands that reached the proxy. */
  readonly commands: number
  /** Commands never forwarded (`drop-command`). */
  readonly droppedCommands: number
  /** Replies Redis sent that the proxy dropped (`drop-reply`): each of those commands ran. */
  readonly droppedReplies: number
  /** Replies held back (`{ delayMs }`). */
  readonly delayedReplies: number
  /** Connections cut by a fault or by {@link FaultProxy.cut}. */
  readonly cuts: number
  /** Connection attempts refused (see {@link FaultProxy.refuse}). */
  readonly refused: number
}

/** Options of {@link startFaultProxy}. */
export interface StartFaultProxyOptions {
  /** The Redis server to forward to. */
  readonly target: { readonly host: string; readonly port: number }
  /** The fault of each command; default: every command passes. */
  readonly policy?: FaultPolicy
}

/** A TCP proxy between clients and one Redis server that injects faults, from {@link startFaultProxy}. */
export interface FaultProxy {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The port clients connect to (a free one from the OS). */
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** The fault of each command not taken by {@link FaultProxy.failNext}; may be replaced any time. */
  policy: FaultPolicy
  /**
   * Gives the next command that matches (default: any) the fault, before the policy is asked.
   * Several calls queue up, in order.
   *
   * @returns resolves with the command once the fault happened (for `drop-reply`: once Redis
   * replied, so the command ran; for a delay: once its reply was forwarded).
   * @throws (rejects) when the proxy is closed before a command matched.
   */
  failNext(
    fault: Exclude<Fault, 'pass'>,
    match?: (command: ProxiedCommand) => boolean,
  ): Promise<ProxiedCommand>
  /** Cuts every open connection now (both sides), losing every reply in flight. @returns how many. */
  cut(): number
  /**
   * Refuses new connections (they are reset as soon as accepted) for `ms`, or until
   * {@link FaultProxy.allow} when `ms` is not given. Open connections are not touched: call
   * {@link FaultProxy.cut} too for a partition.
   */
  refuse(ms?: number): void
  /** Accepts connections again. */
  allow(): void
  /** Counters of what happened. */
  stats(): ProxyStats
  /** Stops listening and cuts every connection. */
  close(): Promise<void>
  /** {@link FaultProxy.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Where the RESP2/RESP3 value starting at `start` ends, or `undefined` when more bytes are needed.
 * An attribute (`|`) is framed with the value it annotates. A client's inline command (no type
 * byte) is one line.
 */
export function frameEnd(buffer: Buffer, start: number): number | undefined {
  if (start >= buffer.length) return undefined
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd < 0) return undefined
  const next = lineEnd + 2
  const type = String.fromCharCode(buffer[start] as number)
  const count = () => Number(buffer.toString('latin1', start + 1, lineEnd))
  const items = (n: number, from: number): number | undefined => {
    let end: number | undefined = from
    for (let i = 0; i < n && end !== undefined; i++) end = frameEnd(buffer, end)
    return end
  }
  switch (type) {
    case '$':
    case '!':
    case '=': {
      const length = count()
      if (length < 0) return next
      return buffer.length >= next + length + 2 ? next + length + 2 : undefined
    }
    case '*':
    case '~':
    case '>':
      return count() < 0 ? next : items(count(), next)
    case '%':
      return items(2 * count(), next)
    case '|': {
      const end = items(2 * count(), next)
      return end === undefined ? undefined : frameEnd(buffer, end)
    }
    default:
      // + - : _ , # ( are one line, and so is an inline command.
      return next
  }
}

/** The name and arguments of a command frame (a RESP array of bulk strings, or an inline line). */
function decodeCommand(frame: Buffer): { name: string; args: string[] } {
  const parts: string[] = []
  if (frame[0] === 0x2a /* * */) {
    let at = frame.indexOf('\r\n') + 2
    while (at < frame.length) {
      const lineEnd = frame.indexOf('\r\n', at)
      const length = Number(frame.toString('latin1', at + 1, lineEnd))
      parts.push(frame.toString('utf8', lineEnd + 2, lineEnd + 2 + length))
      at = lineEnd + 2 + length + 2
    }
  } else {
    parts.push(...frame.toString('utf8').trim().split(/\s+/))
  }
  const [name = '', ...args] = parts
  return { name: name.toUpperCase(), args }
}

/** A one-shot fault waiting for its command. */
interface Armed {
  readonly fault: Exclude<Fault, 'pass'>
  readonly match: (command: ProxiedCommand) => boolean
  readonly resolve: (command: ProxiedCommand) => void
  readonly reject: (error: Error) => void
}

/** A command forwarded to Redis whose reply has not come back yet. */
interface Awaiting {
  readonly fault: Fault
  readonly command: ProxiedCommand
  readonly fired?: (command: ProxiedCommand) => void
}

/** Replies on their way to the client, held back by a delay. */
interface Outgoing {
  readonly data: Buffer
  /** When it may leave (epoch ms). */
  readonly at: number
  readonly sent?: () => void
}

type Counters = { -readonly [K in keyof ProxyStats]: ProxyStats[K] }

/** One client connection and its connection to Redis. */
class Link {
  #fromClient = Buffer.alloc(0)
  #fromServer = Buffer.alloc(0)
  readonly #awaiting: Awaiting[] = []
  /** Replies held back by a delay, in order, each with the time it may leave. */
  readonly #outbox: Outgoing[] = []
  #timer: NodeJS.Timeout | undefined
  #cut = false

  constructor(
    readonly id: number,
    readonly client: Socket,
    readonly server: Socket,
    readonly decide: (command: ProxiedCommand) => { fault: Fault; fired?: Awaiting['fired'] },
    readonly counters: Counters,
    readonly onClose: (link: Link) => void,
  ) {
    client.on('data', (chunk: Buffer) => this.#clientData(chunk))
    server.on('data', (chunk: Buffer) => this.#serverData(chunk))
    for (const socket of [client, server]) {
      socket.on('error', () => this.cut(false))
      socket.on('close', () => this.cut(false))
    }
  }

  /**
   * Closes both sides; what was forwarded to Redis still reaches it (the Redis side is ended after
   * its writes flush), what Redis sends back is lost. `counted`: a fault's cut, not one side
   * closing on its own.
   */
  cut(counted = true): void {
    if (this.#cut) return
    this.#cut = true
    if (counted) this.counters.cuts++
    clearTimeout(this.#timer)
    this.client.destroy()
    this.server.destroySoon()
    this.onClose(this)
  }

  #clientData(chunk: Buffer): void {
    if (this.#cut) return
    this.#fromClient = Buffer.concat([this.#fromClient, chunk])
    let start = 0
    for (;;) {
      const end = frameEnd(this.#fromClient, start)
      if (end === undefined || this.#cut) break
      const command = {
        ...decodeCommand(this.#fromClient.subarray(start, end)),
        connection: this.id,
      }
      this.counters.commands++
      const { fault, fired } = this.decide(command)
      if (fault === 'drop-command') {
        this.counters.droppedCommands++
        this.server.write(this.#fromClient.subarray(0, start))
        this.cut()
        fired?.(command)
        return
      }
      this.#awaiting.push(fired ? { fault, command, fired } : { fault, command })
      start = end
    }
    if (start > 0) this.server.write(this.#fromClient.subarray(0, start))
    this.#fromClient = this.#fromClient.subarray(start)
  }

  #serverData(chunk: Buffer): void {
    if (this.#cut) return
    this.#fromServer = Buffer.concat([this.#fromServer, chunk])
    let start = 0
    let forward = 0
    for (;;) {
      const end = frameEnd(this.#fromServer, start)
      if (end === undefined || this.#cut) break
      // A push (`>`) answers no command: it passes through.
      const awaiting = this.#fromServer[start] === 0x3e ? undefined : this.#awaiting.shift()
      if (awaiting?.fault === 'drop-reply') {
        this.counters.droppedReplies++
        this.#send(this.#fromServer.subarray(forward, start), 0)
        this.cut()
        awaiting.fired?.(awaiting.command)
        return
      }
      if (awaiting !== undefined && typeof awaiting.fault === 'object') {
        this.counters.delayedReplies++
        this.#send(this.#fromServer.subarray(forward, start), 0)
        const fired = awaiting.fired
        this.#send(
          this.#fromServer.subarray(start, end),
          awaiting.fault.delayMs,
          fired && (() => fired(awaiting.command)),
        )
        forward = end
      }
      start = end
    }
    this.#send(this.#fromServer.subarray(forward, start), 0)
    this.#fromServer = Buffer.from(this.#fromServer.subarray(start))
  }

  /** Forwards replies to the client, behind any reply still held back. */
  #send(data: Buffer, delayMs: number, sent?: () => void): void {
    if (data.length === 0 && sent === undefined) return
    if (delayMs <= 0 && this.#outbox.length === 0) {
      this.client.write(data)
      sent?.()
      return
    }
    const item = { data: Buffer.from(data), at: Date.now() + delayMs, ...(sent ? { sent } : {}) }
    this.#outbox.push(item)
    this.#pump()
  }

  #pump(): void {
    clearTimeout(this.#timer)
    while (!this.#cut && this.#outbox.length > 0) {
      const head = this.#outbox[0] as Outgoing
      const wait = head.at - Date.now()
      if (wait > 0) {
        this.#timer = setTimeout(() => this.#pump(), wait)
        return
      }
      this.#outbox.shift()
      this.client.write(head.data)
      head.sent?.()
    }
  }
}

/**
 * Starts a fault-injecting TCP proxy on a free port of 127.0.0.1 in front of one Redis server.
 * It frames RESP (2 and 3) both ways, so it knows which reply answers which command: a fault hits
 * one command, chosen by `failNext` or by the policy (e.g. {@link randomFaults}). Not for
 * connections in RESP2 subscribe mode or `MONITOR`, whose replies answer no command.
 *
 * @param options - the Redis server and the policy.
 * @returns the listening proxy; `close()` it in a `finally` / `afterAll`.
 * @throws Error when no port can be bound.
 * @example
 * ```ts
 * const redis = await startRedis()
 * const proxy = await startFaultProxy({ target: redis })
 * const client = new Redis(proxy.url)
 * const lost = proxy.failNext('drop-reply', (c) => c.name === 'INCR')
 * client.incr('n').catch(() => {}) // ran once in Redis; ioredis resends it after reconnecting
 * await lost
 * ```
 */
export async function startFaultProxy(options: StartFaultProxyOptions): Promise<FaultProxy> {
  const counters: Counters = {
    connections: 0,
    open: 0,
    commands: 0,
    droppedCommands: 0,
    droppedReplies: 0,
    delayedReplies: 0,
    cuts: 0,
    refused: 0,
  }
  const links = new Set<Link>()
  const armed: Armed[] = []
  let refusing = false
  let refuseTimer: NodeJS.Timeout | undefined
  let nextId = 0
  const proxy = {
    policy: options.policy ?? ((): Fault => 'pass'),
  }
  const decide = (command: ProxiedCommand) => {
    const index = armed.findIndex((one) => one.match(command))
    if (index >= 0) {
      const [one] = armed.splice(index, 1) as [Armed]
      return { fault: one.fault, fired: one.resolve }
    }
    return { fault: proxy.policy(command) }
  }
  const server = createServer({ noDelay: true }, (client) => {
    if (refusing) {
      counters.refused++
      client.on('error', () => {})
      client.resetAndDestroy()
      return
    }
    counters.connections++
    counters.open++
    const upstream = connect({
      host: options.target.host,
      port: options.target.port,
      noDelay: true,
    })
    const link = new Link(++nextId, client, upstream, decide, counters, (closed) => {
      if (links.delete(closed)) counters.open--
    })
    links.add(link)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port')
  const cut = () => {
    const open = [...links]
    for (const link of open) link.cut()
    return open.length
  }
  const allow = () => {
    clearTimeout(refuseTimer)
    refusing = false
  }
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      allow()
      for (const one of armed.splice(0)) one.reject(new Error('the fault proxy was closed'))
      server.close(() => resolve())
      cut()
    })
    return closing
  }
  return Object.assign(proxy, {
    host: '127.0.0.1',
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    failNext: (fault: Exclude<Fault, 'pass'>, match: Armed['match'] = () => true) =>
      new Promise<ProxiedCommand>((resolve, reject) => {
        if (closing) reject(new Error('the fault proxy was closed'))
        else armed.push({ fault, match, resolve, reject })
      }),
    cut,
    refuse: (ms?: number) => {
      allow()
      refusing = true
      if (ms !== undefined) refuseTimer = setTimeout(allow, ms)
    },
    allow,
    stats: (): ProxyStats => ({ ...counters }),
    close,
    [Symbol.asyncDispose]: close,
  })
}
