#!/bin/sh
# Entrypoint of the memcached stand-in, as in the official image: when the
# first argument is a flag, the arguments are memcached's.
set -eu
if [ "$#" -eq 0 ] || [ "$(printf '%s' "$1" | cut -c1)" = '-' ]; then
    set -- memcached "$@"
fi
exec "$@"
