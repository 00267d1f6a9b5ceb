import nbformat
import pytest

from vae_helpers import cli

from vae_helpers import notebook

TF_IMPORT_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795265292.083713    2309 port.cc:153] oneDNN custom operations are on.\n"
    "E0000 00:00:1795265425.314544    2594 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
    "I0000 00:00:1795265292.144968    2309 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n"
)


def test_strip_tf_logs_drops_tf_lines_and_empty_streams_only():
    outputs = [
        {"output_type": "stream", "name": "stderr", "text": TF_IMPORT_NOISE},
        {"output_type": "stream", "name": "stderr", "text": TF_IMPORT_NOISE + "UserWarning: real warning\n"},
        {"output_type": "stream", "name": "stdout", "text": "I0000 00:00:1.0 1 a.cc:1] stdout is kept\n"},
    ]
    kept = notebook.strip_tf_logs(outputs)
    assert [o["text"] for o in kept] == ["UserWarning: real warning\n", "I0000 00:00:1.0 1 a.cc:1] stdout is kept\n"]


def test_stored_outputs_keep_real_tensorflow_errors():
    """One policy with vae_helpers.core.tf_startup: only the known start-up lines go, never an E or F line of another kind."""
    real = ("E0000 00:00:1795265425.314544    2594 op_kernel.cc:1839] OP_REQUIRES failed: Out of memory\n"
            "F0000 00:00:1795265425.314544    2594 logging.cc:43] Check failed: 0 <= 1\n")
    kept = notebook.strip_tf_logs([{"output_type": "stream", "name": "stderr", "text": TF_IMPORT_NOISE + real}])
    assert [o["text"] for o in kept] == [real]


def test_refresh_shown_sources_reruns_only_the_source_cells(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from vae_helpers.notebook import show_source\nfrom vae_helpers.core import checks"),
                nbformat.v4.new_code_cell("print('from the full run')"),
                nbformat.v4.new_code_cell("show_source(checks.check_seed)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="kept as it was\n")]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale source\n")]
    nbformat.write(nb, path)
    assert notebook.refresh_shown_sources(path) == [2]
    after = nbformat.read(path, as_version=4)
    assert after.cells[1].outputs[0]["text"] == "kept as it was\n" and after.cells[0].outputs == []
    (shown,) = after.cells[2].outputs
    assert "def check_seed(" in shown["data"]["text/markdown"]


def test_coalesce_progress_keeps_the_last_state_of_each_line():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "Epoch 1/2\n\r1/3 ..."},
        {"output_type": "stream", "name": "stdout", "text": "\r3/3 done\nab\x08c\n"},
        {"output_type": "display_data", "data": {}},
        {"output_type": "stream", "name": "stdout", "text": "after\n"},
    ]
    merged = notebook.coalesce_progress(outputs)
    assert [o.get("text") for o in merged] == ["Epoch 1/2\n3/3 done\nac\n", None, "after\n"]


def test_show_source_rejects_builtins():
    with pytest.raises(TypeError, match=r"`obj` must be a function, class or module"):
        notebook.show_source(len)


def _tiny_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from vae_helpers.core.settings import get_settings\nprint(get_settings().mode)"),
        nbformat.v4.new_code_cell("import sys\nfor i in range(3):\n    print(f'\\r{i}/2', end='')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_notebooks_executes_in_the_requested_mode_and_saves_outputs(tmp_path, capsys):
    path = tmp_path / "01_tiny.ipynb"
    _tiny_notebook(path)
    assert cli.main(["run-notebooks", str(path), "--mode", "full"]) == 0
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs[0]["text"] == "full\n"   # the kernel saw VAE_COURSE_MODE=full
    assert nb.cells[1].outputs[0]["text"] == "2/2"      # progress updates collapsed
    assert [c.execution_count for c in nb.cells] == [1, 2]
    assert "wrote" in capsys.readouterr().out


def test_run_notebooks_rejects_a_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`path` must be an existing notebook"):
        notebook.execute_notebook(tmp_path / "nope.ipynb")


def test_cli_rejects_an_unknown_mode(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run-notebooks", "--mode", "fast"])
    assert exit_info.value.code == 2 and "argument --mode: invalid choice: 'fast'" in capsys.readouterr().err
