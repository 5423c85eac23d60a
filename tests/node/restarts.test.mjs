// Server faults from Node: a PostgreSQL cluster of this file's own
// (tests/support/pg-throwaway.sh) restarted twice under a writing loop, a transaction in
// flight across a restart, and a stopped server. Every call resolves or rejects with an
// UnavailableError (code 'Unavailable'); the same repository object recovers by itself; no
// acknowledged write is lost (psql, another process, reads the result); a stopped server
// fails typed within connectTimeoutMs. The restarts are driven by the test and synchronised
// on the number of acknowledged writes, never on sleeps. Without initdb/pg_ctl these tests
// are skipped, and under CI=true they fail instead.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import waypost from '../../bindings-node/index.js'
import { pgThrowaway } from './support.mjs'

const SCRIPT = fileURLToPath(new URL('../support/pg-throwaway.sh', import.meta.url))
const CONNECT_TIMEOUT_MS = 2000
const MARGIN_MS = 5000 // slack on a call that must fail: a bound on a failure, not a timing test
const NAME = 'RestartLoop'
const [FIRST_RESTART_AT, SECOND_RESTART_AT, AFTER_SECOND] = [50, 150, 200]
const MAX_ATTEMPTS = 100_000

const throwaway = pgThrowaway('create', 'server-fault tests', { before, after })
const { skip } = throwaway
let cluster // { dir, port, url }
before(() => {
  if (skip) return
  const { dir, port } = throwaway.cluster()
  cluster = { dir, port, url: `postgres://postgres@127.0.0.1:${port}/postgres` }
})

/** `pg-throwaway.sh ACTION DIR [MODE]`, without blocking the event loop's writer. */
const control = (action, mode) => promisify(execFile)('bash', [SCRIPT, action, cluster.dir, ...(mode ? [mode] : [])])

/** What the server holds, read by another process on a connection of its own. */
const psql = (sql) =>
  execFileSync('psql', ['-X', '-w', '-v', 'ON_ERROR_STOP=1', cluster.url, '-Atc', sql], {
    encoding: 'utf8',
    env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
  }).trim()

const repository = () =>
  waypost.PostgresCheckpointRepository.connect(cluster.url, { eventsTable: false, connectTimeoutMs: CONNECT_TIMEOUT_MS })

/** `promise`, or a rejection naming `what` when it neither resolves nor rejects in `ms`. */
async function within(promise, ms, what) {
  let timer
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} neither resolved nor rejected within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

const isUnavailable = (err) => err instanceof waypost.UnavailableError && err.code === 'Unavailable'

test('two restarts under a writing loop lose no acknowledged write', { skip }, async () => {
  const started = Date.now()
  const deadline = started + 45_000
  const repo = await repository()
  const t = { acknowledged: 0, lastAcknowledged: 0, attempted: 0, unavailable: 0, wrong: [] }
  let stopAt = Infinity
  const waiters = [] // [threshold, resolve]
  const reached = (threshold) =>
    t.acknowledged >= threshold ? Promise.resolve() : new Promise((resolve) => waiters.push([threshold, resolve]))

  // Saves positions 1, 2, 3, … until stopAt acknowledged writes (set by the test), the
  // deadline or MAX_ATTEMPTS; wakes the test's waiters as thresholds are passed.
  const writer = (async () => {
    while (t.acknowledged < stopAt && Date.now() < deadline && t.attempted < MAX_ATTEMPTS && t.wrong.length < 5) {
      const n = ++t.attempted
      try {
        await within(repo.savePosition(NAME, n, randomUUID(), 'Tick'), CONNECT_TIMEOUT_MS + MARGIN_MS, `savePosition(${n})`)
        t.acknowledged += 1
        t.lastAcknowledged = n
        for (const w of waiters.filter(([threshold]) => t.acknowledged >= threshold)) w[1]()
      } catch (err) {
        if (isUnavailable(err)) t.unavailable += 1
        else t.wrong.push(`savePosition(${n}): ${err?.name}: ${err?.message}`)
      }
    }
  })()

  let restarts = 0
  let afterSecond = 0
  for (const [threshold, mode] of [[FIRST_RESTART_AT, 'fast'], [SECOND_RESTART_AT, 'immediate']]) {
    const got = await Promise.race([reached(threshold).then(() => true), writer.then(() => false)])
    assert.ok(got, `the writer never reached ${threshold} acknowledged writes: ${JSON.stringify(t)}`)
    await control('restart', mode) // the writer goes on meanwhile
    restarts += 1
  }
  afterSecond = t.acknowledged
  stopAt = afterSecond + AFTER_SECOND
  await writer

  assert.deepEqual(t.wrong, [], 'calls that were not UnavailableError')
  assert.equal(t.acknowledged, afterSecond + AFTER_SECOND,
    `the same repository did not recover (${JSON.stringify(t)}; ${afterSecond} acknowledged at the second restart)`)
  assert.ok(t.unavailable > 0, 'no call failed across two restarts: the restarts did not reach the writer')
  assert.equal(t.lastAcknowledged, t.attempted) // the loop ends on an acknowledged write

  const [position, processed] = psql(
    `SELECT global_position, events_processed FROM public.projection_checkpoints WHERE projection_name = '${NAME}'`,
  ).split('|').map(Number)
  assert.ok(position >= t.lastAcknowledged && position <= t.attempted, `stored position ${position}: ${JSON.stringify(t)}`)
  // Each applied save adds 1; a save that rejected may or may not have been applied.
  assert.ok(processed >= t.acknowledged && processed <= t.acknowledged + t.unavailable,
    `events_processed ${processed}: ${JSON.stringify(t)}`)
  const lost = Math.max(0, t.acknowledged - processed)
  const fresh = await repository()
  assert.equal(await fresh.getPosition(NAME), position)
  await fresh.close()
  await repo.close()
  console.log(`restarts: node ${restarts} restarts, ${t.acknowledged} acknowledged, ${t.unavailable} unavailable, ` +
    `${lost} lost (stored position ${position}, events_processed ${processed}, ${((Date.now() - started) / 1000).toFixed(1)} s)`)
})

