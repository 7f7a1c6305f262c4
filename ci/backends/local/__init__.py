"""The local-process backend: real servers as child processes on loopback, no Docker."""
