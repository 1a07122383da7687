"""Configuration: these defaults, then instance/config.py, then LIFECYCLE_* variables, then tests."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

INSTANCE_CONFIG_TEMPLATE = '''\
# lifecycle instance configuration (written by `lifecycle init`; edit as needed).
# Environment variables LIFECYCLE_* override what is set here.

# ORGANISATION_NAME = "〇〇県 総務部 市町課"
# BASE_URL = "https://lifecycle.example.lg.jp"   # printed into label QR codes
# PURGE_INTERVAL_SECONDS = 300
# UPLOAD_MAX_BYTES = 20 * 1024 * 1024
# SESSION_COOKIE_SECURE = True                  # when served over TLS
# REQUIRE_WITNESSED_STORAGE_DESTRUCTION = False # 総務省ガイドライン（令和2年）の物理破壊を返却の条件にする
# 署名付き確認点の写し（1行1件）。データベースとは別のディスクやサーバー、追記のみの場所を推奨:
# CHECKPOINT_LOG = "/var/log/lifecycle/checkpoints.jsonl"
'''

#: Environment variables and the config key each one sets, with its type.
ENVIRONMENT = {
    "LIFECYCLE_DATABASE_URL": ("DATABASE_URL", str),
    "LIFECYCLE_PURGE_INTERVAL_SECONDS": ("PURGE_INTERVAL_SECONDS", int),
    "LIFECYCLE_BASE_URL": ("BASE_URL", str),
    "LIFECYCLE_UPLOAD_MAX_BYTES": ("UPLOAD_MAX_BYTES", int),
    "LIFECYCLE_ORGANISATION_NAME": ("ORGANISATION_NAME", str),
    "LIFECYCLE_LOGIN_RATE_LIMIT": ("LOGIN_RATE_LIMIT", str),
    "LIFECYCLE_SCHEDULER_HEARTBEAT_SECONDS": ("SCHEDULER_HEARTBEAT_SECONDS", int),
    "LIFECYCLE_RATELIMIT_STORAGE_URI": ("RATELIMIT_STORAGE_URI", str),
    "LIFECYCLE_TRUSTED_PROXIES": ("TRUSTED_PROXIES", int),
    "LIFECYCLE_CHECKPOINT_LOG": ("CHECKPOINT_LOG", str),
}


def defaults(instance_path: Path) -> dict:
    return {
        "DATABASE_URL": f"sqlite:///{instance_path / 'lifecycle.db'}",
        "ORGANISATION_NAME": "〇〇県 総務部 市町課",
        "BASE_URL": "http://127.0.0.1:5000",
        "PURGE_INTERVAL_SECONDS": 300,
        "SCHEDULER_HEARTBEAT_SECONDS": 10,
        "SCHEDULER_ENABLED": False,
        "UPLOAD_MAX_BYTES": 20 * 1024 * 1024,
        "REQUIRE_WITNESSED_STORAGE_DESTRUCTION": False,
        "PER_PAGE": 50,
        "LOGIN_RATE_LIMIT": "20 per minute",  #: per address; per account, 5 failures lock for 15 minutes
        "RATELIMIT_STORAGE_URI": "memory://",
        #: Reverse proxies in front (nginx: 1). Only then is X-Forwarded-For believed, so the login
        #: limit and the audit trail see the client's address instead of the proxy's.
        "TRUSTED_PROXIES": 0,
        "RATELIMIT_HEADERS_ENABLED": False,
        #: Every signed audit checkpoint is also appended here, one JSON line each, so that deleting
        #: checkpoint rows from the database does not delete the evidence (`lifecycle audit verify
        #: --checkpoints FILE`). A relative path is taken from the instance folder. Best on another
        #: disk or host than the database, in a place its writers can only append to.
        "CHECKPOINT_LOG": "audit/checkpoints.jsonl",
        "ARGON2_TIME_COST": 3,
        "ARGON2_MEMORY_COST": 65536,
        "SESSION_COOKIE_NAME": "lifecycle_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=30),
        "SESSION_REFRESH_EACH_REQUEST": False,  # web.idle_timeout refreshes it once a minute
        "IDLE_TIMEOUT_SECONDS": 30 * 60,
        "WTF_CSRF_TIME_LIMIT": None,
        "JSON_AS_ASCII": False,
    }


def apply_environment(config) -> None:
    for variable, (key, kind) in ENVIRONMENT.items():
        value = os.environ.get(variable)
        if value:
            config[key] = kind(value)


def instance_path_from_env() -> Path:
    return Path(os.environ.get("LIFECYCLE_INSTANCE") or Path.cwd() / "instance").resolve()
