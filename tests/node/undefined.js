// Returns undefined when the body is "undefined": fdk-node 0.0.76 then calls
// .then() on undefined outside any handler and node dies of the unhandled
// rejection, mid-call. Otherwise answers how many calls this process has
// served.
const fdk = require('@fnproject/fdk')

let served = 0

fdk.handle((input, ctx) => {
  served++
  if (input === 'undefined') return undefined
  ctx.responseContentType = 'text/plain'
  return String(served)
}, { inputMode: 'string' })
