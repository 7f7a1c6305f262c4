"""The corpus's fixture service is data, not tests of the framework: never collect it."""

from tests.integration.conftest import moto_ssm

collect_ignore = ["fixture"]

__all__ = ["moto_ssm"]
