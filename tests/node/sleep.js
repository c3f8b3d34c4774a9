// Sleeps for the number of milliseconds in the body (0 when it is not a
// number), then answers how many calls this process has served. The FDK
// does not enforce Fn-Deadline: a sleep past it is the runner's to stop.
const fdk = require('@fnproject/fdk')

let served = 0

fdk.handle(async (input, ctx) => {
  served++
  const ms = parseInt(input, 10) || 0
  await new Promise((resolve) => setTimeout(resolve, ms))
  ctx.responseContentType = 'text/plain'
  return String(served)
}, { inputMode: 'string' })
