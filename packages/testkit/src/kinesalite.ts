import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'

/** How long kinesalite may take to listen after its process starts. */
const READY_TIMEOUT_MS = 10_000

/** A private kinesalite (a Kinesis API implementation) started for tests by {@link startKinesalite}. */
export interface KinesaliteServer {
  /** `http://127.0.0.1:<port>`: the endpoint to give the AWS SDK (with its HTTP/1.1 handler). */
  readonly endpoint: string
  readonly port: number
  /** Kills the process and waits for its exit. */
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const live = new Set<ChildProcess>()
let hooked = false

/**
 * Starts kinesalite (in memory, streams active at once) in its own process on a port the OS
 * picks (bound by the server itself, so no race); killed by `stop()` or when this process exits.
 * @throws Error when it does not listen within 10 s.
 */
export async function startKinesalite(): Promise<KinesaliteServer> {
  const main = createRequire(import.meta.url).resolve('kinesalite')
  const script = `require(${JSON.stringify(main)})({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 })
    .listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n') })`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  if (!hooked) {
    hooked = true
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  exited.then(() => live.delete(child))
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`kinesalite did not listen within ${READY_TIMEOUT_MS} ms: ${stderr}`))
    }, READY_TIMEOUT_MS)
    child.stdout?.once('data', (chunk: Buffer) => {
      clearTimeout(timer)
      resolve(Number(chunk.toString().trim()))
    })
    exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`kinesalite exited before listening: ${stderr}`))
    })
  })
  const stop = async () => {
    child.kill('SIGKILL')
    await exited
  }
  return { endpoint: `http://127.0.0.1:${port}`, port, stop, [Symbol.asyncDispose]: stop }
}
