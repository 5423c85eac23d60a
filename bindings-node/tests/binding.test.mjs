// What the conformance cases cannot show: JS conversions, error classes and codes,
// concurrent Promises, closing while calls are in flight, CommonJS and ESM loading.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import * as esm from 'waypost'
import waypost from '../index.js'

const { InMemoryCheckpointRepository, SqliteCheckpointRepository, PostgresCheckpointRepository } = waypost
const id = () => randomUUID()
const dir = mkdtempSync(join(tmpdir(), 'waypost-binding-'))

test('CommonJS require and ESM import give the same classes', () => {
  const cjs = createRequire(import.meta.url)('../index.js')
  assert.equal(cjs.InMemoryCheckpointRepository, esm.InMemoryCheckpointRepository)
  assert.equal(typeof esm.openRepository, 'function')
})

test('positions are safe non-negative integers; anything else is InvalidArgument', async () => {
  const repo = new InMemoryCheckpointRepository()
  await repo.savePosition('p', Number.MAX_SAFE_INTEGER, id(), 'T')
  assert.equal(await repo.getPosition('p'), Number.MAX_SAFE_INTEGER)
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity]) {
    await assert.rejects(repo.savePosition('p', bad, id(), 'T'), (e) => e instanceof waypost.InvalidArgumentError && e.code === 'InvalidArgument')
  }
  await assert.rejects(repo.savePosition('p', '7', id(), 'T'), TypeError)
  assert.equal(await repo.getPosition('p'), Number.MAX_SAFE_INTEGER)
})

test('event ids are validated UUID strings, read back lowercase', async () => {
  const repo = new InMemoryCheckpointRepository()
  const eventId = id()
  await repo.updateCheckpoint('p', eventId.toUpperCase(), 'T')
  assert.equal(await repo.getCheckpoint('p'), eventId)
  await assert.rejects(repo.updateCheckpoint('p', 'not-a-uuid', 'T'), { code: 'InvalidArgument' })
  await assert.rejects(repo.updateCheckpoint('p', 42, 'T'), TypeError)
})

test('missing is null, lastProcessedAt is a Date', async () => {
  const repo = await SqliteCheckpointRepository.open(join(dir, 'dates.db'))
  assert.equal(await repo.getPosition('nobody'), null)
  const before = Date.now()
  await repo.savePositionToken('p', 'cursor-1', id(), 'T')
  const [record] = await repo.getAllCheckpoints()
  assert.ok(record.lastProcessedAt instanceof Date)
  assert.ok(record.lastProcessedAt.getTime() >= before - 1000 && record.lastProcessedAt.getTime() <= Date.now() + 1000)
  assert.equal(record.globalPosition, null)
  assert.equal(record.positionToken, 'cursor-1')
  await repo.close()
})

test('error classes share a base and carry a code', async () => {
  for (const [Class, code] of [
    [waypost.InvalidArgumentError, 'InvalidArgument'], [waypost.NotFoundError, 'NotFound'],
    [waypost.UnavailableError, 'Unavailable'], [waypost.UnsupportedError, 'Unsupported'],
    [waypost.LeaseLostError, 'LeaseLost'],
  ]) {
    assert.ok(Class.prototype instanceof waypost.WaypostError)
    assert.ok(Class.prototype instanceof Error)
    void code
  }
  const repo = await SqliteCheckpointRepository.open(join(dir, 'missing.db'), { events: { eventsTable: 'nowhere' } })
  await repo.updateCheckpoint('p', id(), 'T')
  await assert.rejects(repo.getLagMetrics('p'), (e) => e instanceof waypost.NotFoundError && e.code === 'NotFound')
  await assert.rejects(SqliteCheckpointRepository.open(join(dir, 'x.db'), { table: 'bad name' }), { code: 'InvalidArgument' })
  await assert.rejects(SqliteCheckpointRepository.open(join(dir, 'no', 'such', 'dir.db')), { code: 'Unavailable' })
  await assert.rejects(waypost.openRepository('redis://h/db'), { code: 'InvalidArgument' })
  await assert.rejects(waypost.MysqlCheckpointRepository.connect('mysql://root@127.0.0.1:1'), { code: 'InvalidArgument' })
  const mysql = await waypost.openRepository('mysql://u:secret-password@127.0.0.1:1/db')
  assert.ok(mysql instanceof waypost.MysqlCheckpointRepository)
  assert.ok(!String(mysql).includes('secret-password'))
  await mysql.close()
})

test('the native side throws with napi\'s code set to the kind; the class keeps that error as its cause', async () => {
  const native = createRequire(import.meta.url)('../generated.js')
  const memory = native.NativeRepository.memory()
  // An answer at hand (thrown at once), a Promise that rejects, and a constructor: each
  // its own napi path.
  assert.throws(() => memory.getPosition(''), (e) => e.constructor === Error && e.code === 'InvalidArgument' && !e.message.startsWith('InvalidArgument'))
  const sqlite = await native.openSqlite(join(dir, 'native-errors.db'))
  await assert.rejects(sqlite.getAllCheckpoints().then(() => sqlite.close()).then(() => sqlite.getAllCheckpoints()), (e) => e.constructor === Error && e.code === 'Unavailable')
  assert.throws(() => new native.NativeCheckpointer(memory, 'p', { every: 0 }), { code: 'InvalidArgument' })
  await assert.rejects(native.openSqlite(join(dir, 'no', 'such', 'dir.db')), { code: 'Unavailable' })
  const repo = new InMemoryCheckpointRepository()
  await assert.rejects(repo.getPosition(''), (e) => e instanceof waypost.InvalidArgumentError && e.cause.code === 'InvalidArgument' && e.message === e.cause.message)
  assert.throws(() => new waypost.Checkpointer(repo, 'p', { every: 0 }), waypost.InvalidArgumentError)
})

