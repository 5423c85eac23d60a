// The shared claims cases (tests/conformance/claims), run through the Node binding's
// ClaimLedger against memory, SQLite and PostgreSQL. The runner mirrors
// run_claims_case in core/src/conformance.rs (camelCase names mapped back to snake_case).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import waypost from '../../bindings-node/index.js'
import { loadCases, matches, storeOpeners, snake } from './support.mjs'

const casesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'conformance', 'claims')
const cases = loadCases(casesDir)


// A Date holds milliseconds: written like Python's isoformat() of a whole-millisecond time.
const iso = (d) => d.toISOString().replace('.000Z', 'Z').replace('Z', '+00:00')

function toJson(value) {
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Date) return iso(value)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), toJson(v)]))
  }
  return value ?? null
}

const text = (v) => (v && typeof v === 'object' && 'repeat' in v ? v.repeat.repeat(v.times) : v)
const camelStats = (s = {}) => ({
  recordsTotal: s.records_total, recordsFiltered: s.records_filtered,
  recordsPersisted: s.records_persisted, processingTimeMs: s.processing_time_ms,
})

async function perform(ledger, step, saved) {
  const a = step.args ?? {}
  switch (step.op) {
    case 'claim': {
      const at = new Date(a.timestamp ?? '2026-01-01T00:00:00Z')
      const claim = await ledger.claim(text(a.key), text(a.type), at, text(a.worker), a.lease_ms)
      if (claim && step.save_as) saved[step.save_as] = claim
      return toJson(claim)
    }
    case 'heartbeat': {
      const renewed = await ledger.heartbeat(saved[a.claim], a.lease_ms)
      saved[a.claim] = renewed
      return toJson(renewed)
    }
    case 'complete': return ledger.complete(saved[a.claim], camelStats(a.stats))
    case 'fail': return ledger.fail(saved[a.claim], text(a.message))
    case 'release': return ledger.release(saved[a.claim])
    case 'is_processed': return ledger.isProcessed(text(a.key))
    case 'get': return toJson(await ledger.get(text(a.key)))
    case 'stats': return ledger.stats()
    case 'list': return toJson(await ledger.list(a.status, a.limit))
    default: throw new Error(`unknown op ${step.op}`)
  }
}

async function check(c, repo) {
  const spec = c.claims ?? {}
  let ledger
  try {
    ledger = new waypost.ClaimLedger(repo, { table: spec.table, maxRetries: spec.max_retries })
  } catch (err) {
    assert.equal(err.code, spec.open_error, `${c.id}: opening failed: ${err}`)
    return
  }
  assert.equal(spec.open_error, undefined, `${c.id}: opening should fail with ${spec.open_error}`)
  const started = Date.now()
  const saved = {}
  for (const [i, step] of (c.steps ?? []).entries()) {
    const where = `${c.id} step ${i + 1} (${step.op})`
    let actual
    try {
      actual = await perform(ledger, step, saved)
    } catch (err) {
      assert.ok(step.error, `${where}: unexpected ${err}`)
      assert.equal(err.code, step.error, `${where}: expected ${step.error}, got ${err}`)
      continue
    }
    assert.equal(step.error, undefined, `${where}: expected a ${step.error} error, got ${JSON.stringify(actual)}`)
    if ('expect' in step) {
      const differs = matches(step.expect, actual ?? null, started)
      assert.equal(differs, null, `${where}: at ${differs}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(actual)}`)
    }
  }
}

test('every claims case file loads', () => {
  assert.ok(cases.length >= 19)
  assert.equal(new Set(cases.map((c) => c.id)).size, cases.length)
})

const backends = storeOpeners(waypost)

for (const [backend, opener] of Object.entries(backends)) {
  for (const c of cases) {
    test(`${backend} ${c.id}: ${c.title}`, { skip: opener.skip }, async () => {
      const repo = await opener.open()
      try {
        await check(c, repo)
      } finally {
        await repo.close()
      }
    })
  }
}
