// The ten-line quickstart of the README and the package's README: resume from the saved
// position, handle the events after it, save as you go. Run twice over one file and the
// second run resumes where the first stopped.
//
// Run: node examples/node/first-steps.mjs
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import waypost from '../../bindings-node/index.js'

async function run(path) {
  // --8<-- [start:quickstart]
  const repo = await waypost.SqliteCheckpointRepository.open(path)
  const start = (await repo.getPosition('orders')) ?? 0 // null on the first run
  for (let position = start + 1; position <= start + 3; position++) { // the events after it
    // ... handle the event at `position` ...
    await repo.savePosition('orders', position, randomUUID(), 'OrderPlaced')
  }
  const saved = await repo.getPosition('orders')
  await repo.close()
  // --8<-- [end:quickstart]
  return saved
}

const path = join(mkdtempSync(join(tmpdir(), 'waypost-first-steps-')), 'checkpoints.db')
const [first, second] = [await run(path), await run(path)]
console.log(`first run saved ${first}, the second resumed after it and saved ${second}`)
if (first !== 3 || second !== 6) throw new Error(`expected 3 and 6, got ${first} and ${second}`)
