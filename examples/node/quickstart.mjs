// A worker over an event list: it saves its position every few events, stops midway,
// resumes from the checkpoint in a "new process", and prints its lag.
//
// Run: node examples/node/quickstart.mjs  (memory; set WAYPOST_URL, e.g. sqlite:checkpoints.db)
import { randomUUID } from 'node:crypto'
import waypost from '../../bindings-node/index.js'

const NAME = 'EmailWorker'
const BATCH = 5
const events = Array.from({ length: 12 }, (_, i) => ({ position: i + 1, id: randomUUID(), type: 'UserRegistered' }))

// --8<-- [start:worker]
async function work(repo, stopAfter = Infinity) {
  const last = await repo.getPosition(NAME) // null on the first run
  console.log(last === null ? 'Starting from the beginning' : `Resuming after position ${last}`)
  let handled = 0
  for (const event of events.filter((e) => e.position > (last ?? 0))) {
    if (handled === stopAfter) break
    handled += 1 // ...send the email for event.id here...
    // Save every BATCH events and at the end: a crash repeats at most BATCH - 1 events.
    if (handled % BATCH === 0 || event.position === events.length) {
      await repo.savePosition(NAME, event.position, event.id, event.type)
    }
  }
  return handled
}
// --8<-- [end:worker]

const repo = await waypost.openRepository(process.env.WAYPOST_URL ?? 'memory:')
await repo.resetCheckpoint(NAME)
console.log(`first run handled ${await work(repo, 7)} events`) // stops after 7; position 5 saved
console.log(`checkpoint: ${await repo.getPosition(NAME)}`)
console.log(`second run handled ${await work(repo)} events`) // resumes after 5: events 6..12
const final = await repo.getPosition(NAME)
console.log(`final position: ${final}`)
if (final !== events.length) throw new Error(`expected ${events.length}, got ${final}`)

await repo.createEventsTable()
const lag = await repo.getLagMetrics(NAME)
console.log(`lag: ${lag.lagSeconds} s, events processed: ${lag.eventsProcessed}, last at ${lag.lastProcessedAt}`)
await repo.close()
