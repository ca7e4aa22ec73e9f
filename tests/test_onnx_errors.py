"""Every bad `onnx` setup is one line naming the file or setting, exit 2, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from onnx import TensorProto

from conftest import git, picture, save
from dupgate_hook.main import main
from onnx_models import conv_model, odd_input_model, sscd_like_model, two_input_model


def one_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run dupgate; it must exit 2 with exactly one line on stderr and no traceback."""
    assert main(list(args) or ["audit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dupgate: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def onnx_repo(repo: Path) -> Path:
    save(picture(1), repo / "a.png")
    git(repo, "add", "a.png")
    return repo


def configure(repo: Path, text: str) -> None:
    (repo / ".dupgate.yaml").write_text("backend: onnx\n" + text)


def test_no_model_path(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(onnx_repo, "")
    assert "model_path: the onnx backend needs `model_path:`" in one_error(capsys)
    (onnx_repo / ".dupgate.yaml").unlink()
    assert "model_path:" in one_error(capsys, "audit", "--backend", "onnx")


def test_missing_model_file(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(onnx_repo, "model_path: models/resnet50.onnx\n")
    err = one_error(capsys, "check", "a.png")
    assert f"model_path: models/resnet50.onnx not found (looked for {onnx_repo}/models/resnet50.onnx)" in err
    (onnx_repo / "models" / "resnet50.onnx").mkdir(parents=True)
    assert "model_path: models/resnet50.onnx is not a file" in one_error(capsys)


def test_corrupt_or_truncated_model_file(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = onnx_repo / "m.onnx"
    model.write_bytes(b"\x08\x07garbage, not a protobuf" * 50)
    configure(onnx_repo, "model_path: m.onnx\n")
    assert "model_path: m.onnx is not a usable ONNX model (" in one_error(capsys)
    good = conv_model(onnx_repo / "good.onnx").read_bytes()
    model.write_bytes(good[: len(good) // 2])
    assert "model_path: m.onnx is not a usable ONNX model (" in one_error(capsys)


def test_a_git_lfs_pointer_says_to_pull(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (onnx_repo / "m.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 102400000\n"
    )
    configure(onnx_repo, "model_path: m.onnx\n")
    assert "model_path: m.onnx is a Git LFS pointer, not the model; run `git lfs pull`" in one_error(capsys)


@pytest.mark.parametrize(
    ("shape", "elem"),
    [
        (["N", 1, 28, 28], TensorProto.FLOAT),  # greyscale
        (["N", 3072], TensorProto.FLOAT),  # flat vector input
        (["N", 3, 32, 32, 1], TensorProto.FLOAT),  # rank 5
    ],
)
def test_wrong_input_shape(
    onnx_repo: Path, capsys: pytest.CaptureFixture[str], shape: list[int | str], elem: int
) -> None:
    odd_input_model(onnx_repo / "m.onnx", shape, elem)
    configure(onnx_repo, "model_path: m.onnx\n")
    err = one_error(capsys)
    shown = "(" + ", ".join(str(d) for d in shape) + ")"
    assert f"model_path: m.onnx: input 'x' has shape {shown}; dupgate feeds a batch of RGB images" in err


def test_wrong_input_type_and_count(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd_input_model(onnx_repo / "m.onnx", ["N", 3, 32, 32], TensorProto.DOUBLE)  # uint8 is fed now
    configure(onnx_repo, "model_path: m.onnx\n")
    err = one_error(capsys)
    assert "model_path: m.onnx: input 'x' takes tensor(double); dupgate feeds tensor(float), " in err
    two_input_model(onnx_repo / "m.onnx")
    assert "model_path: m.onnx takes 2 inputs ('a', 'b')" in one_error(capsys)


def test_input_size_that_the_model_does_not_take(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv_model(onnx_repo / "m.onnx", side=32)
    configure(onnx_repo, "model_path: m.onnx\ninput_size: 224\n")
    err = one_error(capsys)
    assert "input_size: 224x224 does not fit m.onnx, whose input 'image' is (32, 32)" in err


def test_an_input_size_the_model_cannot_run(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv_model(onnx_repo / "m.onnx", side="S", head="dense")  # declares any size, runs at 32x32 only
    configure(onnx_repo, "model_path: m.onnx\ninput_size: [8, 10]\n")
    err = one_error(capsys)
    assert "model_path: m.onnx: running the model on 8x10 images failed (" in err


def test_an_output_that_is_not_a_vector(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv_model(onnx_repo / "m.onnx", head="rank3")
    configure(onnx_repo, "model_path: m.onnx\n")
    err = one_error(capsys)
    assert "output_name: output 'features' of m.onnx has shape (1, 8, 1024) for 1 image(s), not a vector" in (
        err
    )


def test_unknown_output_name(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv_model(onnx_repo / "m.onnx")
    configure(onnx_repo, "model_path: m.onnx\noutput_name: fc1\n")
    assert "output_name: 'fc1' is not an output of m.onnx (its outputs: 'features')" in one_error(capsys)


def test_missing_onnxruntime_names_the_extra(
    onnx_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conv_model(onnx_repo / "m.onnx")
    configure(onnx_repo, "model_path: m.onnx\n")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    err = one_error(capsys)
    assert "onnx backend: the onnxruntime package is not installed; pip install 'dupgate-hook[onnx]'" in err
    assert "dupgate-onnx" in err


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mean: [1, 2]", "mean must be a list of 3 numbers"),
        ("mean: [1, 2, x]", "mean must be 3 numbers in 0..255 pixel units"),
        ("std: [58, 0, 57]", "std must be 3 positive numbers"),
        ("channel_order: rgba", "channel_order must be one of rgb, bgr, not 'rgba'"),
        ("resize: fit", "resize must be one of crop, stretch, short_side, not 'fit'"),
        ("input_size: 0", "input_size must be between 8 and 4096, not 0"),
        ("input_size: [224, 224, 3]", "input_size must be a side in pixels or [height, width]"),
        ("output_name: ''", "output_name must be a non-empty string"),
        ("model_path: 3", "model_path must be a non-empty string, not int"),
    ],
)
def test_bad_settings_name_the_key(
    onnx_repo: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    conv_model(onnx_repo / "m.onnx")
    configure(onnx_repo, ("model_path: m.onnx\n" if not line.startswith("model_path") else "") + line + "\n")
    assert f".dupgate.yaml: {expected}" in one_error(capsys)


def test_short_side_on_a_fixed_size_model(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conv_model(onnx_repo / "m.onnx", side=32)
    configure(onnx_repo, "model_path: m.onnx\n")
    assert main(["audit"]) == 0  # the facts are now cached as those of a fixed 32x32 model
    capsys.readouterr()
    configure(onnx_repo, "model_path: m.onnx\nresize: short_side\n")
    err = one_error(capsys)
    assert "resize: short_side feeds pictures of any size, but m.onnx's input 'image' fixes its height" in err
    assert "use resize: crop or stretch" in err


def test_short_side_takes_one_side(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sscd_like_model(onnx_repo / "m.onnx")
    configure(onnx_repo, "model_path: m.onnx\nresize: short_side\ninput_size: [288, 384]\n")
    expected = "input_size must be one side in pixels (the short side) with resize: short_side, not [288,"
    assert f".dupgate.yaml: {expected}" in one_error(capsys)


@pytest.mark.parametrize("key", ["mean", "std"])
def test_mean_or_std_for_a_uint8_model(onnx_repo: Path, capsys: pytest.CaptureFixture[str], key: str) -> None:
    sscd_like_model(onnx_repo / "m.onnx", uint8_nhwc=True)
    configure(onnx_repo, f"model_path: m.onnx\nresize: short_side\n{key}: [1, 2, 3]\n")
    err = one_error(capsys)
    assert f"{key}: m.onnx's input 'image' takes tensor(uint8), raw 0..255 pixels" in err
    assert f"dupgate applies no mean/std; remove {key}" in err


def test_a_size_a_short_side_model_cannot_run(onnx_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Declares any size but runs at 32x32 only: the probe passes, a 4:3 picture does not."""
    conv_model(onnx_repo / "m.onnx", side="S", head="dense")
    configure(onnx_repo, "model_path: m.onnx\nresize: short_side\ninput_size: 32\n")
    err = one_error(capsys)
    assert "model_path: m.onnx: running the model on 32x42 images failed (" in err
    assert "check input_size and resize" in err
