"""Fixtures of the unit tests: the scripted provider server."""

from tests.fake_api import api, sleeps  # noqa: F401 (fixtures for every unit test module)
