import pytest

from tests.conftest import BACKEND


@pytest.fixture
def shared_database(app):
    """The test's database URL, for server processes to share with the test."""
    return app.config["DATABASE_URL"]
