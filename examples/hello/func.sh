#!/bin/sh
# The bundled sample function, `default` format: the request body is stdin,
# stdout is the response. Fn's per-call variables arrive in the environment.
name=$(cat)
echo "Hello, ${name:-World}! (call ${FN_CALL_ID}, ${FN_MEMORY} MiB, running as $(id -u) in $(hostname))"
