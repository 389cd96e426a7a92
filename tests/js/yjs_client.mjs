// A stock Yjs client (yjs + y-websocket + ws) for the interop test.
// Usage: node yjs_client.mjs <room-ws-url-with-ticket> <text-to-append> <expect-substring> [timeout-ms]
// Joins the room, waits until the body contains <expect-substring>, appends <text-to-append>,
// waits until the server has echoed a state containing it, prints the body as JSON, exits 0.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const [url, append, expect, timeoutMs = '15000'] = process.argv.slice(2)
const question = url.indexOf('?')
const base = url.slice(0, question)
const params = Object.fromEntries(new URLSearchParams(url.slice(question + 1)))
const slash = base.lastIndexOf('/')
const doc = new Y.Doc()
const provider = new WebsocketProvider(base.slice(0, slash), base.slice(slash + 1), doc, {
  WebSocketPolyfill: WebSocket, params, connect: true, disableBc: true, maxBackoffTime: 500
})
provider.awareness.setLocalStateField('user', { name: 'stock yjs', color: '#aa3300' })
const body = doc.getText('body')
const fail = (why) => { console.error(why); process.exit(1) }
setTimeout(() => fail(`timeout; body is ${JSON.stringify(body.toString())}`), Number(timeoutMs))
provider.on('connection-close', (event) => { if (event && event.code >= 4000) fail(`closed ${event.code} ${event.reason}`) })

const waitFor = (predicate) => new Promise((resolve) => {
  const check = () => { if (predicate()) { doc.off('update', check); resolve() } }
  doc.on('update', check); check()
})

provider.on('sync', async (synced) => {
  if (!synced) return
  await waitFor(() => body.toString().includes(expect))
  body.insert(body.length, append)
  // y-websocket sends at once; give the server a moment to store it before we leave.
  setTimeout(() => {
    console.log(JSON.stringify({ body: body.toString(), peers: provider.awareness.getStates().size }))
    provider.destroy(); process.exit(0)
  }, 500)
})
