"""Signed model bundles (issue 15: bundles were checked for integrity, sha256 in their own manifest,
but not for origin): an Ed25519 signature over manifest.json by a pinned key is needed to install
a bundle and to serve it; the bundled models are trusted as part of the package."""
import shutil

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.app import create_app
from edge.cli import cli
from edge.config import load_settings
from edge.errors import ConfigError
from edge.inference.bundle_checks import SIGNATURE_FILE, public_key_text
from edge.inference.bundles import BUNDLED_ID, ModelStore
from edge.inference.models import BUNDLED_DIR
from support import TEST_PUBLIC_KEY, model_bundle
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)


def install(settings, source):
    return CliRunner().invoke(cli, ["models", "install", str(source), "--data-dir", str(settings.data_dir)])


def pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def refused(result, reason: str) -> bool:
    return result.exit_code == 1 and "refused" in result.output and reason in result.output


def test_an_unsigned_bundle_is_refused_and_nothing_is_installed(settings, tmp_path):
    source = tmp_path / "unsigned"
    shutil.copytree(BUNDLED_DIR, source)
    assert refused(install(settings, source), "manifest.json.sig: missing: the bundle is unsigned")
    assert ModelStore(settings.models_path).installed_ids() == []


def test_a_bundle_signed_by_an_unpinned_key_or_altered_after_signing_is_refused(settings, tmp_path):
    other = tmp_path / "other-key"
    source = model_bundle(tmp_path / "bundle", labs="0.2.0")
    other.write_bytes(pem(Ed25519PrivateKey.generate()))
    signed = CliRunner().invoke(cli, ["models", "sign", str(source), "--key", str(other)])
    assert signed.exit_code == 0, signed.output
    assert refused(install(settings, source), "not a signature of this manifest.json by any pinned key")
    altered = model_bundle(tmp_path / "altered", labs="0.2.0")
    manifest = altered / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"0.2.0"', b'"0.2.1"', 1))  # after signing
    assert refused(install(settings, altered), "not a signature of this manifest.json")
    assert ModelStore(settings.models_path).installed_ids() == []


def test_with_no_key_pinned_no_bundle_can_be_installed(tmp_path, no_env_settings):
    data_dir = tmp_path / "data"
    assert CliRunner().invoke(cli, ["db", "init", "--data-dir", str(data_dir)]).exit_code == 0
    result = CliRunner().invoke(cli, ["models", "install", str(model_bundle(tmp_path / "b", labs="0.2.0")),
                                      "--data-dir", str(data_dir)])
    assert refused(result, "no model signing key is pinned (setting model_signing_keys)")


def test_models_sign_prints_the_key_to_pin_and_the_signed_bundle_installs(settings, tmp_path):
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "publisher.pem"
    key_file.write_bytes(pem(key))
    source = tmp_path / "bundle"
    shutil.copytree(BUNDLED_DIR, source)
    signed = CliRunner().invoke(cli, ["models", "sign", str(source), "--key", str(key_file)])
    expected = public_key_text(key.public_key())
    assert signed.exit_code == 0 and f"public key to pin (model_signing_keys): {expected}" in signed.output
    trust = settings.data_dir / "config.toml"
    trust.write_text(f'model_signing_keys = ["{TEST_PUBLIC_KEY}", "{expected}"]\n')
    assert install(settings, source).exit_code == 0
    (bundle_id,) = ModelStore(settings.models_path).installed_ids()
    assert (settings.models_path / "versions" / bundle_id / SIGNATURE_FILE).is_file()


def test_models_sign_refuses_a_key_that_is_not_ed25519(tmp_path):
    key_file = tmp_path / "rsa.pem"
    key_file.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    source = tmp_path / "bundle"
    shutil.copytree(BUNDLED_DIR, source)
    result = CliRunner().invoke(cli, ["models", "sign", str(source), "--key", str(key_file)])
    assert result.exit_code == 1 and "not Ed25519" in result.output and not (source / SIGNATURE_FILE).exists()


def test_the_service_refuses_to_serve_a_bundle_whose_key_is_no_longer_pinned(settings, tmp_path):
    assert install(settings, model_bundle(tmp_path / "bundle", labs="0.2.0")).exit_code == 0
    served = create_app(settings).test_client().get("/readyz")
    assert served.status_code == 200
    other_key = public_key_text(Ed25519PrivateKey.generate().public_key())
    unpinned = settings.model_copy(update={"model_signing_keys": [other_key]})
    ready = create_app(unpinned).test_client().get("/readyz")
    assert ready.status_code == 503 and "not a signature of this manifest.json by any pinned key" in \
        ready.json["checks"]["models"]["reason"]


def test_readyz_fails_when_an_installed_bundles_signature_disappears_while_serving(settings, tmp_path):
    assert install(settings, model_bundle(tmp_path / "bundle", labs="0.2.0")).exit_code == 0
    client = create_app(settings).test_client()
    assert client.get("/readyz").status_code == 200
    (bundle_id,) = ModelStore(settings.models_path).installed_ids()
    (settings.models_path / "versions" / bundle_id / SIGNATURE_FILE).unlink()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "signature" in ready.json["checks"]["models"]["reason"]


def test_the_bundled_models_serve_with_no_key_pinned(settings):
    unpinned = settings.model_copy(update={"model_signing_keys": []})
    ready = create_app(unpinned).test_client().get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["models"]["bundle"] == BUNDLED_ID


@pytest.mark.parametrize(("key", "reason"), [("not base64!", "is not base64"), ("c2hvcnQ=", "is 5 bytes")])
def test_a_malformed_pinned_key_stops_the_start_naming_the_setting(tmp_path, key, reason):
    with pytest.raises(ConfigError, match=f"model_signing_keys: .*{reason}"):
        load_settings(data_dir=tmp_path, model_signing_keys=[key])
