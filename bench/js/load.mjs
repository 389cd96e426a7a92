// Load generator for bench/rooms_side_by_side.py: stock Yjs clients (yjs + y-protocols + ws) in
// one process, speaking the y-websocket protocol to any Yjs room server.
//
// Usage: node load.mjs <plan.json>
// The plan: {"mode": "edit" | "idle", "rooms": [[url, ...], ...] (one URL per connection, grouped
// by room), "rate": edits per second per editor, "duration": seconds of editing, "drain": seconds
// to wait for the last deliveries, "hold": seconds idle connections are held, "concurrency":
// connections being opened at once, "connect_timeout": seconds, "deflate": whether clients offer
// per-message deflate, as browsers and ws do by default}.
//
// Protocol with the harness (stdout, one JSON object per line; stdin, one line per answer): at each
// phase boundary it prints {"event": "synced" | "drained" | "held", ...} and waits for a line on
// stdin, so the harness can read the server's CPU time and memory at that exact point. Last it
// prints {"event": "report", ...} and exits. Progress and errors go to stderr.
//
// Each client does what a y-websocket provider does on the wire: on open it sends sync step 1 and
// its presence; it answers sync messages, sends its own document updates and its own presence
// changes (set once, renewed every 15 s by y-protocols' Awareness). Unlike a y-websocket provider
// it does not re-broadcast the presence it receives from peers, and it never reconnects: a closed
// connection is counted (with its close code), not hidden.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const MARK = /\[(\d+):(\d+(?:\.\d+)?)\]/g

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

