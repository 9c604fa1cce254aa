"""The command line: the BIDS-Apps contract and NiPreps' flags."""

import json

import pytest

from inuprep.cli.parser import build_parser
from inuprep.cli.settings import Settings

OPTIONS = [
    "--participant-label", "--session-label", "--bids-filter-file", "--work-dir", "--nprocs",
    "--omp-nthreads", "--mem-gb", "--use-plugin", "--methods", "--seed", "--stop-on-first-crash",
    "--write-graph", "--verbose", "--version", "--derivatives", "--antsxnet-cache", "--self-check",
    "--config",
]  # fmt: skip


def parse(*argv):
    return build_parser().parse_args(["/data", "/out", "participant", *argv])


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text


@pytest.mark.parametrize(
    "argv",
    [
        ["/data", "/out"],
        ["/data", "/out", "subject"],
        ["/data", "/out", "participant", "--nprocs", "0"],
        ["/data", "/out", "participant", "--methods", "n3"],
        ["/data", "/out", "participant", "--participant-label", "sub-0!"],
        ["/data", "/out", "participant", "--bids-filter-file", "/no/such/file.json"],
        ["/data", "/out", "participant", "--use-plugin", "/no/such/plugin.yml"],
        ["/data", "/out", "participant", "--mem-gb", "-1"],
        ["/data", "/out", "participant", "--mem", "lots"],
        ["/data", "/out", "participant", "--mem", "16G", "--mem-gb", "16"],
        ["/data", "/out", "participant", "--derivatives", "/no/such/dir"],
        ["/data", "/out", "participant", "--antsxnet-cache", "/no/such/dir"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, key, value",
    [
        (["--n_cpus", "3"], "nprocs", 3),
        (["--nthreads", "3"], "nprocs", 3),
        (["--omp_nthreads", "2"], "omp_nthreads", 2),
        (["--mem", "16000"], "mem_gb", 16.0),  # fMRIPrep's unit: MB
        (["--mem_mb", "8000"], "mem_gb", 8.0),
        (["--mem-mb", "16G"], "mem_gb", 16.0),
        (["--mem", "1500MB"], "mem_gb", 1.5),
        (["--skip_bids_validation"], "skip_bids_validation", True),
        (["--skip-bids-validation"], "skip_bids_validation", True),
        ([], "skip_bids_validation", False),
        (["--participant_label", "01"], "participant_label", ["01"]),
        (["--session_label", "ses-1"], "session_label", ["1"]),
    ],
)
def test_fmriprep_spellings_are_accepted_in_their_units(argv, key, value):
    assert getattr(parse(*argv), key) == value


def test_bad_filter_json_exits_2(tmp_path):
    bad = tmp_path / "filters.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        parse("--bids-filter-file", str(bad))
    assert exit_info.value.code == 2


def test_labels_accept_prefix_and_settings_are_frozen(tmp_path):
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"t1w": {"acquisition": "mprage"}}))
    args = parse("--participant-label", "sub-01", "02", "--session-label", "ses-A", "--bids-filter-file",
                 str(filters), "--nprocs", "4")  # fmt: skip
    settings = Settings.from_args(args)
    assert settings.participant_label == ("01", "02")
    assert settings.session_label == ("A",)
    assert settings.bids_filters == {"t1w": {"acquisition": "mprage"}}
    assert settings.omp_nthreads == 3  # one core left for a second step (as fMRIPrep)
    assert Settings.from_args(parse("--nprocs", "1")).omp_nthreads == 1
    assert settings.plugin_settings()["plugin"] == "MultiProc"
    with pytest.raises(AttributeError):
        settings.seed = 1


def test_plugin_file_overrides_multiproc(tmp_path):
    plugin = tmp_path / "plugin.yml"
    plugin.write_text("plugin: SLURM\nplugin_args:\n  sbatch_args: --time=1:00:00\n")
    settings = Settings.from_args(parse("--use-plugin", str(plugin)))
    assert settings.plugin_settings() == {"plugin": "SLURM", "plugin_args": {"sbatch_args": "--time=1:00:00"}}
    plugin.write_text("plugin_args: {}\n")
    with pytest.raises(ValueError, match="plugin"):
        Settings.from_args(parse("--use-plugin", str(plugin)))


