#!/bin/sh
# Entrypoint of the Redis-protocol stand-in. Like the official Dragonfly image,
# arguments starting with '-' are flags for the server; Dragonfly-only flags
# mean nothing to redis-server, so they are named on stderr and dropped rather
# than making the server refuse to start.
set -eu
if [ "$#" -gt 0 ] && [ "$(printf '%s' "$1" | cut -c1)" = '-' ]; then
    echo "stand-in: redis-server ignores Dragonfly flags: $*" >&2
    set -- redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no
fi
exec "$@"
