// Transactions from Node: `repo.transaction(async (tx) => …)`. The rules are the core's
// (conformance cases T01–T10); these tests cover what the binding adds: the callback
// form, parameter and row conversions, errors and their classes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import waypost from '../../bindings-node/index.js'
import { postgresDatabase } from './support.mjs'

const pg = postgresDatabase()

// Each SQL backend with the prefix that keeps its tables in the test's own namespace.
const backends = {
  sqlite: {
    skip: false,
    open: async () => ({
      repo: await waypost.SqliteCheckpointRepository.open(join(mkdtempSync(join(tmpdir(), 'wp-tx-')), 'tx.db')),
      ns: '',
    }),
  },
  postgres: {
    skip: pg.skip,
    open: async () => {
      const schema = `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}`
      return { repo: await waypost.PostgresCheckpointRepository.connect(pg.url, { schema }), ns: `"${schema}".` }
    },
  },
}

for (const [backend, { skip, open }] of Object.entries(backends)) {
  test(`${backend}: the callback commits both, or a throw rolls back both`, { skip }, async () => {
    const { repo, ns } = await open()
    try {
      const result = await repo.transaction(async (tx) => {
        await tx.execute(`CREATE TABLE ${ns}totals (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL)`)
        assert.equal(await tx.execute(`INSERT INTO ${ns}totals VALUES ($1, $2)`, [1, 10]), 1)
        await tx.savePosition('Totals', 1, randomUUID(), 'OrderPlaced')
        assert.equal(await repo.getPosition('Totals'), null, 'not visible before the commit')
        return 'ok'
      })
      assert.equal(result, 'ok')
      assert.equal(await repo.getPosition('Totals'), 1)

      const failure = new Error('the handler failed')
      let held
      await assert.rejects(
        repo.transaction(async (tx) => {
          held = tx
          await tx.execute(`INSERT INTO ${ns}totals VALUES ($1, $2)`, [2, 20])
          await tx.savePosition('Totals', 2, randomUUID(), 'OrderPlaced')
          throw failure
        }),
        (err) => err === failure,
      )
      assert.equal(held.isOpen, false)
      assert.equal(await repo.getPosition('Totals'), 1)
      const rows = await repo.transaction((tx) => tx.fetchAll(`SELECT id, amount FROM ${ns}totals ORDER BY id`))
      assert.deepEqual(rows, [{ id: 1, amount: 10 }])
    } finally {
      await repo.close()
    }
  })

  test(`${backend}: parameters and rows convert`, { skip }, async () => {
    const { repo, ns } = await open()
    const types = backend === 'postgres' ? ['BOOLEAN', 'BYTEA', 'UUID', 'TIMESTAMPTZ', 'JSONB'] : ['BOOLEAN', 'BLOB', 'TEXT', 'TEXT', 'TEXT']
    const id = randomUUID()
    const at = new Date('2026-11-30T05:06:07.891Z')
    const big = 2n ** 62n + 1n
    try {
      const [row, second] = await repo.transaction(async (tx) => {
        await tx.execute(`CREATE TABLE ${ns}typed (b ${types[0]}, y ${types[1]}, u ${types[2]}, t ${types[3]}, j ${types[4]}, i BIGINT, f DOUBLE PRECISION, s TEXT, n TEXT)`)
        // JS has no UUID type: a string is text, cast in SQL for a PostgreSQL uuid column.
        const uuid = backend === 'postgres' ? '$3::uuid' : '$3'
        await tx.execute(`INSERT INTO ${ns}typed VALUES ($1, $2, ${uuid}, $4, $5, $6, $7, $8, $9)`,
          [true, Buffer.from([0, 159, 255]), id, at, { a: [1, 2], b: null }, big, 0.5, 'ü\'";--', null])
        await tx.execute(`INSERT INTO ${ns}typed (b, y, i, s) VALUES ($1, $2, $3, $4)`, [false, new Uint8Array([97, 98]), 7, 'x'])
        return tx.fetchAll(`SELECT * FROM ${ns}typed ORDER BY s DESC`)
      })
      assert.deepEqual(Object.keys(row), ['b', 'y', 'u', 't', 'j', 'i', 'f', 's', 'n'])
      assert.deepEqual([row.y, second.y], [Buffer.from([0, 159, 255]), Buffer.from('ab')])
      assert.deepEqual([row.i, second.i, row.f, row.s, row.n], [big, 7, 0.5, 'ü\'";--', null])
      assert.equal(row.u, id)
      if (backend === 'postgres') {
        assert.deepEqual([row.b, second.b], [true, false])
        assert.ok(row.t instanceof Date)
        assert.equal(row.t.getTime(), at.getTime())
        assert.deepEqual(row.j, { a: [1, 2], b: null })
      } else {
        // SQLite keeps its storage classes: integers and text.
        assert.deepEqual([row.b, second.b], [1, 0])
        assert.equal(Date.parse(row.t), at.getTime())
        assert.equal(row.j, '{"a":[1,2],"b":null}')
      }
    } finally {
      await repo.close()
    }
  })

  test(`${backend}: 64-bit integers cross as bigint at both ends, 0 and -1 as numbers`, { skip }, async () => {
    const { repo, ns } = await open()
    try {
      const values = [-(2n ** 63n), 2n ** 63n - 1n, 0, -1, 2 ** 53 - 1]
      const rows = await repo.transaction(async (tx) => {
        await tx.execute(`CREATE TABLE ${ns}ints (k BIGINT, v BIGINT)`)
        for (const [k, v] of values.entries()) await tx.execute(`INSERT INTO ${ns}ints VALUES ($1, $2)`, [k, v])
        return tx.fetchAll(`SELECT v FROM ${ns}ints ORDER BY k`)
      })
      assert.deepEqual(rows.map((r) => r.v), values)
    } finally {
      await repo.close()
    }
  })

  test(`${backend}: bad parameters are TypeErrors naming the parameter, and change nothing`, { skip }, async () => {
    const { repo, ns } = await open()
    try {
      const tx = await repo.begin()
      await tx.execute(`CREATE TABLE ${ns}t (v TEXT)`)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, ['fine', Symbol('x')]), (e) => e instanceof TypeError && /params\[1\]/.test(e.message))
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, [new Map()]), TypeError)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, [new Date('nope')]), TypeError)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, 'abc'), TypeError)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, [2n ** 64n]), waypost.InvalidArgumentError)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, [2n ** 63n]), waypost.InvalidArgumentError)
      await assert.rejects(tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, [-(2n ** 63n) - 1n]), waypost.InvalidArgumentError)
      await assert.rejects(tx.savePosition('T', 1.5, randomUUID(), 'E'), waypost.InvalidArgumentError)
      await assert.rejects(tx.savePosition('T', '1', randomUUID(), 'E'), TypeError)
      assert.equal(tx.isOpen, true, 'none of these reached the store')
      await tx.execute(`INSERT INTO ${ns}t VALUES ($1)`, ['kept'])
      await tx.commit()
      assert.deepEqual(await repo.transaction((t) => t.fetchAll(`SELECT v FROM ${ns}t`)), [{ v: 'kept' }])
    } finally {
      await repo.close()
    }
  })

  test(`${backend}: store errors have their classes and end the transaction`, { skip }, async () => {
    const { repo, ns } = await open()
    try {
      await repo.transaction(async (tx) => {
        await tx.execute(`CREATE TABLE ${ns}u (id BIGINT PRIMARY KEY)`)
        await tx.execute(`INSERT INTO ${ns}u VALUES (1)`)
      })
      const tx = await repo.begin()
      await tx.savePosition('U', 5, randomUUID(), 'E')
      await assert.rejects(tx.execute(`INSERT INTO ${ns}u VALUES (1)`), waypost.ConflictError)
      assert.equal(tx.isOpen, false)
      await assert.rejects(tx.commit(), waypost.InvalidArgumentError)
      await tx.rollback()
      await assert.rejects(repo.transaction((t) => t.fetchAll(`SELECT * FROM ${ns}missing`)), waypost.NotFoundError)
      assert.equal(await repo.getPosition('U'), null)
    } finally {
      await repo.close()
    }
  })
}

test('memory: checkpoint writes wait for the commit; SQL is Unsupported', async () => {
  const repo = new waypost.InMemoryCheckpointRepository()
  await repo.transaction(async (tx) => {
    await tx.savePosition('M', 1, randomUUID(), 'E')
    await tx.updateCheckpoint('N', randomUUID(), 'E')
    await assert.rejects(tx.execute('SELECT 1'), waypost.UnsupportedError)
    assert.deepEqual(await repo.getAllCheckpoints(), [])
  })
  assert.deepEqual((await repo.getAllCheckpoints()).map((c) => c.projectionName), ['M', 'N'])
  await assert.rejects(repo.transaction(async (tx) => {
    await tx.savePositionToken('M', 'lsn:1', randomUUID(), 'E')
    throw new RangeError('boom')
  }), RangeError)
  assert.equal(await repo.getPositionToken('M'), null)
  await assert.rejects(repo.transaction('not a function'), TypeError)
})

test('an SQLite :memory: database has no transactions', async () => {
  const repo = await waypost.SqliteCheckpointRepository.open(':memory:')
  await assert.rejects(repo.transaction(async () => {}), waypost.UnsupportedError)
  await repo.close()
})
