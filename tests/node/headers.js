// Headers both ways: answers what it saw of the request headers (as JSON)
// and sets response headers derived from them.
const fdk = require('@fnproject/fdk')

fdk.handle((input, ctx) => {
  const seen = ctx.getHeader('X-Test-In')
  ctx.setResponseHeader('X-Test-Out', 'out-' + (seen || 'none'))
  ctx.setResponseHeader('X-Test-Multi-Out', 'one', 'two')
  return {
    in: seen,
    multi: ctx.getAllHeaderValues('X-Test-Multi'),
    callId: ctx.callID,
    deadline: ctx.getHeader('Fn-Deadline'),
    contentType: ctx.contentType,
    headerNames: Object.keys(ctx.headers).sort(),
    format: process.env.FN_FORMAT,
    listener: process.env.FN_LISTENER,
    appId: ctx.appID,
    config: ctx.config.NODE_TEST_CONFIG || null
  }
}, { inputMode: 'string' })
