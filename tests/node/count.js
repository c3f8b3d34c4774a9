// Counts the calls this process has served and answers the count: a new
// container starts again at 1.
const fdk = require('@fnproject/fdk')

let served = 0

fdk.handle((input, ctx) => {
  served++
  ctx.responseContentType = 'text/plain'
  return String(served)
}, { inputMode: 'string' })
