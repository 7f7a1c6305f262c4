#!/bin/sh
# Entrypoint of the Redis stand-in, as the official image's: arguments starting
# with '-' (or a first argument ending in .conf) are redis-server's. Without a
# config file the server listens on every interface with protected mode off,
# as the official image's build defaults do, and keeps nothing on disk unless
# told to (later flags override these).
#
# The same image stands in for Dragonfly, whose flags (abseil style:
# `--logtostderr`, `--proactor_threads=2`, `--cache_mode=true`) mean nothing to
# redis-server. Only those are dropped, named on stderr; every Redis flag is
# kept, so `--port 7001 --cluster-enabled yes` does what it says. A flag is
# Dragonfly's when its name has an underscore (Redis names use hyphens) or is
# in the list below; `--name=value` becomes `--name value`.
set -eu

DRAGONFLY_FLAGS=" logtostderr alsologtostderr colorlogtostderr log_dir minloglevel v vmodule \
version_check noversion_check nologtostderr cache_mode nocache_mode dbnum \
admin_nopass noadmin_nopass "
# Dragonfly flags that take no separate value (booleans in abseil style).
DRAGONFLY_BOOLEANS=" logtostderr alsologtostderr colorlogtostderr nologtostderr \
version_check noversion_check cache_mode nocache_mode tls admin_nopass noadmin_nopass "

is_dragonfly() {
    case "$1" in *_*) return 0 ;; esac
    case "$DRAGONFLY_FLAGS" in *" $1 "*) return 0 ;; esac
    return 1
}

server_flags() {
    # Rewrites "$@" into $kept (shell-quoted), dropping Dragonfly's flags.
    kept=""
    dropped=""
    while [ "$#" -gt 0 ]; do
        arg="$1"; shift
        case "$arg" in
            --*=*) name="${arg%%=*}"; name="${name#--}"; value="${arg#*=}"; has_value=1 ;;
            --*) name="${arg#--}"; value=""; has_value=0 ;;
            *) kept="$kept '$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"; continue ;;
        esac
        if is_dragonfly "$name"; then
            dropped="$dropped $arg"
            case "$DRAGONFLY_BOOLEANS" in *" $name "*) continue ;; esac
            if [ "$has_value" -eq 0 ] && [ "$#" -gt 0 ]; then
                case "$1" in --*) ;; *) dropped="$dropped $1"; shift ;; esac
            fi
            continue
        fi
        kept="$kept '--$name'"
        if [ "$has_value" -eq 1 ]; then
            kept="$kept '$(printf '%s' "$value" | sed "s/'/'\\\\''/g")'"
        fi
    done
    if [ -n "$dropped" ]; then
        echo "stand-in: redis-server ignores Dragonfly's own flags:$dropped" >&2
    fi
}

if [ "$#" -eq 0 ]; then
    set -- redis-server
fi
case "$1" in
    -*) set -- redis-server "$@" ;;
    *.conf) set -- redis-server "$@" ;;
    # Dragonfly's own command (`command: dragonfly --logtostderr`) means the server.
    dragonfly) shift; set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ]; then
    shift
    config=""
    case "${1:-}" in *.conf) config="$1"; shift ;; esac
    server_flags "$@"
    if [ -n "$config" ]; then
        eval "set -- redis-server '$config' $kept"
    else
        eval "set -- redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no $kept"
    fi
fi
exec "$@"
