// CheckpointManager from Node: claims by URL on every backend, typed errors and bad
// input, the retry limit, and the explicit fallback to memory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

import { storeOpeners } from './support.mjs'

const waypost = createRequire(import.meta.url)('../../bindings-node/index.js')
const NOW = new Date('2026-01-01T00:00:00Z')

const stores = storeOpeners(waypost)

for (const [backend, opener] of Object.entries(stores)) {
  test(`claims by url on ${backend}`, { skip: opener.skip }, async () => {
    const store = await opener.open()
    const a = new waypost.CheckpointManager(store, { workerId: 'a' })
    const b = new waypost.CheckpointManager(store, { workerId: 'b' })
    assert.equal(await a.claimFile('s3://b/one.csv', 'csv', NOW), true)
    assert.equal(await b.claimFile('s3://b/one.csv', 'csv', NOW), false)
    await assert.rejects(b.completeFile('s3://b/one.csv', { totalRows: 1 }), waypost.LeaseLostError)
    await a.completeFile('s3://b/one.csv', { totalRows: 5, filteredRows: 1, persistedRows: 4, durationMs: 12 })
    assert.equal(await b.isProcessed('s3://b/one.csv'), true)
    await assert.rejects(a.completeFile('s3://b/one.csv'), (err) => err instanceof waypost.LeaseLostError && err.code === 'LeaseLost')

    assert.equal(await a.claimFile('s3://b/two.csv', 'csv', NOW), true)
    await a.failFile('s3://b/two.csv', 'bad header')
    assert.equal(await b.claimFile('s3://b/two.csv', 'csv', NOW), true, 'a failed file is retried')
    await b.releaseFile('s3://b/two.csv')
    assert.deepEqual(await a.getStats(), { total: 2, processing: 1, completed: 1, failed: 0 })
    assert.equal(a.mode, 'store')
    await a.close()
    await b.close()
    await store.close()
  })
}

test('a file failing every time is attempted maxRetries + 1 times', async () => {
  const manager = new waypost.CheckpointManager(new waypost.InMemoryCheckpointRepository(), { maxRetries: 2 })
  let attempts = 0
  while (await manager.claimFile('flaky.csv', 'csv', NOW)) {
    attempts += 1
    await manager.failFile('flaky.csv', `attempt ${attempts}`)
  }
  assert.equal(attempts, 3)
  await manager.close()
})

test('bad input gets typed errors', async () => {
  const store = new waypost.InMemoryCheckpointRepository()
  for (const bad of [{ leaseMs: 0 }, { maxRetries: 5000 }, { table: 'bad table' }, { workerId: '' }, { leaseMs: -1 }]) {
    assert.throws(() => new waypost.CheckpointManager(store, bad), waypost.InvalidArgumentError, JSON.stringify(bad))
  }
  assert.throws(() => new waypost.CheckpointManager({}), TypeError)
  const manager = new waypost.CheckpointManager(store)
  await assert.rejects(manager.claimFile('', 'csv', NOW), waypost.InvalidArgumentError)
  await assert.rejects(manager.claimFile('x'.repeat(2049), 'csv', NOW), waypost.InvalidArgumentError)
  await assert.rejects(manager.claimFile('a.csv', 'csv', '2026-01-01'), TypeError)
  await assert.rejects(manager.claimFile(42, 'csv', NOW), TypeError)
  assert.equal(await manager.claimFile('a.csv', 'csv', NOW), true)
  await assert.rejects(manager.completeFile('a.csv', { totalRows: -1 }), waypost.InvalidArgumentError)
  await assert.rejects(manager.completeFile('a.csv', { durationMs: 1.5 }), waypost.InvalidArgumentError)
  await manager.completeFile('a.csv', { totalRows: 1 })
  assert.deepEqual(await manager.getStats(), { total: 1, processing: 0, completed: 1, failed: 0 })
  await manager.close()
})

test('the default worker id', () => {
  const manager = new waypost.CheckpointManager(new waypost.InMemoryCheckpointRepository())
  assert.match(manager.getWorkerId(), /^worker_\d{13}_[a-z0-9]{6}$/)
  assert.match(String(manager), /^CheckpointManager\(worker_/)
})

const unreachable = () => waypost.PostgresCheckpointRepository.connect('postgres://nobody@127.0.0.1:1/none', { connectTimeoutMs: 2000 })

test('an unreachable store rejects without fallback', async () => {
  const manager = new waypost.CheckpointManager(await unreachable())
  await assert.rejects(manager.claimFile('a.csv', 'csv', NOW), waypost.UnavailableError)
})

test('fallbackToMemory switches, warns once and shows it', async () => {
  const manager = new waypost.CheckpointManager(await unreachable(), { fallbackToMemory: true })
  const warnings = []
  let delivered
  const arrived = new Promise((resolve) => { delivered = resolve })
  const listen = (w) => { if (w.name === 'WaypostWarning') { warnings.push(w); delivered() } }
  process.on('warning', listen)
  let timer
  try {
    assert.equal(await manager.claimFile('a.csv', 'csv', NOW), true)
    await manager.completeFile('a.csv')
    await manager.claimFile('b.csv', 'csv', NOW)
    // Warnings arrive on a later turn of the event loop.
    await Promise.race([arrived, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no warning within 10 s')), 10_000) })])
  } finally {
    clearTimeout(timer)
    process.off('warning', listen)
  }
  assert.equal(manager.mode, 'memory')
  assert.equal(warnings.length, 1)
  assert.equal(warnings[0].code, 'WAYPOST_CLAIMS_FALLBACK')
  assert.match(warnings[0].message, /memory/)
  assert.equal(await manager.isProcessed('a.csv'), true)
  await manager.close()
})

for (const [backend, opener] of Object.entries(stores)) {
  test(`${backend}: mode is 'pending' until the store answered; CheckpointManager.start reaches it at once`, { skip: opener.skip }, async () => {
    const store = await opener.open()
    const lazy = new waypost.CheckpointManager(store, { workerId: 'w1' })
    assert.equal(lazy.mode, 'pending')
    assert.equal(lazy.getWorkerId(), 'w1')
    const started = await waypost.CheckpointManager.start(store, { workerId: 'w2' })
    assert.equal(started.mode, 'store')
    assert.equal(await lazy.isProcessed('x'), false)
    assert.equal(lazy.mode, 'store')
    await lazy.close()
    await started.close()
    await store.close()
  })
}

test('CheckpointManager.start rejects at once when the store is gone', async () => {
  const gone = await waypost.PostgresCheckpointRepository.connect('postgres://postgres@127.0.0.1:1/postgres', { connectTimeoutMs: 1000 })
  await assert.rejects(waypost.CheckpointManager.start(gone), (e) => e instanceof waypost.UnavailableError)
  await gone.close()
})
