import { connect } from 'node:net'

/**
 * A decoded RESP2 reply: simple and bulk strings as strings, integers as numbers, a nil as
 * `null`, arrays as arrays. An error nested in an array (e.g. in an `EXEC` reply) is an `Error`;
 * an error at the top level rejects instead.
 */
export type RespReply = string | number | null | Error | RespReply[]

/** Where a reply ends in the buffer, or `undefined` when more bytes are needed. */
type Parsed = { readonly value: RespReply; readonly end: number } | undefined

function parse(buffer: Buffer, start: number): Parsed {
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buffer[start] ?? 0)
  const line = buffer.toString('utf8', start + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new Error(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: RespReply[] = []
      let end = next
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, end)
        if (item === undefined) return undefined
        items.push(item.value)
        end = item.end
      }
      return { value: items, end }
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

function encode(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`]
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`)
  return Buffer.from(parts.join(''))
}

/**
 * Sends one command to a Redis server over a fresh TCP connection and decodes its reply: enough
 * for a harness to probe servers without a client library or a `redis-cli` process per call.
 *
 * @param host - the server's address, e.g. `127.0.0.1`.
 * @param port - the server's port.
 * @param args - the command and its arguments, e.g. `['CLUSTER', 'INFO']`.
 * @param timeoutMs - how long the connection and the reply may take.
 * @returns the decoded reply.
 * @throws Error with the server's message on an error reply, or when the connection fails or
 * times out.
 * @example
 * ```ts
 * await respCommand('127.0.0.1', server.port, ['PING']) // 'PONG'
 * ```
 */
export function respCommand(
  host: string,
  port: number,
  args: readonly string[],
  timeoutMs = 5_000,
): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0)
    let settled = false
    const socket = connect({ host, port })
    const settle = (error: Error | undefined, value?: RespReply) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value ?? null)
    }
    const timer = setTimeout(
      () => settle(new Error(`${args[0] ?? 'command'} to ${host}:${port} timed out`)),
      timeoutMs,
    )
    socket.on('connect', () => socket.write(encode(args)))
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk])
      try {
        const reply = parse(received, 0)
        if (reply === undefined) return
        if (reply.value instanceof Error) settle(reply.value)
        else settle(undefined, reply.value)
      } catch (error) {
        settle(error as Error)
      }
    })
    socket.on('error', (error) => settle(error))
    socket.on('close', () =>
      settle(new Error(`${host}:${port} closed the connection before replying`)),
    )
  })
}
