// Exactly once under SIGKILL, from Node: examples/node/exactly-once.mjs runs a projection
// that writes its read model and checkpoint in one waypost transaction, kills it at 20
// random moments over 10,000 events and restarts it each time. This test then reads the
// store itself: every event applied once, the checkpoint at the last event.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import waypost from '../../bindings-node/index.js'
import { postgresDatabase } from './support.mjs'

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'node', 'exactly-once.mjs')
const EVENTS = 10_000
const pg = postgresDatabase()

async function runExample(...args) {
  const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, '--events', String(EVENTS), '--kills', '20', ...args], {
    timeout: 900_000,
    maxBuffer: 1 << 20,
  })
  assert.match(stdout, /20 kills/)
}

test('sqlite: a projection killed 20 times applies every event once', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'wp-crash-')), 'projection.db')
  await runExample('--url', `sqlite:${path}`)
  const repo = await waypost.SqliteCheckpointRepository.open(path)
  try {
    const [rows] = await repo.transaction((tx) =>
      tx.fetchAll('SELECT count(*) AS n, count(DISTINCT position) AS d, min(position) AS lo, max(position) AS hi FROM order_totals'))
    assert.deepEqual(rows, { n: EVENTS, d: EVENTS, lo: 1, hi: EVENTS })
    const [record] = await repo.getAllCheckpoints()
    assert.deepEqual([record.globalPosition, record.eventsProcessed], [EVENTS, EVENTS])
  } finally {
    await repo.close()
  }
})

test('postgres: a projection killed 20 times applies every event once', { skip: pg.skip }, async () => {
  const schema = `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  await runExample('--url', pg.url, '--schema', schema)
  const { Client } = createRequire(import.meta.url)('../../bindings-node/node_modules/pg')
  const client = new Client({ connectionString: pg.url })
  await client.connect()
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n, count(DISTINCT position)::int AS d, min(position)::int AS lo, max(position)::int AS hi FROM "${schema}".order_totals`)
    assert.deepEqual(rows, [{ n: EVENTS, d: EVENTS, lo: 1, hi: EVENTS }])
    const checkpoint = await client.query(
      `SELECT global_position::int AS position, events_processed::int AS counted FROM "${schema}".projection_checkpoints WHERE projection_name = $1`, ['OrderTotals'])
    assert.deepEqual(checkpoint.rows, [{ position: EVENTS, counted: EVENTS }])
  } finally {
    await client.end()
  }
})
