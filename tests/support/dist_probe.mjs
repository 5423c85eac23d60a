// Run by dist-check.sh in an empty npm project: the installed waypost package (its addon
// from the platform package) saves and reads a position on an SQLite file.
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { SqliteCheckpointRepository } from 'waypost'

const require = createRequire(import.meta.url)
const main = require.resolve('waypost')
const addon = require.resolve('waypost-linux-x64-gnu')
if (!main.includes('/node_modules/waypost/') || !addon.includes('/node_modules/waypost-linux-x64-gnu/')) {
  throw new Error(`waypost resolved to ${main}, its addon to ${addon}`)
}
const repo = await SqliteCheckpointRepository.open(process.argv[2])
await repo.savePosition('OrderProjection', 1000, randomUUID(), 'OrderPlaced')
const position = await repo.getPosition('OrderProjection')
await repo.close()
if (position !== 1000) throw new Error(`read back ${position}`)
console.log(`node: waypost from ${main}, addon ${addon}: saved position ${position}`)
