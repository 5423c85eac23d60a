// Node's idioms: 64-bit positions as number or bigint, never rounded, on every store that
// runs here without a server (memory, SQLite) and on PostgreSQL when one is found; and
// Symbol.asyncDispose (what `await using` calls) on repositories, transactions,
// checkpointers and managers. Node 20 has the symbol but not the syntax, so the symbol is
// called as `await using` would call it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import waypost from '../index.js'
import { postgresDatabase } from '../../tests/node/support.mjs'

const dir = mkdtempSync(join(tmpdir(), 'waypost-idioms-'))
const MAX_I64 = 2n ** 63n - 1n
const pg = postgresDatabase()

const stores = {
  memory: async () => new waypost.InMemoryCheckpointRepository(),
  sqlite: async () => waypost.SqliteCheckpointRepository.open(join(dir, `${randomUUID()}.db`)),
  postgres: async () => waypost.PostgresCheckpointRepository.connect(pg.url, { schema: `idioms_${randomUUID().slice(0, 8)}` }),
}

for (const [kind, open] of Object.entries(stores)) {
  test(`${kind}: positions beyond 2^53 are bigints, never rounded; safe ones stay numbers`, { skip: kind === 'postgres' && pg.skip }, async () => {
    const repo = await open()
    try {
      for (const [given, read] of [[7n, 7], [2 ** 53 - 1, 2 ** 53 - 1], [2n ** 53n, 2n ** 53n], [2n ** 53n + 1n, 2n ** 53n + 1n], [MAX_I64, MAX_I64]]) {
        await repo.savePosition('Big', given, randomUUID(), 'T')
        assert.equal(await repo.getPosition('Big'), read, `saved ${given}`)
      }
      const [record] = await repo.getAllCheckpoints()
      if (kind !== 'memory') await repo.createEventsTable() // progress reads the stream head
      assert.equal(record.globalPosition, MAX_I64)
      assert.equal((await repo.getProgress('Big')).position, MAX_I64)
      for (const bad of [-1n, 2n ** 63n, 2n ** 64n, -(2n ** 64n)]) {
        await assert.rejects(repo.savePosition('Big', bad, randomUUID(), 'T'), waypost.InvalidArgumentError, `${bad}`)
      }
      assert.equal(await repo.getPosition('Big'), MAX_I64, 'a refused write changed nothing')

      const checkpoints = new waypost.Checkpointer(repo, 'BigCheckpointer')
      await checkpoints.record(2n ** 60n, randomUUID(), 'T')
      await checkpoints[Symbol.asyncDispose]()
      assert.equal(await repo.getPosition('BigCheckpointer'), 2n ** 60n, 'disposing saved the last position')
    } finally {
      await repo.close()
    }
  })
}

test('sqlite: a transaction takes bigint positions; disposing it rolls back what was not committed', async () => {
  const repo = await stores.sqlite()
  const tx = await repo.begin()
  await tx.savePosition('Tx', MAX_I64, randomUUID(), 'T')
  await tx[Symbol.asyncDispose]()
  assert.equal(tx.isOpen, false)
  assert.equal(await repo.getPosition('Tx'), null, 'rolled back')

  const committed = await repo.begin()
  await committed.savePosition('Tx', MAX_I64, randomUUID(), 'T')
  await committed.commit()
  await committed[Symbol.asyncDispose]() // after commit: nothing to do
  assert.equal(await repo.getPosition('Tx'), MAX_I64)

  const { values } = await repo.checkpointStatement('savePosition', 'S', randomUUID(), 'T', { position: MAX_I64 })
  assert.ok(values.includes(MAX_I64), `the statement carries the bigint: ${values}`)

  await repo[Symbol.asyncDispose]()
  await assert.rejects(repo.getPosition('Tx'), waypost.UnavailableError, 'disposed means closed')
})

test('a manager is closed by Symbol.asyncDispose: its held claims are released', async () => {
  const repo = new waypost.InMemoryCheckpointRepository()
  const first = new waypost.CheckpointManager(repo, { workerId: 'first' })
  assert.equal(await first.claimFile('s3://b/a.csv', 'csv', new Date()), true)
  await first[Symbol.asyncDispose]()
  const second = new waypost.CheckpointManager(repo, { workerId: 'second' })
  assert.equal(await second.claimFile('s3://b/a.csv', 'csv', new Date()), true, 'released at dispose, claimable at once')
  await second.close()
})

