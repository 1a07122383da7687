"""The `lifecycle` command: thin commands over the services (docs/api.md, Command line)."""
from __future__ import annotations

import sys
from functools import wraps

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from . import migrate, validation as v
from .audit.events import EventType
from .audit.services import record_event
from .auth import services as auth
from .actors import CLI as ACTOR
from .config import INSTANCE_CONFIG_TEMPLATE
from .errors import DomainError
from .extensions import db


def domain_errors(command):
    """Bad input ends in one Japanese line and a non-zero exit, never a traceback."""
    @wraps(command)
    def wrapped(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    return wrapped


AUTOVACUUM_OFF = ("警告: この PostgreSQL サーバーは autovacuum が無効です。書込みのたびに同じ行（監査ログの"
                  "先頭、管理番号の採番）が更新されるため、無効のままでは古い版の行が残り続け、表が膨らみ"
                  "ます。postgresql.conf で autovacuum = on（既定値）にしてください。")


def init_instance() -> bool:
    config_file = current_app.instance_path + "/config.py"
    try:
        with open(config_file, "x", encoding="utf-8") as handle:
            handle.write(INSTANCE_CONFIG_TEMPLATE)
    except FileExistsError:
        pass
    applied = migrate.upgrade()
    from .audit import merkle

    if merkle.tree_is_missing():  # a log from before the stored Merkle tree: build it once
        events, _nodes = merkle.rebuild_tree(ACTOR)
        click.echo(f"監査ログ {events} 件の Merkle 木を作りました。")
    if applied:
        with db.transaction():
            record_event(EventType.SYSTEM_INITIALISED, actor=ACTOR, subject="system",
                         revision=migrate.head_revision())
    if db.autovacuum_off():  # init and serve: whoever prepares the database hears of it
        click.echo(AUTOVACUUM_OFF, err=True)
    return applied


@click.command("init")
@with_appcontext
def init_command():
    """Creates the instance folder, keys, config and database schema; safe to run again."""
    applied = init_instance()
    click.echo(f"instance: {current_app.instance_path}")
    click.echo("データベースを最新の構成に更新しました。" if applied else "データベースは最新です。")


departments = AppGroup("departments", help="所属 (departments).")
businesses = AppGroup("businesses", help="利用事務 (businesses).")
users = AppGroup("users", help="利用者 (users).")
audit = AppGroup("audit", help="監査ログ (audit log).")


@departments.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--system-owner", is_flag=True, help="市町課: the one department whose staff may hold bulk_operator")
@domain_errors
def departments_create(code, name, system_owner):
    """Adds a department (所属)."""
    dept = auth.create_department(ACTOR, code, name, system_owner=system_owner)
    click.echo(f"所属を登録しました: {dept.code} {dept.name}")


@businesses.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--basis", required=True, help="legal basis, e.g. 住基法別表第5 or 県条例")
@domain_errors
def businesses_create(code, name, basis):
    """Adds a business (利用事務) with its legal basis."""
    business = auth.create_business(ACTOR, code, name, basis)
    click.echo(f"利用事務を登録しました: {business.code} {business.name}（{business.basis}）")


def _parse_day(_ctx, _param, value):
    try:
        return v.a_date(value, "研修受講日", required=False)
    except DomainError as exc:
        raise click.BadParameter(exc.message) from None


@users.command("create")
@click.argument("login")
@click.option("--name", required=True)
@click.option("--department", "department", required=True, help="department code")
@click.option("--role", "roles", multiple=True, help="registrar, bulk_operator, security_manager, auditor, admin")
@click.option("--trained-on", callback=_parse_day, help="研修受講日 YYYY-MM-DD")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@domain_errors
def users_create(login, name, department, roles, trained_on, password_stdin):
    """Creates a user; without --trained-on the user holds no effective role."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    user = auth.create_user(ACTOR, login, name, department, roles=roles, trained_on=trained_on,
                            password=password)
    click.echo(f"利用者を登録しました: {user.login} {user.name}")


@users.command("token")
@click.argument("login")
@domain_errors
def users_token(login):
    """Issues a new API token and prints it alone (it is stored hashed, so it is shown once)."""
    click.echo(auth.issue_token(ACTOR, login))


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="only when no user exists yet (first run)")
@with_appcontext
@domain_errors
def demo_command(if_empty):
    """Loads sample departments, businesses and users."""
    from .seeds import DEMO_PASSWORD, load_demo, load_demo_items

    if if_empty and auth.count_users() > 0:
        click.echo("利用者が登録済みのため、デモデータは読み込みませんでした。")
        return
    logins = load_demo()
    items = load_demo_items()
    if items:
        click.echo(f"帳票・媒体・機器の例を {len(items)} 件登録しました（引継ぎ中・廃棄待ち・保存期限超過など）。")
    click.echo("デモデータを読み込みました。次の利用者でログインできます"
               f"（パスワードはいずれも {DEMO_PASSWORD}）:")
    for login, name in logins:
        click.echo(f"  {login:<12} {name}")


@audit.command("verify")
@click.option("--checkpoints", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              help="also check the signed checkpoints of this file (the CHECKPOINT_LOG file or a copy)")
@click.option("--from-checkpoint", "from_checkpoint", metavar="ID",
              help="verify the signed checkpoint ID (signature, head, Merkle root) and only the events after it")
@domain_errors
def audit_verify(checkpoint_file, from_checkpoint):
    """Walks the whole audit chain through every signed checkpoint; exit 1 names the first broken event."""
    from .audit.checkpoints import verify_from_checkpoint, verify_log

    if from_checkpoint is not None:
        if checkpoint_file is not None:
            raise click.UsageError("--checkpoints と --from-checkpoint は同時に指定できません。")
        result, walked = verify_from_checkpoint(ACTOR, from_checkpoint)
        if result.ok:
            click.echo(f"ok checkpoint {from_checkpoint} and {walked} events after it, {result.events} events "
                       f"head {result.head}")
            return
        click.echo(f"broken at event {result.broken_at}: {result.reason}")
        sys.exit(1)
    result = verify_log(ACTOR, checkpoint_file=checkpoint_file)
    if result.ok:
        click.echo(f"ok {result.events} events head {result.head}")
        return
    click.echo(f"broken at event {result.broken_at}: {result.reason}")
    sys.exit(1)


@audit.command("checkpoint")
@domain_errors
def audit_checkpoint():
    """Signs the current head of the audit chain now."""
    from .audit.checkpoints import sign_checkpoint

    checkpoint = sign_checkpoint(ACTOR)
    click.echo(f"checkpoint {checkpoint.id} seq {checkpoint.seq} head {checkpoint.head_hash}")


@audit.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@domain_errors
def audit_export(file):
    """Writes the audit export zip that tools/verify_audit_export.py checks offline."""
    from .audit.checkpoints import record_export, write_export

    count = write_export(file)
    record_export(ACTOR, count)
    click.echo(f"exported {count} events to {file}")


@audit.command("rebuild-tree")
@domain_errors
def audit_rebuild_tree():
    """Builds the audit log's stored Merkle tree again from the chain (a log from before the tree)."""
    from .audit.merkle import rebuild_tree

    events, nodes = rebuild_tree(ACTOR)
    click.echo(f"監査ログ {events} 件の Merkle 木を作り直しました（節 {nodes} 件）。")


@audit.command("scan-my-number")
@domain_errors
def audit_scan_my_number():
    """Lists where a 個人番号 may be stored in clear (row and column, never the number); exit 1 if any."""
    from .mynumber.scan import find_stored_numbers

    found = 0
    for hit in find_stored_numbers():
        click.echo(str(hit))
        found += 1
    click.echo(f"found {found}")
    if found:
        sys.exit(1)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@with_appcontext
@domain_errors
def backup_command(file):
    """Consistent online backup of the database and stored files (never the keys)."""
    from .backup import take_backup

    manifest = take_backup(ACTOR, file)
    click.echo(f"backup {file}: {len(manifest['files'])} files, audit head {manifest['audit_head']['seq']}")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@domain_errors
def restore_command(file):
    """Restores a backup into an empty instance and verifies the audit chain."""
    from .backup import restore_backup

    manifest = restore_backup(file)
    click.echo(f"restored {file}: audit head {manifest['audit_head']['seq']} verified")


keys = AppGroup("keys", help="鍵 (keys under instance/keys).")


@keys.command("rotate")
@click.option("--label/--no-label", default=True, help="new label HMAC key (old labels keep verifying)")
@click.option("--kek/--no-kek", default=True, help="new key-encryption key; 個人番号 data keys are re-wrapped")
@domain_errors
def keys_rotate(label, kek):
    """Rotates keys; restart every server afterwards (they share instance/keys)."""
    from . import crypto
    from .mynumber.keystore import KeyStore

    instance = current_app.instance_path
    with db.transaction():  # holds the write lock: no data key is created meanwhile
        count = 0
        if label:
            crypto.rotate_label_key(instance)
        if kek:
            crypto.rotate_kek(instance)
            count = KeyStore(instance).rewrap()
            crypto.finish_kek_rotation(instance)
        record_event(EventType.KEYS_ROTATED, actor=ACTOR, subject="system", label=label, kek=kek,
                     data_keys=count)
    if label:
        click.echo("label HMAC key rotated (previous keys kept, printed labels still verify)")
    if kek:
        click.echo(f"key-encryption key rotated, {count} data keys re-wrapped")


@keys.command("install-signing-cert")
@click.option("--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="signing certificate issued by the prefecture's CA (PEM or DER)")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="its private key (PEM or DER, without a password)")
@click.option("--chain", "chain_file", type=click.Path(exists=True, dir_okay=False),
              help="the issuing CA certificates (PEM), issuer first")
@domain_errors
def keys_install_signing_cert(cert_file, key_file, chain_file):
    """Signs report PDFs from now on with a certificate issued by the prefecture's CA."""
    from . import crypto

    def read(path):
        with open(path, "rb") as handle:
            return handle.read()

    from cryptography.hazmat.primitives import hashes

    try:
        with db.transaction():  # recorded together: a refused certificate changes nothing
            cert = crypto.install_signing_certificate(current_app.instance_path, read(cert_file), read(key_file),
                                                      read(chain_file) if chain_file else None)
            record_event(EventType.SIGNING_CERT_INSTALLED, actor=ACTOR, subject="system",
                         certificate=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                         fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
                         valid_until=cert.not_valid_after_utc.date().isoformat())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"文書署名の証明書を登録しました: {cert.subject.rfc4514_string()}"
               f"（発行者 {cert.issuer.rfc4514_string()}、有効期限 {cert.not_valid_after_utc:%Y-%m-%d}）")


@keys.command("export-ca")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def keys_export_ca(file):
    """Writes the CA certificate(s) of the report-signing certificate, for PDF readers' trust lists."""
    from . import crypto

    data = crypto.signing_ca_pem(current_app.instance_path)
    if not data.strip():
        raise click.ClickException("文書署名の証明書チェーンが登録されていません。install-signing-cert を "
                                   "--chain 付きで実行するか、発行元の CA 証明書を直接配布してください。")
    with open(file, "wb") as handle:
        handle.write(data)
    click.echo(f"文書署名の CA 証明書を {file} に書き出しました。")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="worker processes (default: one per core, at most 16)")