test('a transaction across a restart fails typed and the next one works', { skip }, async () => {
  psql('CREATE TABLE IF NOT EXISTS tx_probe (id BIGINT PRIMARY KEY)')
  psql('TRUNCATE tx_probe')
  const repo = await repository()
  const name = 'TxProbe'
  // A statement after the restart.
  const tx = await repo.begin()
  await tx.execute('INSERT INTO tx_probe VALUES ($1)', [1])
  await tx.savePosition(name, 1, randomUUID(), 'Tick')
  await control('restart', 'fast')
  await assert.rejects(tx.savePosition(name, 2, randomUUID(), 'Tick'), isUnavailable)
  assert.equal(tx.isOpen, false)
  await repo.transaction(async (t) => { // the next one works
    await t.execute('INSERT INTO tx_probe VALUES ($1)', [2])
    await t.savePosition(name, 2, randomUUID(), 'Tick')
  })
  // The commit after the restart (the callback form's own commit).
  await assert.rejects(
    repo.transaction(async (t) => {
      await t.execute('INSERT INTO tx_probe VALUES ($1)', [3])
      await t.savePosition(name, 3, randomUUID(), 'Tick')
      await control('restart', 'fast')
    }),
    isUnavailable,
  )
  await repo.transaction(async (t) => {
    await t.execute('INSERT INTO tx_probe VALUES ($1)', [4])
    await t.savePosition(name, 4, randomUUID(), 'Tick')
  })
  // Only the committed transactions are there, read model and checkpoint alike.
  assert.equal(psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM tx_probe"), '2,4')
  assert.equal(psql(`SELECT global_position || '|' || events_processed FROM public.projection_checkpoints
    WHERE projection_name = '${name}'`), '4|2')
  await repo.savePosition(name, 5, randomUUID(), 'Tick') // plain calls go on too
  await repo.close()
  console.log('restarts: node transaction across a restart: 2 rejected with UnavailableError, the next ones committed')
})

test('a stopped server fails typed within connectTimeoutMs', { skip }, async () => {
  const repo = await repository()
  await repo.savePosition('Stopped', 1, randomUUID(), 'Tick') // a pooled connection to break
  await control('stop', 'fast')
  let slowest = 0
  try {
    const refused = await new Promise((resolve) => {
      const s = tcpConnect(cluster.port, '127.0.0.1')
      s.on('connect', () => { s.destroy(); resolve(null) })
      s.on('error', (err) => resolve(err.code))
    })
    assert.equal(refused, 'ECONNREFUSED', `something still listens on port ${cluster.port}`)
    const fresh = await repository()
    for (const [label, r] of [['same repository', repo], ['same repository again', repo], ['fresh repository', fresh]]) {
      const t0 = Date.now()
      const err = await within(r.getPosition('Stopped'), CONNECT_TIMEOUT_MS + 2 * MARGIN_MS, label).then(
        () => assert.fail(`${label}: a stopped server answered`),
        (e) => e,
      )
      const elapsed = Date.now() - t0
      assert.ok(isUnavailable(err), `${label}: ${err?.name}: ${err?.message}`)
      assert.ok(err.message.includes(`127.0.0.1:${cluster.port}`), `${label}: ${err.message}`)
      assert.ok(elapsed <= CONNECT_TIMEOUT_MS + MARGIN_MS, `${label}: rejected after ${elapsed} ms`)
      slowest = Math.max(slowest, elapsed)
    }
    await fresh.close()
    await repo.close()
  } finally {
    await control('start') // leave this file's cluster as it was
  }
  console.log(`restarts: node stopped server: UnavailableError within ${slowest} ms (connectTimeoutMs ${CONNECT_TIMEOUT_MS})`)
})
