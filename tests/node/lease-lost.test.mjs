// A claim lost in the background is surfaced at once: the claim's AbortSignal aborts
// with a LeaseLostError and the manager emits 'leaseLost', on every backend. The loss is
// made as another worker would: the claim is released behind the holder's back through
// a ledger of the same store, and claimed anew.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import waypost from '../../bindings-node/index.js'
import { postgresDatabase } from './support.mjs'

const pg = postgresDatabase()

/** `promise`, or a failure after `ms`. The timer also keeps the event loop alive: the
 * native watch is weak on purpose (a held claim never keeps a process from exiting). */
function within(ms, promise) {
  let timer
  const deadline = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms) })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

async function lostLeaseIsSurfaced(repo) {
  const holder = new waypost.CheckpointManager(repo, { workerId: 'holder', leaseMs: 300 })
  const thief = new waypost.CheckpointManager(repo, { workerId: 'thief' })
  assert.equal(await holder.claimFile('taken.csv', 'csv', new Date()), true)
  const signal = holder.signal('taken.csv')
  assert.ok(signal instanceof AbortSignal && !signal.aborted)
  const emitted = once(holder, 'leaseLost')
  const ledger = new waypost.ClaimLedger(repo)
  const record = await ledger.get('taken.csv')
  await ledger.release({ key: 'taken.csv', workerId: record.workerId, epoch: record.epoch, attempt: record.retryCount + 1, leaseExpiresAt: record.leaseExpiresAt })
  assert.equal(await thief.claimFile('taken.csv', 'csv', new Date()), true)
  const [url, error] = await within(20_000, emitted)
  assert.equal(url, 'taken.csv')
  assert.ok(error instanceof waypost.LeaseLostError)
  assert.equal(error.code, 'LeaseLost')
  assert.ok(signal.aborted)
  assert.equal(signal.reason, error)
  assert.equal(holder.signal('taken.csv'), null)
  await assert.rejects(holder.completeFile('taken.csv'), waypost.LeaseLostError)
  await thief.completeFile('taken.csv')
  await holder.close()
  await thief.close()
}

test('memory: a lost lease aborts the claim signal and emits leaseLost', () => lostLeaseIsSurfaced(new waypost.InMemoryCheckpointRepository()))

test('sqlite: a lost lease aborts the claim signal and emits leaseLost', async () => {
  const repo = await waypost.SqliteCheckpointRepository.open(join(mkdtempSync(join(tmpdir(), 'waypost-lost-')), 'c.db'))
  await lostLeaseIsSurfaced(repo)
  await repo.close()
})

test('postgres: a lost lease aborts the claim signal and emits leaseLost', { skip: pg.skip }, async () => {
  const repo = await waypost.PostgresCheckpointRepository.connect(pg.url, { schema: `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}` })
  await lostLeaseIsSurfaced(repo)
  await repo.close()
})

test('a claim that ends normally never aborts its signal (unclosed.test.mjs: a held claim never keeps a process alive)', async () => {
  const m = new waypost.CheckpointManager(new waypost.InMemoryCheckpointRepository(), { workerId: 'w' })
  assert.equal(await m.claimFile('a.csv', 'csv', new Date()), true)
  const signal = m.signal('a.csv')
  await m.completeFile('a.csv')
  assert.equal(signal.aborted, false)
  assert.equal(m.signal('a.csv'), null)
  await m.close()
})