def test_mem_is_honoured_by_a_scheduler_that_knows_memory_or_refused(tmp_path):
    """nipype's Linear plugin knows no memory: --mem with one process takes MultiProc's scheduler; a plugin
    file's own scheduler is asked in its own arguments, and two memories are one too many."""
    one = Settings.from_args(parse("--nprocs", "1", "--mem", "4G")).plugin_settings()
    assert one == {
        "plugin": "MultiProc",
        "plugin_args": {"n_procs": 1, "raise_insufficient": False, "memory_gb": 4},
    }
    assert Settings.from_args(parse("--nprocs", "1")).plugin_settings()["plugin"] == "Linear"
    plugin = tmp_path / "plugin.yml"
    plugin.write_text("plugin: MultiProc\nplugin_args:\n  n_procs: 3\n")
    settings = Settings.from_args(parse("--use-plugin", str(plugin), "--mem", "6G"))
    assert settings.plugin_settings() == {
        "plugin": "MultiProc",
        "plugin_args": {"n_procs": 3, "memory_gb": 6},
    }
    plugin.write_text("plugin: MultiProc\nplugin_args:\n  memory_gb: 8\n")
    with pytest.raises(ValueError, match="disagree"):
        Settings.from_args(parse("--use-plugin", str(plugin), "--mem", "6G"))
    assert Settings.from_args(parse("--use-plugin", str(plugin), "--mem", "8G")).plugin_settings()[
        "plugin_args"
    ] == {"memory_gb": 8}
    plugin.write_text("plugin: SLURM\n")
    with pytest.raises(ValueError, match="--mem cannot be honoured by the SLURM plugin"):
        Settings.from_args(parse("--use-plugin", str(plugin), "--mem", "6G"))


def test_settings_dump_is_json(tmp_path):
    settings = Settings.from_args(build_parser().parse_args(["/data", str(tmp_path), "group"]))
    dumped = json.loads(settings.write().read_text())
    assert dumped["output_dir"] == str(tmp_path)
    assert dumped["methods"] == ["n4", "zeroshot", "implicit"]


def test_every_console_script_prints_its_version(capsys):
    import tomllib
    from importlib import import_module

    from conftest import ROOT
    from inuprep import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"\nversion: {project['version']}\n" in (ROOT / "CITATION.cff").read_text()  # cited as released
    scripts = project["scripts"]
    assert len(scripts) == 5
    for name, target in scripts.items():
        module, function = target.split(":")
        with pytest.raises(SystemExit) as exit_info:
            getattr(import_module(module), function)(["--version"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.strip() == f"{name} {__version__}"


def test_a_runs_settings_file_gives_back_its_methods_and_the_command_line_wins(tmp_path, capsys):
    from inuprep.cli.parser import CONFIG_OPTIONS, parse_args

    masks, cache = tmp_path / "masks", tmp_path / "cache"
    masks.mkdir(), cache.mkdir()
    first = Settings.from_args(build_parser().parse_args([
        "/data", str(tmp_path), "participant", "--methods", "n4", "implicit", "--self-check", "--seed", "7",
        "--derivatives", str(masks), "--antsxnet-cache", str(cache), "--participant-label", "01",
        "-w", str(tmp_path / "work"), "--skip-bids-validation", "--nprocs", "3",
    ]))  # fmt: skip
    saved = first.write()  # as a run writes it, under <output_dir>/logs/
    again = Settings.from_args(parse_args(["/data", str(tmp_path), "participant", "--config", str(saved)]))
    assert {k: getattr(again, k) for k in CONFIG_OPTIONS} == {k: getattr(first, k) for k in CONFIG_OPTIONS}
    assert (again.self_check, again.derivatives, again.bids_validation) == (True, masks, False)
    assert again.nprocs != 3  # resources are the machine's, not the file's
    argv = [
        "/data",
        str(tmp_path),
        "participant",
        "--config",
        str(saved),
        "--methods",
        "zeroshot",
        "--seed",
        "1",
    ]
    mixed = Settings.from_args(parse_args(argv))
    assert (mixed.methods, mixed.seed, mixed.self_check) == (("zeroshot",), 1, True)
    # a file of another kind, or a folder of the file's gone: one usage error, exit 2
    (tmp_path / "other.json").write_text(json.dumps({"t1w": {}}))
    masks.rmdir()
    for config, message in (
        (tmp_path / "other.json", "is not a settings file of inuprep's"),
        (saved, str(masks)),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["/data", str(tmp_path), "participant", "--config", str(config)])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]
