"""The plant's command line: arguments, and failing clearly when it cannot start."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from twinworks.plant.run import build_parser


def test_defaults_serve_the_demo_endpoint_in_real_time() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.seed, args.speed) == ("127.0.0.1", 4840, 0, 1.0)
    assert (args.tick_s, args.step_s, args.truth_log) == (0.1, 0.5, None)


@pytest.mark.parametrize("option", ["--speed", "--tick", "--step"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_time_options_must_be_positive(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([option, value])
    assert exc.value.code == 2
    assert "must be a positive number" in capsys.readouterr().err


def test_a_taken_port_is_reported_in_one_line_without_a_traceback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "twinworks.plant", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
