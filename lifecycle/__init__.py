"""lifecycle: the ledger of every 帳票, 媒体 and leased 機器 that carried 住基ネット data."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import config as config_module, crypto
from .extensions import csrf, db, limiter, login_manager
from .jsonout import OrjsonProvider

ROOT = Path(__file__).resolve().parent.parent


class DatabaseInteger(IntegerConverter):
    """`<int:…>` that stops at 64 bits: a longer number would overflow the database driver before
    any getter saw it, so such a URL is a plain 404. Within 64 bits the getters answer with their
    own "not found" (db.row_id bounds ids at the 32-bit columns)."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(test_config: dict | None = None) -> Flask:
    """The app factory: the only place where the pieces are wired together."""
    test_config = test_config or {}
    instance_path = Path(test_config.get("INSTANCE_PATH") or config_module.instance_path_from_env())
    instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=True,
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(config_module.defaults(instance_path))
    app.config.from_pyfile("config.py", silent=True)
    config_module.apply_environment(app.config)
    app.config.update(test_config)
    app.config.setdefault("MAX_CONTENT_LENGTH", app.config["UPLOAD_MAX_BYTES"] + 1024 * 1024)

    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.url_map.converters["int"] = DatabaseInteger
    app.json = OrjsonProvider(app)  # Japanese as UTF-8, fields in the order the schemas list them
    crypto.ensure_keys(instance_path)
    app.config["SECRET_KEY"] = crypto.read_key(instance_path, "secret_key")
    app.extensions["label_signer"] = crypto.LabelSigner.from_instance(instance_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # every run is in job_runs already

    db.init_app(app)
    from .auth.services import configure_hasher
    configure_hasher(app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_COST"])
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from . import cli, scheduler, web
    from .api import init_app as init_api
    from .auditlog import views as audit_views
    from .auth import views as auth_views
    from .home import views as home_views

    web.init_app(app)
    auth_views.init_app(app)
    home_views.init_app(app)
    audit_views.init_app(app)
    for module in _domain_modules():
        module.init_app(app)
    init_api(app)
    cli.init_app(app)
    scheduler.init_app(app)
    return app


def _domain_modules():
    """Domain packages that wire themselves in with init_app(app): pages, panels, jobs."""
    import importlib

    names: tuple[str, ...] = ("mynumber.views", "findings.views", "selfinspection.views", "items.views", "labels.views", "policy.views", "destruction.views", "devices.views", "custody.views", "reports.views", "contractors.views", "notifications.views", "terminals.views", "people.views", "logreview.views", "stocktake.views")
    return [importlib.import_module(f"lifecycle.{name}") for name in names]
