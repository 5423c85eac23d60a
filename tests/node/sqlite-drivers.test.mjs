// waypost beside better-sqlite3 on one file in one process. better-sqlite3 compiles in a
// copy of SQLite of its own, and two copies in one process cannot see each other's
// locks: when better-sqlite3 closes its last connection it deletes the WAL under
// waypost's connections. waypost cannot make that safe, so it must never acknowledge
// a write that is not durable: every save either returns and is then seen by another
// process (while the repository is open, and after close), or it fails with
// UnavailableError.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import waypost from '../../bindings-node/index.js'

const Database = createRequire(import.meta.url)('../../bindings-node/node_modules/better-sqlite3')
const WRITES = 60

/** The checkpoint's position as another process reads it. */
function readElsewhere(path) {
  const script = `
    const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('../../bindings-node/node_modules/better-sqlite3'))})
    const d = new D(process.argv[1], { readonly: true })
    const row = d.prepare("SELECT global_position AS p FROM projection_checkpoints WHERE projection_name = 'p'").get()
    const ok = d.prepare('PRAGMA integrity_check').pluck().get()
    console.log(JSON.stringify({ position: row ? row.p : null, ok }))`
  return JSON.parse(execFileSync(process.execPath, ['-e', script, path], { encoding: 'utf8' }))
}

function appWrites(path, n) {
  const db = new Database(path)
  db.exec('CREATE TABLE IF NOT EXISTS app_rows (n INTEGER PRIMARY KEY)')
  db.prepare('INSERT INTO app_rows VALUES (?)').run(n)
  db.close()
}

test('better-sqlite3 beside waypost: no acknowledged write is lost', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'waypost-bs3-')), 'app.db')
  const repo = await waypost.SqliteCheckpointRepository.open(path)
  let acknowledged = 0
  let refused = 0
  for (let n = 1; n <= WRITES; n++) {
    try {
      await repo.savePosition('p', n, randomUUID(), 'E')
      acknowledged = n
    } catch (err) {
      assert.ok(err instanceof waypost.UnavailableError, `untyped failure: ${err}`)
      assert.equal(err.code, 'Unavailable')
      refused++
    }
    if (n % 5 === 0) appWrites(path, n)
    // The repository's own reads (the read-only connection, on this thread) never go
    // back behind an acknowledged write.
    try {
      assert.equal(await repo.getPosition('p'), acknowledged === 0 ? null : acknowledged)
    } catch (err) {
      assert.ok(err instanceof waypost.UnavailableError, `untyped failure: ${err}`)
    }
    // While the repository is open, another process sees every acknowledged write.
    const seen = readElsewhere(path)
    assert.equal(seen.ok, 'ok')
    assert.equal(seen.position, acknowledged, `acknowledged ${acknowledged}, another process sees ${seen.position}`)
  }
  await repo.close()
  assert.deepEqual(readElsewhere(path), { position: acknowledged, ok: 'ok' })
  // The combination is unsafe, and waypost says so instead of losing writes.
  assert.ok(refused > 0, 'expected waypost to refuse writes once better-sqlite3 closed the file')
  // A repository opened afresh writes durably again until the next close by the other copy.
  const reopened = await waypost.SqliteCheckpointRepository.open(path)
  await reopened.savePosition('p', WRITES + 1, randomUUID(), 'E')
  assert.equal(readElsewhere(path).position, WRITES + 1)
  await reopened.close()
})

test('waypost closing never deletes the WAL better-sqlite3 still writes into', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'waypost-bs3-')), 'app.db')
  const app = new Database(path)
  app.pragma('journal_mode = WAL')
  app.exec('CREATE TABLE app_rows (n INTEGER PRIMARY KEY)')
  const repo = await waypost.SqliteCheckpointRepository.open(path)
  await repo.savePosition('p', 1, randomUUID(), 'E')
  await repo.close()
  for (let n = 1; n <= 10; n++) app.prepare('INSERT INTO app_rows VALUES (?)').run(n)
  const count = execFileSync(process.execPath, ['-e', `
    const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('../../bindings-node/node_modules/better-sqlite3'))})
    console.log(new D(process.argv[1], { readonly: true }).prepare('SELECT count(*) FROM app_rows').pluck().get())`, path], { encoding: 'utf8' })
  assert.equal(Number(count), 10)
  app.close()
})
