// Exactly once under SIGKILL: a projection writes its read model and its checkpoint in one
// waypost transaction, is killed with SIGKILL at 20 random moments and restarted each
// time; at the end the read model holds every event exactly once and the checkpoint is at
// the last event.
//
// Run: node examples/node/exactly-once.mjs                       (2,000 events, a temporary SQLite file)
//      node examples/node/exactly-once.mjs --url postgres://… --schema demo --events 10000
//      node examples/node/exactly-once.mjs work --url URL         (one projection run: what gets killed)
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import waypost from '../../bindings-node/index.js'

const NAME = 'OrderTotals'

/** The event stream: a fixed id and amount per position. */
const event = (position) => ({ id: `00000000-0000-4000-8000-${position.toString(16).padStart(12, '0')}`, amount: position % 97 })

/** The repository, and the prefix that puts the read model beside its checkpoints. */
async function openStore(url, schema) {
  if (url.startsWith('postgres')) {
    return { repo: await waypost.PostgresCheckpointRepository.connect(url, { schema }), ns: schema ? `"${schema}".` : '' }
  }
  return { repo: await waypost.openRepository(url), ns: '' }
}

async function work(url, schema, events) {
  const { repo, ns } = await openStore(url, schema)
  // No key on position: an event applied twice would show as a second row.
  await repo.transaction((tx) => tx.execute(`CREATE TABLE IF NOT EXISTS ${ns}order_totals (position BIGINT NOT NULL, amount BIGINT NOT NULL)`))
  const start = ((await repo.getPosition(NAME)) ?? 0) + 1
  console.log(`resume ${start}`)
  for (let position = start; position <= events; position++) {
    const { id, amount } = event(position)
    // --8<-- [start:exactly-once]
    await repo.transaction(async (tx) => {
      await tx.execute(`INSERT INTO ${ns}order_totals (position, amount) VALUES ($1, $2)`, [position, amount])
      await tx.savePosition(NAME, position, id, 'OrderPlaced')
    }) // both rows are committed together, or neither is
    // --8<-- [end:exactly-once]
    console.log(`committed ${position}`)
  }
  console.log('done')
  await repo.close()
}

/** One projection process; SIGKILL once it reports committing position `killAt`. */
function runOnce(args, killAt) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'work', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let done = false
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (killAt !== null && line.startsWith('committed ') && Number(line.split(' ')[1]) >= killAt) {
        child.kill('SIGKILL')
        killAt = null
      }
      done ||= line === 'done'
    })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ done, code, signal }))
  })
}

/** One random moment in each of `kills` equal stretches of the stream (a seeded generator). */
function killPoints(events, kills, seed) {
  let state = BigInt(seed)
  const next = () => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn
    return Number(state >> 33n)
  }
  const stretch = Math.floor(events / (kills + 1))
  const low = Math.floor(stretch / 10)
  const high = Math.floor((stretch * 9) / 10)
  return Array.from({ length: kills }, (_, k) => k * stretch + low + (next() % (high - low + 1)))
}

async function demo(url, schema, events, kills, seed) {
  const args = ['--url', url, '--events', String(events), ...(schema ? ['--schema', schema] : [])]
  for (const [i, point] of killPoints(events, kills, seed).entries()) {
    const run = await runOnce(args, point)
    if (run.done || run.signal !== 'SIGKILL') {
      console.log(`run ${i + 1} was not killed mid-way (done=${run.done}, exit ${run.code}, signal ${run.signal})`)
      return 1
    }
  }
  const last = await runOnce(args, null)
  if (!last.done || last.code !== 0) {
    console.log(`the final run failed (exit ${last.code})`)
    return 1
  }
  const { repo, ns } = await openStore(url, schema)
  const [rows] = await repo.transaction((tx) => tx.fetchAll(
    `SELECT count(*) AS n, count(DISTINCT position) AS d, min(position) AS lo, max(position) AS hi, CAST(sum(amount) AS BIGINT) AS total FROM ${ns}order_totals`))
  const position = await repo.getPosition(NAME)
  const [record] = await repo.getAllCheckpoints()
  await repo.close()
  let expectedTotal = 0
  for (let p = 1; p <= events; p++) expectedTotal += event(p).amount
  console.log(`${kills} kills; read model rows ${rows.n} (distinct ${rows.d}, ${rows.lo}..${rows.hi}, total ${rows.total}); ` +
    `checkpoint at ${position}, ${record.eventsProcessed} events counted`)
  const ok = rows.n === events && rows.d === events && rows.lo === 1 && rows.hi === events &&
    rows.total === expectedTotal && position === events && record.eventsProcessed === events
  console.log(ok ? 'every event exactly once' : 'FAILED: an event was lost or applied twice')
  return ok ? 0 : 1
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    schema: { type: 'string' },
    events: { type: 'string', default: '2000' },
    kills: { type: 'string', default: '20' },
    seed: { type: 'string', default: '20261130' },
  },
})
const events = Number(values.events)
if (positionals[0] === 'work') {
  await work(values.url, values.schema, events)
} else if (values.url) {
  process.exitCode = await demo(values.url, values.schema, events, Number(values.kills), Number(values.seed))
} else {
  const dir = mkdtempSync(join(tmpdir(), 'waypost-exactly-once-'))
  try {
    process.exitCode = await demo(`sqlite:${join(dir, 'projection.db')}`, undefined, events, Number(values.kills), Number(values.seed))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
