// Echo: the request body back, byte for byte. inputMode 'buffer' hands us
// the raw bytes (the default, 'json', would parse them), and a non-JSON
// response content type makes the FDK write the Buffer as is rather than
// JSON.stringify it.
const fdk = require('@fnproject/fdk')

fdk.handle((input, ctx) => {
  ctx.responseContentType = 'application/octet-stream'
  return input
}, { inputMode: 'buffer' })
