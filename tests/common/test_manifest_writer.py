"""The one writer of a models ``manifest.json`` (``common.model_entries.write_entries``), which the audio
export and the tabular training both call: a run stopped while writing leaves the manifest as it was."""
from __future__ import annotations

import json
import resource
import stat
import subprocess
import sys
import textwrap

from common.model_entries import write_entries


def test_both_trainings_write_through_the_one_writer(tmp_path):
    from audio_models.export import write_manifest
    from tabular_models.training import train

    manifest = tmp_path / "manifest.json"
    write_entries(manifest, {"labs": {"version": "1.0.0", "threshold": 0.1}})
    write_manifest(tmp_path, {"version": "0.6.0"})
    assert json.loads(manifest.read_text()) == {"models": {"labs": {"version": "1.0.0", "threshold": 0.1},
                                                          "auscultation": {"version": "0.6.0"}}}
    assert not hasattr(train, "write_manifest")  # one writer, not a twin beside it


def test_a_rewrite_keeps_the_manifests_mode_and_leaves_no_temporary_file(tmp_path):
    manifest = tmp_path / "manifest.json"
    write_entries(manifest, {"labs": {"version": "1.0.0"}})
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644  # readable by the service's user, not owner-only
    manifest.chmod(0o640)
    write_entries(manifest, {"labs": {"version": "1.0.1"}})
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o640
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


def test_a_write_that_fails_halfway_leaves_the_manifest_as_it_was(tmp_path):
    """A file-size limit in a child process makes the write fail partway, as a full disk would: the old
    manifest must still read back whole, and no temporary file is left."""
    manifest = tmp_path / "manifest.json"
    write_entries(manifest, {"labs": {"version": "1.0.0", "notes": "x" * 2000}})
    before = manifest.read_bytes()
    child = textwrap.dedent(f"""
        import resource, signal
        from common.model_entries import write_entries
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 100}, {len(before) + 100}))
        write_entries({str(manifest)!r}, {{"auscultation": {{"notes": "y" * 100000}}}})
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert result.returncode != 0 and "File too large" in result.stderr
    assert manifest.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]