const throwing = {
  memory: async () => new waypost.InMemoryCheckpointRepository({ unsafeIntegers: 'throw' }),
  sqlite: async () => waypost.SqliteCheckpointRepository.open(join(dir, `${randomUUID()}.db`), { unsafeIntegers: 'throw' }),
  postgres: async () => waypost.PostgresCheckpointRepository.connect(pg.url, { schema: `idioms_${randomUUID().slice(0, 8)}`, unsafeIntegers: 'throw' }),
}

for (const [kind, open] of Object.entries(throwing)) {
  test(`${kind}: unsafeIntegers 'throw' reads an unsafe value as a RangeError, a safe one as a number`, { skip: kind === 'postgres' && pg.skip }, async () => {
    const repo = await open()
    try {
      await repo.savePosition('Safe', 2 ** 53 - 1, randomUUID(), 'T')
      assert.equal(await repo.getPosition('Safe'), 2 ** 53 - 1)
      await repo.savePosition('Big', 2n ** 53n, randomUUID(), 'T') // writing a bigint is allowed
      await assert.rejects(repo.getPosition('Big'), RangeError)
      await assert.rejects(repo.getAllCheckpoints(), (err) => err instanceof RangeError && /globalPosition 9007199254740992/.test(err.message))
      if (kind !== 'memory') {
        await repo.createEventsTable()
        await assert.rejects(repo.getProgress('Big'), RangeError)
        await assert.rejects(repo.getAllProgress(), RangeError)
      }
    } finally {
      await repo.close()
    }
  })
}

test("unsafeIntegers takes 'bigint' or 'throw' only; a fetchAll column beyond 2^53 throws under 'throw'", async () => {
  for (const bad of ['number', 1, true]) {
    assert.throws(() => new waypost.InMemoryCheckpointRepository({ unsafeIntegers: bad }), waypost.InvalidArgumentError)
    await assert.rejects(waypost.SqliteCheckpointRepository.open(join(dir, 'never.db'), { unsafeIntegers: bad }), waypost.InvalidArgumentError)
    await assert.rejects(waypost.openRepository('memory:', { unsafeIntegers: bad }), waypost.InvalidArgumentError)
  }
  const repo = await waypost.openRepository(`sqlite:${join(dir, `${randomUUID()}.db`)}`, { unsafeIntegers: 'throw' })
  const tx = await repo.begin()
  assert.deepEqual(await tx.fetchAll('SELECT 9007199254740991 AS n'), [{ n: 9007199254740991 }])
  await assert.rejects(tx.fetchAll('SELECT 9007199254740992 AS n'), (err) => err instanceof RangeError && /column n/.test(err.message))
  await tx.rollback()
  await repo.close()
  const lenient = await waypost.openRepository('memory:')
  await lenient.savePosition('Big', 2n ** 53n, randomUUID(), 'T')
  assert.equal(await lenient.getPosition('Big'), 2n ** 53n, "'bigint' is the default")
})

test('lastProcessedAt is a Date in checkpoints, lag metrics and progress, with its microseconds', async () => {
  const repo = await waypost.SqliteCheckpointRepository.open(join(dir, `${randomUUID()}.db`))
  try {
    await repo.createEventsTable()
    await repo.savePosition('Timed', 1, randomUUID(), 'T')
    const [record] = await repo.getAllCheckpoints()
    const lag = await repo.getLagMetrics('Timed')
    const progress = await repo.getProgress('Timed')
    for (const at of [record.lastProcessedAt, lag.lastProcessedAt, progress.lastProcessedAt]) {
      assert.ok(at instanceof Date)
      assert.equal(at.getTime(), record.lastProcessedAt.getTime(), 'one instant in every record')
      assert.equal(at.microseconds, record.lastProcessedAt.microseconds)
      assert.ok(Number.isInteger(at.microseconds) && at.microseconds >= 0 && at.microseconds <= 999)
      assert.deepEqual(Object.keys(at), [], 'microseconds is not enumerable')
    }
    // The stored text, read back through SQL, is the Date plus its microseconds.
    const tx = await repo.begin()
    const [{ at }] = await tx.fetchAll("SELECT last_processed_at AS at FROM projection_checkpoints WHERE projection_name = 'Timed'")
    await tx.rollback()
    const stored = String(at instanceof Date ? at.toISOString() : at)
    const fraction = /\.(\d{6})/.exec(stored)?.[1]
    assert.equal(fraction === undefined ? 0 : Number(fraction) % 1000, record.lastProcessedAt.microseconds, stored)
    assert.equal(new Date(stored.replace(/(\.\d{3})\d*/, '$1')).getTime(), record.lastProcessedAt.getTime(), stored)
  } finally {
    await repo.close()
  }
})
