"""Input errors found before any work: exit 2 and one line that names the file (``inuprep``'s ``main(argv)``
in this process; tests/e2e/test_app.py runs one case as the console script, for the process's own exit code
and stderr)."""

import pytest

from conftest import make_bids
from inuprep.cli.run import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{bids}/sub-01", "{tmp}/out", "participant"], "not a BIDS dataset"),
        (["{bids}", "{tmp}/out", "participant", "--participant-label", "09"], "09 not found"),
        (["{bids}", "{tmp}/out", "participant", "--session-label", "7"], "no T1w, T2w or Dixon images"),
        (["{bids}", "{bids}/out", "participant"], "inside bids_dir"),
        (["{bids}", "/dev/null/out", "participant"], "output_dir /dev/null/out cannot be created"),
        (["{bids}", "{tmp}/out", "participant", "-w", "{bids}/dataset_description.json"], "is a file"),
        (["{bids}", "{tmp}/file", "participant"], "output_dir {tmp}/file is a file"),
        (["{empty}", "{tmp}/out", "participant"], "no T1w, T2w or Dixon images in {empty}"),
        (["{tmp}/gone", "{tmp}/out", "participant"], "{tmp}/gone: no such directory"),
        (
            ["{bids}", "{tmp}/out", "participant", "--bids-filter-file", "{tmp}/file"],
            "file is not valid JSON",
        ),
        (["{bids}", "{tmp}/out", "participant", "--config", "{tmp}/file"], "is not a settings file"),
        (
            ["{bids}", "{tmp}/out", "participant", "--use-plugin", "{tmp}/slurm.yml", "--mem", "4G"],
            "--mem cannot be honoured by the SLURM plugin of {tmp}/slurm.yml",
        ),
    ],
)
def test_input_errors_exit_2_in_one_line(tmp_path, call_main, argv, message):
    bids = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": None})
    empty = make_bids(tmp_path / "empty", {})  # a dataset_description.json and nothing else
    (tmp_path / "file").write_text("")
    (tmp_path / "slurm.yml").write_text("plugin: SLURM\nplugin_args:\n  sbatch_args: --time=1:00:00\n")
    folders = {"tmp": tmp_path, "bids": bids, "empty": empty}
    code, out, err = call_main(main, *[a.format(**folders) for a in argv])
    message = message.format(**folders)
    assert code == 2
    usage = err.startswith("usage: ")  # argparse's errors follow its usage lines
    assert message in err.splitlines()[-1] and (usage or err.count("\n") == 1), err
    assert "Traceback" not in out + err
    assert not (tmp_path / "out").exists()