@click.option("--threads", default=1, type=click.IntRange(1, 64), show_default=True,
              help="threads per worker (more than 1 measured slower; see docs/deploy.md, Server choice)")
@with_appcontext
def serve_command(host, port, workers, threads):
    """Production server (gunicorn workers, each with the scheduler; one of them leads)."""
    from . import server

    problem = server.address_problem(host, port)
    if problem:
        click.echo(problem, err=True)
        sys.exit(1)
    init_instance()
    db.session.remove()
    db.engine.dispose()  # the workers fork from here: they must not inherit open connections
    workers = workers or server.default_workers()
    base = f"http://{host}:{port}"
    click.echo(f"lifecycle を {base} で起動します（ワーカー {workers} 個 × {threads} スレッド、Ctrl+C で停止）。"
               f"ログイン: {base}/login")
    server.serve(host, port, workers=workers, threads=threads)


def init_app(app) -> None:
    for command in (init_command, demo_command, serve_command, backup_command, restore_command):
        app.cli.add_command(command)
    for group in (departments, businesses, users, audit, keys):
        app.cli.add_command(group)


def main() -> None:
    from . import create_app

    cli = FlaskGroup(create_app=lambda: create_app(), add_default_commands=False,
                     help="lifecycle: 帳票・媒体・機器の管理簿")
    cli.main(prog_name="lifecycle")


if __name__ == "__main__":
    main()
