"""Tier 3 for agent_executor: what its integration suite needs, nothing about how.

Run it:  python services/agent_executor/ci/tier3.py --help
"""

from ci import Service, Suite, nats, postgres, redis, secret

service = Service(
    backends=[
        postgres("postgres", database="agent_executor_test", user="test", password="test"),
        redis("dragonfly", min_version="6.2"),  # Redis-protocol; Dragonfly in production
        nats("nats", jetstream=True, min_version="2.10"),
    ],
    migrations="migrations",
    suite=Suite("tests/integration", args=["--tb=short"], cov="agent_executor", timeout=300),
    env={"DISABLE_VAULT_AUTH": "true", "TESTING": "true"},
    requires=[
        secret(
            "OPENAI_API_KEY",
            ssm="/zerotouch/prod/agent-executor/openai_api_key",
            # The suite talks to an in-test stub of the chat endpoint, so a local
            # run needs no real key; CI=true still insists on the real one.
            local_default="sk-local-placeholder",
            description="Bearer token for the OpenAI-compatible chat endpoint",
        ),
    ],
)

if __name__ == "__main__":
    service.main()