const say = (object) => process.stdout.write(JSON.stringify(object) + '\n')
const log = (text) => process.stderr.write(`load: ${text}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// At a phase boundary: tell the harness, wait for its line (bounded: it may have died).
async function handshake (event, extra = {}) {
  say({ event, ...extra })
  const answer = await Promise.race([lines.next(), sleep(120_000).then(() => null)])
  if (answer === null || answer.done) {
    log(`no answer from the harness after "${event}"; stopping`)
    process.exit(3)
  }
}

const stats = {
  connectMs: [],
  connectFailures: [],
  closes: new Map(), // close code -> count, for connections closed after they synced
  latenciesMs: [],
  expected: 0,
  received: 0,
  edits: 0
}
// edit number -> peers still to see it
const pending = new Map()

class Client {
  constructor (url, room, editor) {
    this.url = url
    this.room = room
    this.editor = editor
    this.doc = new Y.Doc()
    this.text = this.doc.getText('body')
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState({ user: { name: `load ${room}.${editor}`, color: '#3366ff' } })
    this.synced = false
    this.open = false
    this.ws = null
  }

  send (bytes) {
    if (this.open) this.ws.send(bytes)
  }

  connect (timeoutMs) {
    return new Promise((resolve, reject) => {
      const began = performance.now()
      const ws = new WebSocket(this.url, { perMessageDeflate: Boolean(plan.deflate) })
      ws.binaryType = 'arraybuffer'
      this.ws = ws
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('not synced in time')) }, timeoutMs)
      ws.on('open', () => {
        this.open = true
        const step1 = encoding.createEncoder()
        encoding.writeVarUint(step1, MESSAGE_SYNC)
        syncProtocol.writeSyncStep1(step1, this.doc)
        this.send(encoding.toUint8Array(step1))
        this.sendPresence([this.doc.clientID])
      })
      ws.on('message', (data) => {
        if (this.receive(new Uint8Array(data)) && !this.synced) {
          this.synced = true
          clearTimeout(timer)
          stats.connectMs.push(performance.now() - began)
          resolve()
        }
      })
      ws.on('error', (error) => { clearTimeout(timer); reject(error) })
      ws.on('close', (code) => {
        this.open = false
        clearTimeout(timer)
        if (this.synced) stats.closes.set(code, (stats.closes.get(code) ?? 0) + 1)
        else reject(new Error(`closed ${code} before it synced`))
      })
    })
  }

  // Returns true when the message was the server's sync step 2 (the client is then synced).
  receive (bytes) {
    const decoder = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(decoder)
    if (type === MESSAGE_SYNC) {
      const reply = encoding.createEncoder()
      encoding.writeVarUint(reply, MESSAGE_SYNC)
      const kind = syncProtocol.readSyncMessage(decoder, reply, this.doc, this)
      if (encoding.length(reply) > 1) this.send(encoding.toUint8Array(reply))
      return kind === syncProtocol.messageYjsSyncStep2
    }
    if (type === MESSAGE_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
    }
    return false // other message types (a server's own extensions) are not for a stock client
  }

  sendPresence (clients) {
    const message = encoding.createEncoder()
    encoding.writeVarUint(message, MESSAGE_AWARENESS)
    encoding.writeVarUint8Array(message, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients))
    this.send(encoding.toUint8Array(message))
  }

  listen () {
    this.doc.on('update', (update, origin) => {
      if (origin === this) return // came from the server
      const message = encoding.createEncoder()
      encoding.writeVarUint(message, MESSAGE_SYNC)
      syncProtocol.writeUpdate(message, update)
      this.send(encoding.toUint8Array(message))
    })
    // Only our own presence (set, renewed by Awareness every 15 s): origin "local".
    this.awareness.on('update', ({ added, updated, removed }, origin) => {
      if (origin === 'local') this.sendPresence(added.concat(updated, removed))
    })
    this.text.observe((event) => {
      if (event.transaction.origin !== this) return
      const now = performance.now()
      for (const op of event.delta) {
        if (typeof op.insert !== 'string') continue
        for (const [, number, sentAt] of op.insert.matchAll(MARK)) {
          const left = pending.get(number)
          if (left === undefined) continue
          stats.latenciesMs.push(now - Number(sentAt))
          stats.received += 1
          if (left === 1) pending.delete(number)
          else pending.set(number, left - 1)
        }
      }
    })
  }

  edit (peers) {
    if (!this.open) return
    const number = String(stats.edits++)
    stats.expected += peers
    if (peers > 0) pending.set(number, peers)
    this.text.insert(this.text.length, `[${number}:${performance.now().toFixed(3)}]`)
  }

  close () {
    this.awareness.destroy() // stops its renewal timer
    if (this.ws) this.ws.terminate()
  }
}

function quantile (sorted, q) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function summary (values) {
  const sorted = Float64Array.from(values).sort()
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100)
  return {
    count: sorted.length,
    p50_ms: round(quantile(sorted, 0.5)),
    p99_ms: round(quantile(sorted, 0.99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : null)
  }
}

async function connectAll (rooms) {
  const queue = rooms.flat()
  const workers = Array.from({ length: Math.min(plan.concurrency, queue.length) }, async () => {
    while (queue.length > 0) {
      const client = queue.shift()
      client.listen()
      try {
        await client.connect(plan.connect_timeout * 1000)
      } catch (error) {
        stats.connectFailures.push(`${client.room}.${client.editor}: ${error.message}`)
      }
    }
  })
  await Promise.all(workers)
}

async function runEdits (rooms) {
  const period = 1000 / plan.rate
  const began = performance.now()
  const end = began + plan.duration * 1000
  const editors = rooms.map((members) => members.filter((c) => c.synced))
  const chains = []
  for (const members of editors) {
    for (const client of members) {
      // Editors start at random points of one period, then keep to their schedule (no drift).
      const first = began + Math.random() * period
      chains.push((async () => {
        for (let at = first; at < end; at += period) {
          await sleep(Math.max(0, at - performance.now()))
          client.edit(members.length - 1)
        }
      })())
    }
  }
  await Promise.all(chains)
  const lastEdit = performance.now()
  const drainEnd = lastEdit + plan.drain * 1000
  while (pending.size > 0 && performance.now() < drainEnd) await sleep(20)
  return { edit_seconds: (lastEdit - began) / 1000, drain_seconds: (performance.now() - lastEdit) / 1000 }
}

async function main () {
  const rooms = plan.rooms.map((urls, room) => urls.map((url, editor) => new Client(url, room, editor)))
  const connections = rooms.reduce((n, members) => n + members.length, 0)
  const cpuBefore = process.cpuUsage()
  const began = performance.now()
  await connectAll(rooms)
  const connectSeconds = (performance.now() - began) / 1000
  const synced = rooms.reduce((n, members) => n + members.filter((c) => c.synced).length, 0)
  log(`${synced} of ${connections} connections synced in ${connectSeconds.toFixed(1)} s`)
  await handshake('synced', { connections, synced })
  const report = {
    mode: plan.mode,
    rooms: rooms.length,
    connections,
    synced,
    connect_seconds: Math.round(connectSeconds * 100) / 100,
    connect_to_synced: summary(stats.connectMs),
    connect_failures: stats.connectFailures.length,
    connect_failure_examples: stats.connectFailures.slice(0, 5)
  }
  if (plan.mode === 'edit') {
    Object.assign(report, await runEdits(rooms))
    await handshake('drained')
    Object.assign(report, {
      edits: stats.edits,
      deliveries_expected: stats.expected,
      deliveries_received: stats.received,
      undelivered_after_drain: stats.expected - stats.received,
      edit_to_peer: summary(stats.latenciesMs)
    })
  } else {
    await sleep(plan.hold * 1000)
    await handshake('held')
    report.held_seconds = plan.hold
  }
  const cpu = process.cpuUsage(cpuBefore)
  report.closed_by_server = Object.fromEntries(stats.closes)
  report.generator_cpu_seconds = Math.round((cpu.user + cpu.system) / 1e4) / 100
  report.generator_rss_mib = Math.round(process.memoryUsage().rss / 1048576)
  for (const members of rooms) for (const client of members) client.close()
  say({ event: 'report', ...report })
  process.exit(0)
}

main().catch((error) => { log(error.stack ?? String(error)); process.exit(1) })
