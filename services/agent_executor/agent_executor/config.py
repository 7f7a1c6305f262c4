"""Settings from the environment, read once at start-up.

Every knob is an env var so the same code runs in production (Dragonfly, a real
OpenAI-compatible endpoint) and in the integration suite (local servers, an
in-test stub), and so a test can give each run its own stream and subjects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A required variable is missing or a value does not parse."""


DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Settings:
    openai_api_key: str = field(repr=False)
    """Never part of repr(), so a logged Settings cannot leak it."""
    openai_base_url: str = "https://api.openai.com/v1"
    model: str = DEFAULT_MODEL
    llm_timeout: float = 60.0

    postgres_host: str = "localhost"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = field(default="", repr=False)
    postgres_db: str = "agent_executor"

    dragonfly_host: str = "localhost"
    dragonfly_port: int = 6379
    dedup_ttl: int = 24 * 3600
    """How long a processed event id is remembered; longer than any redelivery window."""
    dedup_prefix: str = "agent_executor:processed:"

    nats_url: str = "nats://localhost:4222"
    stream: str = "AGENT_EXECUTIONS"
    subject_prefix: str = "agent.execute"
    consumer: str = "agent-executor"
    max_deliver: int = 5
    nats_timeout: float = 10.0
    """Seconds a JetStream request (publish, ack confirmation, stream info) may take.

    Generous on purpose: on a loaded host a server answer can take seconds, and a
    timed-out result publish turns a finished request into a redelivery."""

    @property
    def request_subject(self) -> str:
        return f"{self.subject_prefix}.request"

    @property
    def completed_subject(self) -> str:
        return f"{self.subject_prefix}.completed"

    @property
    def failed_subject(self) -> str:
        return f"{self.subject_prefix}.failed"

    @property
    def ack_wait(self) -> float:
        """Seconds JetStream waits for an ack: a slow LLM call must not cause a redelivery."""
        return self.llm_timeout + 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (``os.environ`` by default); unset means the default."""
        env = os.environ if env is None else env
        key = env.get("OPENAI_API_KEY", "")
        if not key:
            raise ConfigError("OPENAI_API_KEY is not set")

        def text(name: str, default: str) -> str:
            return env.get(name) or default

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None

        return cls(
            openai_api_key=key,
            openai_base_url=text("OPENAI_BASE_URL", cls.openai_base_url).rstrip("/"),
            model=text("AGENT_MODEL", DEFAULT_MODEL),
            llm_timeout=number("AGENT_LLM_TIMEOUT", cls.llm_timeout),
            postgres_host=text("POSTGRES_HOST", cls.postgres_host),
            postgres_port=int(number("POSTGRES_PORT", cls.postgres_port)),
            postgres_user=text("POSTGRES_USER", cls.postgres_user),
            postgres_password=env.get("POSTGRES_PASSWORD", ""),
            postgres_db=text("POSTGRES_DB", cls.postgres_db),
            dragonfly_host=text("DRAGONFLY_HOST", cls.dragonfly_host),
            dragonfly_port=int(number("DRAGONFLY_PORT", cls.dragonfly_port)),
            dedup_ttl=int(number("AGENT_DEDUP_TTL_SECONDS", cls.dedup_ttl)),
            dedup_prefix=text("AGENT_DEDUP_PREFIX", cls.dedup_prefix),
            nats_url=text("NATS_URL", cls.nats_url),
            stream=text("AGENT_STREAM", cls.stream),
            subject_prefix=text("AGENT_SUBJECT_PREFIX", cls.subject_prefix),
            consumer=text("AGENT_CONSUMER", cls.consumer),
            max_deliver=int(number("AGENT_MAX_DELIVER", cls.max_deliver)),
            nats_timeout=number("AGENT_NATS_TIMEOUT", cls.nats_timeout),
        )
