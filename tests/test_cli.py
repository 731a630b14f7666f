"""The console script: one parser per command, built only for the command named."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tmadkit import cli

_IMPORTED = """
import sys
from tmadkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.startswith("tmadkit.commands.") and m != "tmadkit.commands._output"))
"""


@pytest.mark.parametrize("argv, command", [
    (["validate", "x.xml"], "validate"), (["--version"], None), (["--help"], None), ([], None),
    (["make-file", "--help"], "make-file"), (["nosuch"], None), (["-h", "world"], "world"),
])
def test_the_command_is_the_first_word_that_is_not_an_option(argv, command):
    assert cli._command(argv) == command


def test_running_a_command_imports_that_command_only():
    """`tmadkit validate` of a large file must not carry the generator's Jinja2 or pytest (0.2 s, 14 MB)."""
    out = subprocess.run([sys.executable, "-c", _IMPORTED, "validate", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['tmadkit.commands.validate']"


def test_help_still_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    listed = capsys.readouterr().out
    assert all(f"    {name}" in listed for name in cli.COMMANDS)


def test_an_unknown_command_is_refused_with_the_list_of_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["nosuch"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err and "'verify-bundle'" in err


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`tmadkit diff ... --json | head`: the status a shell expects of SIGPIPE, and no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "tmadkit.cli", "diff", "TMAD", "5.0", "5.1", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = proc.stdout.read(100)      # the JSON is larger than a pipe holds, so the writer is still at it
    proc.stdout.close()
    assert proc.wait(timeout=120) == cli.BROKEN_PIPE
    assert head.startswith(b"{") and proc.stderr.read() == b""


def test_a_path_that_cannot_be_written_is_one_line_naming_it(tmp_path, capsys):
    from tmadkit.cli import main

    assert main(["diff", "TMAD", "5.0", "5.1", "--md", str(tmp_path)]) == 2     # a directory, not a file
    err = capsys.readouterr().err
    assert err.startswith(f"tmadkit diff: {tmp_path}") and "Traceback" not in err and len(err.splitlines()) == 1


def test_report_refuses_results_that_are_not_a_runs(tmp_path, capsys):
    import json

    from tmadkit.cli import main

    out = tmp_path / "report"
    cases = {"{}": "'scenarios' is a required property",
             '{"scenarios": 3}': "3 is not of type 'array'",
             '{"scenarios": [{"test": "t", "status": "exploded", "rule": "TMAD-T5.5-MCF-accept"}]}': "'exploded' is not one of",
             '{"scenarios": [{"test": "t", "status": "passed", "rule": "NO-SUCH-RULE"}]}': "a result for rule NO-SUCH-RULE"}
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"r{i}.json"
        path.write_text(text)
        assert main(["report", "--results", str(path), "--out", str(out)]) == 2, text
        err = capsys.readouterr().err
        assert message in err and str(path) in err, err
    (tmp_path / "latin1.json").write_bytes(b'{"scenarios": ["\xe9"]}')
    assert main(["report", "--results", str(tmp_path / "latin1.json"), "--out", str(out)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert not out.exists()                      # nothing written for any of them
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"scenarios": [{"test": "t", "status": "passed", "rule": "TMAD-T5.5-MCF-accept"}]}))
    assert main(["report", "--results", str(good), "--out", str(out)]) == 0
