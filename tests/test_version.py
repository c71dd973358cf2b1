"""Version order against distutils' LooseVersion itself, names and filenames."""

import warnings

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
from hypothesis import example, given, settings
from hypothesis import strategies as st

import remotezoo as rz

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from setuptools._distutils.version import LooseVersion

# Versions built from the pieces that matter to LooseVersion: digit runs (with leading zeros),
# lowercase runs, other text, and dots.
piece = st.one_of(
    st.from_regex(r"\A[0-9]{1,25}\Z"),
    st.from_regex(r"\A[a-z]{1,4}\Z"),
    st.sampled_from([".", ".", ".", "-", "_", "+", "A", "RC", "~", ".."]),
)
version = st.lists(piece, min_size=1, max_size=8).map("".join)
# LooseVersion("") is not a version at all (and manifests refuse an empty version).
ascii_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12
)


def loose_compare(a: str, b: str):
    """LooseVersion's answer, or None where LooseVersion raises."""
    try:
        va, vb = LooseVersion(a), LooseVersion(b)
        return (va > vb) - (va < vb)
    except TypeError:
        return None


def check_against_loose(a: str, b: str) -> None:
    expected = loose_compare(a, b)
    got = rz.compare_versions(a, b)
    if expected is not None:
        assert got == expected, (a, b)
    else:
        # Where LooseVersion fails, the first number-vs-string difference decides: numbers first.
        assert got in (-1, 1)
    assert rz.compare_versions(b, a) == -got


@settings(max_examples=1500)
@given(version, version)
@example("1.10", "1.9")
@example("1.9-beta", "1.9")
@example("1.0", "1.0.0")
@example("01", "1")
@example("2a", "2.a")
def test_order_matches_looseversion(a, b):
    check_against_loose(a, b)


@settings(max_examples=800)
@given(ascii_text, ascii_text)
def test_order_matches_looseversion_on_any_ascii(a, b):
    check_against_loose(a, b)


@settings(max_examples=500)
@given(version, version, version)
def test_order_is_total_and_transitive(a, b, c):
    ab, bc, ac = (rz.compare_versions(x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert rz.compare_versions(a, a) == 0
    if ab <= 0 and bc <= 0:
        assert ac <= 0


@pytest.mark.parametrize(
    "older, newer",
    [
        ("1.2", "1.10"),
        ("1.9", "1.10"),
        ("1.9-beta", "1.10"),
        ("1.2", "1.9-beta"),
        ("1.0", "1.0.1"),
        ("1.0", "1.0a"),
        ("1.0", "1.0-1"),
        (None, "0.0.1"),
        ("99999999999999999999999", "100000000000000000000000"),
    ],
)
def test_known_order(older, newer):
    assert rz.compare_versions(older, newer) == -1
    assert rz.compare_versions(newer, older) == 1


@pytest.mark.parametrize(
    "number, letters",
    [("1.0", "1.a"), ("2", "a"), ("1.2.3", "1.2.x"), ("0", "rc")],
)
def test_numbers_sort_before_letters_where_looseversion_raises(number, letters):
    with pytest.raises(TypeError):
        LooseVersion(number) < LooseVersion(letters)
    assert rz.compare_versions(number, letters) == -1
    assert rz.compare_versions(letters, number) == 1


def test_no_version_is_zero():
    assert rz.compare_versions(None, "0.0.0") == 0
    assert rz.compare_versions(None, "0") == 1  # [0, 0, 0] > [0]
    assert rz.compare_versions(None, "0.0.1") == -1
    assert rz.compare_versions(None, None) == 0


@pytest.mark.parametrize(
    "base_name, version, base_filename, name, filename",
    [
        (
            "voxel51/clip-vit-base32-torch",
            "1.0",
            "clip.pt",
            "voxel51/clip-vit-base32-torch@1.0",
            "clip-v1.0.pt",
        ),
        (
            "voxel51/clip-vit-base32-torch",
            None,
            "clip.pt",
            "voxel51/clip-vit-base32-torch",
            "clip.pt",
        ),
        ("model.onnx", "2.1", "dir/model.onnx", "model@2.1.onnx", "dir/model-v2.1.onnx"),
        ("a.b/model", "3", "weights", "a.b/model@3", "weights-v3"),
        (".hidden", "1", ".rc", ".hidden@1", ".rc-v1"),
        ("x", "1", None, "x@1", None),
        ("arch.tar.gz", "1", "arch.tar.gz", "arch.tar@1.gz", "arch.tar-v1.gz"),
    ],
)
def test_names_and_filenames(base_name, version, base_filename, name, filename):
    import os.path

    assert rz._core.model_names(base_name, version, base_filename) == (name, filename)
    # The same rule as os.path.splitext, which FiftyOne uses.
    if version:
        stem, ext = os.path.splitext(base_name)
        assert name == f"{stem}@{version}{ext}"


@settings(max_examples=1000)
@given(st.text(alphabet="ab./", min_size=1, max_size=10), st.from_regex(r"\A[0-9a-z.]{1,5}\Z"))
def test_filename_follows_splitext(base, ver):
    import os.path

    stem, ext = os.path.splitext(base)
    assert rz._core.model_names("m", ver, base)[1] == f"{stem}-v{ver}{ext}"
