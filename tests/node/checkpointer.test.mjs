// Checkpointer from Node: saves when the strategy says, one write covering the events
// since the last, the final save on close.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import waypost from '../../bindings-node/index.js'
import { storeOpeners } from './support.mjs'

const stores = storeOpeners(waypost)

const processed = async (repo, name) => (await repo.getAllCheckpoints()).find((c) => c.projectionName === name).eventsProcessed

for (const [backend, opener] of Object.entries(stores)) {
  test(`every 3 on ${backend}`, { skip: opener.skip }, async () => {
    const repo = await opener.open()
    const c = new waypost.Checkpointer(repo, 'every3', { every: 3 })
    await c.record(1, randomUUID(), 'T')
    await c.record(2, randomUUID(), 'T')
    assert.equal(await repo.getPosition('every3'), null)
    await c.record(3, randomUUID(), 'T')
    assert.equal(await repo.getPosition('every3'), 3)
    for (let p = 4; p <= 7; p++) await c.record(p, randomUUID(), 'T')
    assert.deepEqual([await repo.getPosition('every3'), await c.saves(), await c.unsaved()], [6, 2, 1])
    await c.close()
    assert.equal(await repo.getPosition('every3'), 7)
    assert.equal(await processed(repo, 'every3'), 7)
    await assert.rejects(c.record(8, randomUUID(), 'T'), waypost.InvalidArgumentError)
    await repo.close()
  })

  test(`out of order on ${backend}: parallel handlers never move the checkpoint past an unfinished event`, { skip: opener.skip }, async () => {
    const repo = await opener.open()
    const c = new waypost.Checkpointer(repo, 'parallel', { every: 2, outOfOrder: true })
    const done = new Set()
    for (let p = 1; p <= 40; p++) c.begin(p)
    // A fixed shuffle: the handlers finish in this order.
    const order = Array.from({ length: 40 }, (_, i) => i + 1).sort((a, b) => (a * 7919) % 41 - (b * 7919) % 41)
    await Promise.all(order.map(async (p, i) => {
      for (let k = 0; k < i; k++) await Promise.resolve()
      done.add(p)
      await c.ack(p, randomUUID(), 'T')
      const stored = (await repo.getPosition('parallel')) ?? 0
      let firstUnfinished = 1
      while (done.has(firstUnfinished)) firstUnfinished++
      assert.ok(stored < firstUnfinished, `stored ${stored} passed ${firstUnfinished}, still being handled`)
    }))
    assert.deepEqual([await repo.getPosition('parallel'), c.inFlight, await processed(repo, 'parallel')], [40, 0, 40])
    assert.throws(() => c.begin(40), waypost.InvalidArgumentError)
    await assert.rejects(c.ack(7, randomUUID(), 'T'), waypost.InvalidArgumentError)
    await assert.rejects(c.record(41, randomUUID(), 'T'), waypost.InvalidArgumentError)
    c.begin(42)
    c.begin(43)
    await c.ack(43, randomUUID(), 'T')
    await c.close()
    assert.deepEqual([await repo.getPosition('parallel'), c.inFlight], [40, 1])
    assert.throws(() => new waypost.Checkpointer(repo, 'ordered').begin(1), waypost.InvalidArgumentError)
    await repo.close()
  })
}

test('every event by default; a long interval saves only on close', async () => {
  const repo = new waypost.InMemoryCheckpointRepository()
  const each = new waypost.Checkpointer(repo, 'each')
  for (let p = 0; p < 5; p++) {
    await each.record(p, randomUUID(), 'T')
    assert.equal(await repo.getPosition('each'), p)
  }
  assert.equal(await each.saves(), 5)
  const hourly = new waypost.Checkpointer(repo, 'hourly', { intervalMs: 3_600_000 })
  for (let p = 1; p <= 100; p++) await hourly.record(p, randomUUID(), 'T')
  assert.equal(await repo.getPosition('hourly'), null)
  await hourly.close()
  assert.equal(await repo.getPosition('hourly'), 100)
  assert.equal(await processed(repo, 'hourly'), 100)
})

test('bad input gets typed errors', async () => {
  const repo = new waypost.InMemoryCheckpointRepository()
  for (const bad of [{ every: 0 }, { every: 1.5 }, { every: -1 }, { intervalMs: 0 }, { intervalMs: -5 }]) {
    assert.throws(() => new waypost.Checkpointer(repo, 'x', bad), waypost.InvalidArgumentError, JSON.stringify(bad))
  }
  assert.throws(() => new waypost.Checkpointer(repo, ''), waypost.InvalidArgumentError)
  assert.throws(() => new waypost.Checkpointer({}, 'x'), TypeError)
  const c = new waypost.Checkpointer(repo, 'x', { every: 2 })
  await assert.rejects(c.record(-1, randomUUID(), 'T'), waypost.InvalidArgumentError)
  await assert.rejects(c.record(1, 'not-a-uuid', 'T'), waypost.InvalidArgumentError)
  await assert.rejects(c.record('1', randomUUID(), 'T'), TypeError)
  assert.equal(await c.unsaved(), 0)
  await c.close()
})

test('a checkpointer collected with unsaved events emits a WaypostWarning', async () => {
  const { execFileSync } = await import('node:child_process')
  // The child collects until the finalizer has run and the warning arrived (bounded).
  const script = `
    const waypost = require(${JSON.stringify(new URL('../../bindings-node/index.js', import.meta.url).pathname)})
    let seen = null
    process.on('warning', (w) => { if (w.name === 'WaypostWarning') seen = w })
    ;(async () => {
      let c = new waypost.Checkpointer(new waypost.InMemoryCheckpointRepository(), 'orders', { every: 100 })
      for (let p = 1; p <= 3; p++) await c.record(p, '00000000-0000-4000-8000-00000000000' + p, 'E')
      c = null
      for (let turn = 0; !seen && turn < 100000; turn++) {
        globalThis.gc()
        await new Promise((r) => setImmediate(r))
      }
      console.log(JSON.stringify(seen && { code: seen.code, message: seen.message }))
    })()`
  const out = execFileSync(process.execPath, ['--expose-gc', '--no-warnings', '-e', script], { encoding: 'utf8', timeout: 60_000 })
  const warning = JSON.parse(out.trim())
  assert.ok(warning, 'no WaypostWarning after the checkpointer was collected')
  assert.equal(warning.code, 'WAYPOST_CHECKPOINTER_UNSAVED')
  assert.match(warning.message, /3 event\(s\) will be handled again/)
})