test('an unreachable server rejects with Unavailable naming it, and toString hides the password', async () => {
  const repo = await PostgresCheckpointRepository.connect('postgres://u:secret-password@127.0.0.1:1/db', { connectTimeoutMs: 1000 })
  assert.ok(!String(repo).includes('secret-password'))
  await assert.rejects(repo.getPosition('p'), (e) => e.code === 'Unavailable' && e.message.includes('127.0.0.1:1'))
})

test('concurrent Promises on one name each count once', async () => {
  const repo = await SqliteCheckpointRepository.open(join(dir, 'concurrent.db'))
  await Promise.all(Array.from({ length: 50 }, (_, k) => repo.savePosition(`n${k % 5}`, k, id(), 'T')))
  const all = await repo.getAllCheckpoints()
  assert.deepEqual(all.map((c) => [c.projectionName, c.eventsProcessed]), [['n0', 10], ['n1', 10], ['n2', 10], ['n3', 10], ['n4', 10]])
  await repo.close()
})

test('closing while calls are in flight: each call settles, later calls are Unavailable', async () => {
  const repo = await SqliteCheckpointRepository.open(join(dir, 'closing.db'))
  const inflight = Array.from({ length: 20 }, (_, k) => repo.savePosition('p', k, id(), 'T'))
  const closing = repo.close()
  const outcomes = await Promise.allSettled(inflight)
  await closing
  for (const o of outcomes) {
    assert.ok(o.status === 'fulfilled' || o.reason.code === 'Unavailable', String(o.reason))
  }
  await assert.rejects(repo.getPosition('p'), { code: 'Unavailable' })
  const reopened = await SqliteCheckpointRepository.open(join(dir, 'closing.db'))
  const [record] = await reopened.getAllCheckpoints()
  assert.equal(record.eventsProcessed, outcomes.filter((o) => o.status === 'fulfilled').length)
  await reopened.close()
})

test('the classes cannot be built around anything but a native handle', () => {
  assert.throws(() => new SqliteCheckpointRepository({}), TypeError)
})

test('the in-memory repository answers within the current turn (no native hop)', async () => {
  const repo = new InMemoryCheckpointRepository()
  await repo.savePosition('p', 3, id(), 'T')
  let answered = false
  const pending = repo.getPosition('p').then((v) => { answered = v === 3 })
  // A call through napi's runtime settles in a later macrotask; this one settles after a
  // few microtasks, before any timer or I/O callback could run.
  for (let i = 0; i < 5; i++) await Promise.resolve()
  assert.equal(answered, true)
  await pending
  await assert.rejects(repo.savePosition('p', -1, id(), 'T'), { code: 'InvalidArgument' })
  await assert.rejects(repo.getCheckpoint(7), TypeError)
})

test('a SQLite read by primary key settles within the current turn; a write after the native runtime answers', async () => {
  const repo = await SqliteCheckpointRepository.open(join(dir, 'turn.db'))
  const within = async (promise) => {
    let answered = false
    const pending = promise.then(() => { answered = true })
    for (let i = 0; i < 5; i++) await Promise.resolve()
    const early = answered
    await pending
    return early
  }
  assert.equal(await within(repo.savePosition('p', 4, id(), 'T')), false)
  // The read-only connection answers on this thread, and sees the write that returned.
  let read
  assert.equal(await within(repo.getPosition('p').then((v) => { read = v })), true)
  assert.equal(read, 4)
  assert.equal(await within(repo.getCheckpoint('p')), true)
  assert.equal(await within(repo.getPositionToken('p')), true)
  assert.equal(await within(repo.getAllCheckpoints()), false)
  await repo.close()
})

test('with inlineWrites a SQLite write is done on the JS thread; one that would wait for a lock is not', async () => {
  const file = join(dir, 'inline-writes.db')
  const repo = await SqliteCheckpointRepository.open(file, { inlineWrites: true })
  const other = await SqliteCheckpointRepository.open(file)
  for (const position of [5, 6]) {
    const written = repo.savePosition('p', position, id(), 'T')
    // Read by another repository before this turn ends: the write is already committed.
    const seen = other.getPosition('p')
    await written
    assert.equal(await seen, position)
  }
  const updated = repo.updateCheckpoint('p', id(), 'T')
  assert.equal((await other.getAllCheckpoints()).find((c) => c.projectionName === 'p').eventsProcessed, 3)
  await updated
  const tokened = repo.savePositionToken('t', '0/16B3748', id(), 'T')
  assert.equal(await other.getPositionToken('t'), '0/16B3748')
  await tokened

  // Another connection holds the write lock: the write neither blocks this thread nor
  // fails; it lands once the lock is released.
  const tx = await other.begin()
  await tx.savePosition('held', 1, id(), 'T')
  let settled = false
  const waiting = repo.savePosition('p', 7, id(), 'T').finally(() => { settled = true })
  for (let i = 0; i < 5; i++) await Promise.resolve()
  assert.equal(settled, false)
  await tx.commit()
  await waiting
  assert.equal(await other.getPosition('p'), 7)
  await assert.rejects(repo.savePosition('p', -1, id(), 'T'), { code: 'InvalidArgument' })
  await other.close()
  await repo.close()
})
