import pytest



@pytest.fixture
def shared_database(app):
    """The test's database URL, for server processes to share with the test."""
    return app.config["DATABASE_URL"]
