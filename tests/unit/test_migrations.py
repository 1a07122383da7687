from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lifecycle.extensions import db
from lifecycle.models import metadata


def test_models_and_migrations_agree(app):
    """The database built by `lifecycle init` has exactly the tables and columns the models declare."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, metadata)
    assert diff == [], "run `make migration`: " + repr(diff[:5])
