
from lifecycle import crypto
from lifecycle.mynumber.keystore import KeyStore


def test_label_rotation_keeps_old_labels_genuine(app, runner, world):
    old = crypto.LabelSigner.from_instance(app.instance_path).payload("F-2026-000001")
    result = runner.invoke(args=["keys", "rotate", "--label", "--no-kek"])
    assert result.exit_code == 0, result.output
    signer = crypto.LabelSigner.from_instance(app.instance_path)
    assert signer.payload("F-2026-000001") != old
    assert signer.verify(old) == "F-2026-000001"
    assert signer.verify("F-2026-000001.AAAAAAAAAAAAAAAA") is None


def test_kek_rotation_rewraps_data_keys(app, runner, world):
    store = KeyStore(app.instance_path)
    bucket = "2026112312"
    blob = store.encrypt(7, bucket, "123456789018")
    old_kek = (crypto.keys_dir(app.instance_path) / "kek.key").read_text()
    result = runner.invoke(args=["keys", "rotate", "--no-label", "--kek"])
    assert result.exit_code == 0 and "1 data keys re-wrapped" in result.output, result.output
    assert (crypto.keys_dir(app.instance_path) / "kek.key").read_text() != old_kek
    assert not (crypto.keys_dir(app.instance_path) / "kek.key.previous").exists()
    assert KeyStore(app.instance_path).decrypt(7, bucket, blob) == "123456789018"


def test_interrupted_kek_rotation_still_decrypts(app):
    store = KeyStore(app.instance_path)
    blob = store.encrypt(3, "2026112313", "123456789018")
    crypto.rotate_kek(app.instance_path)  # stopped before re-wrapping
    assert KeyStore(app.instance_path).decrypt(3, "2026112313", blob) == "123456789018"
    KeyStore(app.instance_path).rewrap()
    crypto.finish_kek_rotation(app.instance_path)
    assert KeyStore(app.instance_path).decrypt(3, "2026112313", blob) == "123456789018"
