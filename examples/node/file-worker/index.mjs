// Several workers share a folder of CSV files through waypost's CheckpointManager on one
// SQLite file; one worker is killed (SIGKILL) while holding a file, and the others take
// its file over once its lease runs out. Every file ends up processed exactly once.
//
// Run: node examples/node/file-worker/index.mjs          (the whole demo, in a temp folder)
//      node examples/node/file-worker/index.mjs work DB FOLDER WORKER [DIE_AFTER]
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL, fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import waypost from '../../../bindings-node/index.js'

const FILES = 12
const LEASE_MS = 1000 // short, so the demo does not wait long for the dead worker's lease

async function work(db, folder, worker, dieAfter) {
  const store = await waypost.SqliteCheckpointRepository.open(db)
  const manager = new waypost.CheckpointManager(store, { workerId: worker, leaseMs: LEASE_MS })
  const files = readdirSync(folder).filter((f) => f.endsWith('.csv')).sort()
  let claimed = 0
  for (;;) {
    for (const name of files) {
      const path = join(folder, name)
      const url = pathToFileURL(path).href
      // --8<-- [start:claim]
      if (await manager.isProcessed(url)) continue
      if (!(await manager.claimFile(url, 'csv', statSync(path).mtime))) continue // done, or held elsewhere
      claimed += 1
      if (claimed === dieAfter) {
        console.log(`${worker} dies holding ${name}`)
        process.kill(process.pid, 'SIGKILL')
      }
      const started = Date.now()
      try {
        const rows = readFileSync(path, 'utf8').trim().split('\n').slice(1)
        await manager.completeFile(url, { totalRows: rows.length, persistedRows: rows.length, durationMs: Date.now() - started })
        console.log(`${worker} completed ${name} (${rows.length} rows)`)
      } catch (err) {
        await manager.failFile(url, String(err))
      }
      // --8<-- [end:claim]
    }
    const stats = await manager.getStats()
    if (stats.completed + stats.failed === files.length) break
    // Some file is held by another worker (maybe a dead one): look again once its lease may have run out.
    await delay(LEASE_MS / 2)
  }
  await manager.close()
  await store.close()
}

function start(args) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'work', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })))
}

async function demo() {
  const tmp = mkdtempSync(join(tmpdir(), 'waypost-files-'))
  try {
    const folder = join(tmp, 'inbox')
    const db = join(tmp, 'claims.db')
    mkdirSync(folder)
    for (let i = 0; i < FILES; i++) {
      const rows = Array.from({ length: 5 + i }, (_, n) => `${n},${n * 10}`)
      writeFileSync(join(folder, `orders-${String(i).padStart(2, '0')}.csv`), ['id,amount', ...rows].join('\n') + '\n')
    }
    const began = Date.now()
    // w2 goes first and is killed holding its second file; then w1 and w3 share the rest.
    const doomed = await start([db, folder, 'w2', '2'])
    if (doomed.signal !== 'SIGKILL') throw new Error(`w2 ended with ${doomed.code ?? doomed.signal}, expected SIGKILL`)
    const survivors = await Promise.all([start([db, folder, 'w1']), start([db, folder, 'w3'])])
    for (const s of survivors) if (s.code !== 0) throw new Error(`a worker exited ${s.code ?? s.signal}`)
    const lines = [doomed, ...survivors].flatMap((r) => r.out.trim().split('\n')).filter(Boolean)
    console.log(lines.join('\n'))
    const done = new Map()
    for (const line of lines) {
      const [, verb, name] = line.split(' ')
      if (verb === 'completed') done.set(name, (done.get(name) ?? 0) + 1)
    }
    const names = readdirSync(folder).filter((f) => f.endsWith('.csv')).sort()
    if (done.size !== names.length || [...done.values()].some((n) => n !== 1)) {
      throw new Error(`completions: ${JSON.stringify(Object.fromEntries(done))}`)
    }
    const store = await waypost.SqliteCheckpointRepository.open(db)
    const stats = await new waypost.CheckpointManager(store).getStats()
    await store.close()
    if (stats.completed !== FILES) throw new Error(`ledger: ${JSON.stringify(stats)}`)
    const dead = lines.find((l) => l.includes(' dies holding ')).split(' ').pop()
    console.log(`\n${names.length} files, each completed once in ${((Date.now() - began) / 1000).toFixed(1)} s; ` +
      `${dead} was taken over from the killed worker; ledger: ${JSON.stringify(stats)}`)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

const [mode, db, folder, worker, dieAfter] = process.argv.slice(2)
if (mode === 'work') await work(db, folder, worker, dieAfter ? Number(dieAfter) : undefined)
else await demo()
