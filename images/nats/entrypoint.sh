#!/bin/sh
# As in the official image: arguments that start with '-' (e.g. `-js`) are
# flags for nats-server; anything else is a command to run.
set -eu
if [ "$#" -eq 0 ] || [ "$(printf '%s' "$1" | cut -c1)" = '-' ]; then
    set -- nats-server "$@"
fi
exec "$@"
