"""The compose backend: a service's stack run by the real ``docker compose`` CLI.

The CLI starts and stops the project (so the file a developer runs by hand is
exactly what CI runs); the Docker SDK reads state, health, exit codes, logs and
published ports, which the CLI reports poorly and differently across v1 and v2.
"""
