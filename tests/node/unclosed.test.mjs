// Objects never closed: repositories, managers, ledgers, checkpointers and open
// transactions of every backend, collected by the GC (finalizers on the JS thread, with
// no Tokio context) or still alive at exit. The process must end with 0 and print nothing
// about a panic or a missing runtime.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { postgresDatabase } from './support.mjs'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'unclosed.mjs')
const pg = postgresDatabase()

async function runUnclosed(url) {
  let outcome
  try {
    outcome = await promisify(execFile)(process.execPath, ['--expose-gc', SCRIPT, url, '20'], { timeout: 120_000 })
  } catch (err) {
    assert.fail(`exit ${err.code} (signal ${err.signal}):\n${err.stderr}`)
  }
  assert.equal(outcome.stdout.trim(), 'done')
  assert.doesNotMatch(outcome.stderr, /panicked|Tokio context|backtrace/i)
}

test('memory: objects collected unclosed, the process exits 0', () => runUnclosed('memory:'))

test('sqlite: objects collected unclosed, the process exits 0', () =>
  runUnclosed(`sqlite:${join(mkdtempSync(join(tmpdir(), 'waypost-unclosed-')), 'c.db')}`))

test('postgres: objects collected unclosed, the process exits 0', { skip: pg.skip }, () => runUnclosed(pg.url))
