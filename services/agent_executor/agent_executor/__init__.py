"""agent_executor: run chat-completion requests that arrive as CloudEvents on NATS JetStream.

One request event in, one LLM call, one row in PostgreSQL, one result event out;
a redelivered request is recognised (Redis-protocol store, then a unique index)
and not run twice. ``python -m agent_executor`` runs the consumer.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
