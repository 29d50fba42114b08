// Drive the stock tus-js-client (unmodified, from npm) against a Roadside server.
//
// Usage: node tus_js_client.js ENDPOINT TOKEN FILE SHA256_HEX [--chunk N] [--store PATH]
//        [--stall-at BYTES] [--terminate-at BYTES]
//
// Prints `resumed <url>` when it continues an upload found in its URL store, `progress <offset>`
// after every acknowledged chunk, and finally `done <url> <offset>`, `terminated <url>`, or
// `error <status> <message>` (exit code 1). With --stall-at it prints `stalled <offset>` once that
// many bytes are acknowledged and blocks until it is killed.
'use strict'

const fs = require('fs')
const path = require('path')
const tus = require('tus-js-client')

function say(...words) {
  process.stdout.write(words.join(' ') + '\n')
}

function args() {
  const [endpoint, token, file, sha256, ...rest] = process.argv.slice(2)
  const a = { endpoint, token, file, sha256 }
  for (let i = 0; i < rest.length; i += 2) {
    a[rest[i].replace(/^--/, '')] = rest[i + 1]
  }
  return a
}

async function main() {
  const a = args()
  const size = fs.statSync(a.file).size
  const stallAt = a['stall-at'] === undefined ? null : Number(a['stall-at'])
  const terminateAt = a['terminate-at'] === undefined ? null : Number(a['terminate-at'])
  let upload
  const finished = new Promise((resolve) => {
    const options = {
      endpoint: a.endpoint,
      headers: { Authorization: 'Bearer ' + a.token },
      metadata: { sha256: a.sha256, filename: path.basename(a.file) },
      uploadSize: size,
      retryDelays: [0, 0, 0],
      onError: (err) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0
        say('error', status, String(err.message).split('\n')[0])
        resolve(1)
      },
      onChunkComplete: (_chunk, accepted) => {
        say('progress', accepted)
        if (stallAt !== null && accepted >= stallAt) {
          say('stalled', accepted)
          // Block the event loop: nothing more is sent until the process is killed.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
        }
        if (terminateAt !== null && accepted >= terminateAt) {
          upload.abort(true).then(
            () => {
              say('terminated', upload.url)
              resolve(0)
            },
            (err) => {
              say('error', 0, String(err.message).split('\n')[0])
              resolve(1)
            },
          )
        }
      },
      onSuccess: () => {
        say('done', upload.url, size)
        resolve(0)
      },
    }
    if (a.chunk) options.chunkSize = Number(a.chunk)
    if (a.store) options.urlStorage = new tus.FileUrlStorage(a.store)
    upload = new tus.Upload(fs.createReadStream(a.file), options)
    upload.findPreviousUploads().then((previous) => {
      if (previous.length > 0) {
        upload.resumeFromPreviousUpload(previous[0])
        say('resumed', previous[0].uploadUrl)
      }
      upload.start()
    })
  })
  process.exitCode = await finished
}

main()
