// Statement mode: the checkpoint UPSERT run by the caller's own node-postgres client
// inside the caller's transaction commits and rolls back with their read-model write.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import waypost from '../../bindings-node/index.js'
import { postgresDatabase } from './support.mjs'

const pg = postgresDatabase()
const { Client } = createRequire(import.meta.url)('../../bindings-node/node_modules/pg')

test('node-postgres commits and rolls back with the read model', { skip: pg.skip }, async () => {
  const schema = `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const repo = await waypost.PostgresCheckpointRepository.connect(pg.url, { schema })
  // Asking for the statement creates the checkpoint table (and here the schema) first.
  const first = await repo.checkpointStatement('savePosition', 'Totals', randomUUID(), 'OrderPlaced', { position: 1 })
  assert.match(first.text, /\$6/)
  const client = new Client({ connectionString: pg.url })
  await client.connect()
  try {
    await client.query(`CREATE TABLE "${schema}".totals (position BIGINT PRIMARY KEY, amount BIGINT NOT NULL)`)
    await client.query('BEGIN')
    await client.query(`INSERT INTO "${schema}".totals VALUES (1, 10)`)
    await client.query(first.text, first.values)
    await client.query('COMMIT')

    const second = await repo.checkpointStatement('savePosition', 'Totals', randomUUID(), 'OrderPlaced', { position: 2 })
    await client.query('BEGIN')
    await client.query(`INSERT INTO "${schema}".totals VALUES (2, 20)`)
    await client.query(second.text, second.values)
    await client.query('ROLLBACK')

    assert.equal(await repo.getPosition('Totals'), 1)
    const { rows } = await client.query(`SELECT position::int AS position, amount::int AS amount FROM "${schema}".totals`)
    assert.deepEqual(rows, [{ position: 1, amount: 10 }])
    const token = await repo.checkpointStatement('savePositionToken', 'Cdc', randomUUID(), 'Row', { token: 'lsn:0/1' })
    await client.query(token.text, token.values)
    assert.equal(await repo.getPositionToken('Cdc'), 'lsn:0/1')
  } finally {
    await client.end()
    await repo.close()
  }
})

test('bad kinds and the in-memory repository are refused', async () => {
  const memory = new waypost.InMemoryCheckpointRepository()
  await assert.rejects(memory.checkpointStatement('updateCheckpoint', 'x', randomUUID(), 'T'), waypost.UnsupportedError)
  await assert.rejects(memory.checkpointStatement('savePosition', 'x', randomUUID(), 'T'), waypost.InvalidArgumentError)
  await assert.rejects(memory.checkpointStatement('dropTable', 'x', randomUUID(), 'T'), waypost.InvalidArgumentError)
})
