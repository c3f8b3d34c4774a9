// Throws when the body is "throw" (the FDK answers 502 and keeps serving);
// otherwise answers how many calls this process has served.
const fdk = require('@fnproject/fdk')

let served = 0

fdk.handle((input, ctx) => {
  served++
  if (input === 'throw') throw new Error('asked to throw, call ' + served)
  ctx.responseContentType = 'text/plain'
  return String(served)
}, { inputMode: 'string' })
