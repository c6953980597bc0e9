"""Image perturbations, loading, saving and probes on real encoded files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tools.pure.images import PERTURBATIONS, load_image, perturb, save_image
from tools.pure.probes import probe_image
from tools.safety import UnsafeInputError


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A 240x320 BGR picture with edges, text and texture, so every op has something to change."""
    rng = np.random.default_rng(0)
    img = np.full((240, 320, 3), 235, np.uint8)
    cv2.rectangle(img, (20, 20), (140, 120), (40, 90, 200), -1)
    cv2.circle(img, (230, 90), 50, (30, 160, 60), -1)
    cv2.putText(img, "B 42", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (10, 10, 10), 3)
    img[150:240, 200:320] = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    return img


def high_frequency_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(gray, cv2.CV_64F) ** 2))


def test_defaults_cover_every_op_and_keep_content(scene: np.ndarray) -> None:
    assert set(PERTURBATIONS) == {"resize", "blur", "noise", "jpeg"}
    for op in PERTURBATIONS:
        out = perturb(scene, op, seed=1)
        assert out.dtype == np.uint8 and out.ndim == 3
        back = cv2.resize(out, (scene.shape[1], scene.shape[0]), interpolation=cv2.INTER_LINEAR)
        region = (slice(0, 140), slice(0, 320))  # shapes only, no random texture
        assert np.mean(np.abs(back[region].astype(int) - scene[region])) < 10, op


@pytest.mark.parametrize(
    ("params", "size"),
    [({"width": 100, "height": 50}, (50, 100)), ({"width": 160}, (120, 160)), ({"height": 60}, (60, 80)),
     ({"scale": 0.5}, (120, 160)), ({}, (180, 240))],
)
def test_resize_gives_requested_size(scene: np.ndarray, params: dict, size: tuple[int, int]) -> None:
    assert perturb(scene, "resize", seed=0, **params).shape[:2] == size


def test_blur_reduces_high_frequency_energy(scene: np.ndarray) -> None:
    soft, softer = perturb(scene, "blur", seed=0), perturb(scene, "blur", seed=0, sigma=3.0)
    assert high_frequency_energy(softer) < high_frequency_energy(soft) < 0.5 * high_frequency_energy(scene)


def test_noise_is_seeded(scene: np.ndarray) -> None:
    a, b, c = (perturb(scene, "noise", seed=s) for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    diff = a.astype(np.float64) - scene
    assert abs(diff.std() - PERTURBATIONS["noise"]["std"]) < 1.0


def test_lower_jpeg_quality_gives_smaller_files_and_more_loss(tmp_path: Path, scene: np.ndarray) -> None:
    sizes, losses = [], []
    for quality in (90, 50, 15):
        save_image(tmp_path / f"q{quality}.jpg", scene, quality=quality)
        sizes.append((tmp_path / f"q{quality}.jpg").stat().st_size)
        losses.append(np.abs(perturb(scene, "jpeg", seed=0, quality=quality).astype(int) - scene).mean())
    assert sizes[0] > sizes[1] > sizes[2]
    assert 0 < losses[0] < losses[1] < losses[2]
    assert np.array_equal(load_image(tmp_path / "q50.jpg"), perturb(scene, "jpeg", seed=0, quality=50))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_save_is_deterministic_and_loads_back(tmp_path: Path, scene: np.ndarray, suffix: str) -> None:
    out = perturb(scene, "blur", seed=3)
    save_image(tmp_path / f"a{suffix}", out)
    save_image(tmp_path / f"b{suffix}", perturb(scene, "blur", seed=3))
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    loaded = load_image(tmp_path / f"a{suffix}")
    assert loaded.shape == scene.shape and loaded.dtype == np.uint8
    shapes = (slice(0, 140), slice(0, 320))  # lossy codecs smear the random texture, not the shapes
    tolerance = 0 if suffix == ".png" else 2
    assert np.abs(loaded[shapes].astype(int) - out[shapes]).mean() <= tolerance
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_save_refuses_unknown_suffix(tmp_path: Path, scene: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot save"):
        save_image(tmp_path / "x.gif", scene)


def test_load_flattens_modes_to_bgr(tmp_path: Path) -> None:
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 255  # red, half of it transparent
    rgba[:, :6, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(tmp_path / "gray.png")
    bgr = load_image(tmp_path / "rgba.png")
    assert bgr.shape == (10, 12, 3)
    assert bgr[0, 0].tolist() == [0, 0, 255] and bgr[0, 11].tolist() == [255, 255, 255]
    assert load_image(tmp_path / "gray.png")[0, 0].tolist() == [77, 77, 77]


def test_load_refuses_bad_files(tmp_path: Path, scene: np.ndarray) -> None:
    save_image(tmp_path / "ok.jpg", scene)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really" * 20)
    for name in ("cut.jpg", "junk.png", "missing.png"):
        with pytest.raises(UnsafeInputError):
            load_image(tmp_path / name)


def test_probe_reports_good_bad_and_blank(tmp_path: Path, scene: np.ndarray) -> None:
    save_image(tmp_path / "ok.png", scene)
    probe = probe_image(tmp_path / "ok.png")
    assert probe.decodes and (probe.width, probe.height, probe.channels) == (320, 240, 3) and not probe.blank
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.png").write_bytes(bytes(range(256)) * 4)
    for name in ("cut.png", "garbage.png", "missing.png"):
        bad = probe_image(tmp_path / name)
        assert not bad.decodes and bad.error, bad
    save_image(tmp_path / "red.png", np.full((40, 60, 3), (0, 0, 255), np.uint8))
    save_image(tmp_path / "faint.png", perturb(np.full((40, 60, 3), 128, np.uint8), "noise", seed=0, std=0.5))
    for name in ("red.png", "faint.png"):
        assert probe_image(tmp_path / name).blank, name
    Image.fromarray(np.full((8, 9), 200, np.uint8), "L").save(tmp_path / "gray.png")
    gray = probe_image(tmp_path / "gray.png")
    assert gray.decodes and gray.channels == 1 and gray.blank


# --- registered image tools, run through the registry on files in a workspace ---------------------

from support import png_header  # noqa: E402

from tools.pure.images import Box, bgr, center_on, fit, grid, mark, occlude, rotate, scale_to_fit  # noqa: E402
from tools.registry import ToolError, Workspace, call  # noqa: E402


@pytest.fixture()
def ws(tmp_path: Path, scene: np.ndarray) -> Workspace:
    pool = tmp_path / "pool"
    pool.mkdir()
    save_image(pool / "scene.png", scene)
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,), seed=7)


def run_tool(ws: Workspace, name: str, **params: object) -> tuple[np.ndarray, dict]:
    result = call(name, params, ws)
    return load_image(ws.run_dir / result.outputs[0]), result.values


@pytest.mark.parametrize(
    ("params", "size"),
    [({"width": 100, "height": 50}, (100, 50)), ({"width": 160}, (160, 120)), ({"scale": 1.5}, (480, 360)),
     ({"aspect": "16:9"}, (320, 180)), ({"aspect": "16:9", "fit": "pad"}, (432, 243)),
     ({"aspect": "1:1", "width": 64}, (64, 64)), ({"aspect": "4:6", "fit": "pad"}, (320, 480))],
)
def test_resize_image_gives_requested_size_and_exact_aspect(ws: Workspace, params: dict, size: tuple) -> None:
    out, values = run_tool(ws, "resize_image", image="scene.png", out="r.png", **params)
    assert (out.shape[1], out.shape[0]) == size == (values["width"], values["height"])
    if "aspect" in params:
        a, b = map(int, params["aspect"].split(":"))
        assert out.shape[1] * b == out.shape[0] * a


def test_aspect_crop_keeps_the_centre_and_pad_keeps_everything(ws: Workspace, scene: np.ndarray) -> None:
    cropped, _ = run_tool(ws, "resize_image", image="scene.png", out="c.png", aspect="1:1")
    assert np.array_equal(cropped, scene[:, 40:280])
    padded, _ = run_tool(ws, "resize_image", image="scene.png", out="p.png", aspect="1:1", fit="pad",
                         pad_color="#00FF00")
    assert np.array_equal(padded[40:280], scene) and (padded[:40] == bgr("#00FF00")).all()


def test_crop_equals_source_slice_and_pad_centres(ws: Workspace, scene: np.ndarray) -> None:
    box = {"x": 15, "y": 30, "width": 101, "height": 77}
    out, values = run_tool(ws, "crop_pad_image", image="scene.png", out="c.png", box=box)
    assert np.array_equal(out, scene[30:107, 15:116]) and values["box"] == box
    padded, _ = run_tool(ws, "crop_pad_image", image="scene.png", out="p.png", box=box, pad_width=121,
                         pad_height=80, color="#0000FF")
    assert padded.shape == (80, 121, 3) and np.array_equal(padded[1:78, 10:111], scene[30:107, 15:116])
    assert (padded[:, :10] == (255, 0, 0)).all() and (padded[78:] == (255, 0, 0)).all()


@pytest.mark.parametrize(("degrees", "k"), [(90, 1), (-90, 3), (180, 2), (270, 3), (360, 0)])
def test_rotation_by_right_angles_equals_rot90(ws: Workspace, scene: np.ndarray, degrees: int, k: int) -> None:
    out, _ = run_tool(ws, "rotate_image", image="scene.png", out="r.png", degrees=degrees)
    assert np.array_equal(out, np.rot90(scene, k))


def test_rotation_without_expand_keeps_size_and_expand_holds_corners(scene: np.ndarray) -> None:
    same = rotate(scene, 90, expand=False, color="#000000")
    assert same.shape == scene.shape and np.array_equal(same[:, 40:280], np.rot90(scene)[40:280])
    assert (same[:, :40] == 0).all()
    tilted = rotate(scene, 30, expand=True, color="#FF00FF")
    assert tilted.shape[:2] == (368, 398)  # ceil(240 cos 30 + 320 sin 30), ceil(320 cos 30 + 240 sin 30)
    assert tilted[0, 0].tolist() == list(bgr("#FF00FF")) and rotate(scene, 30, expand=False).shape == scene.shape


def test_occlusion_changes_exactly_the_boxes(ws: Workspace, scene: np.ndarray) -> None:
    boxes = [{"x": 10, "y": 5, "width": 50, "height": 40}, {"x": 200, "y": 150, "width": 30, "height": 60}]
    out, values = run_tool(ws, "occlude_image", image="scene.png", out="o.png", boxes=boxes, color="#FF00FF")
    expected = np.zeros(scene.shape[:2], bool)
    for b in boxes:
        expected[b["y"] : b["y"] + b["height"], b["x"] : b["x"] + b["width"]] = True
    assert np.array_equal((out != scene).any(axis=2), expected)
    assert (out[expected] == bgr("#FF00FF")).all() and values["boxes"] == boxes


def test_random_occlusion_is_seeded_and_inside(ws: Workspace, scene: np.ndarray) -> None:
    files = {}
    for name, seed in (("a.png", 3), ("b.png", 3), ("c.png", 4)):
        result = call("occlude_image", {"image": "scene.png", "out": name, "patches": 5, "seed": seed}, ws)
        files[name] = (ws.run_dir / result.outputs[0]).read_bytes()
        boxes = [Box(**b) for b in result.values["boxes"]]
        assert len(boxes) == 5 and all(b.width == 24 for b in boxes)
        assert np.array_equal(occlude(scene, boxes), load_image(ws.run_dir / result.outputs[0]))
    assert files["a.png"] == files["b.png"] != files["c.png"]


def test_noise_is_byte_identical_per_seed_and_defaults_to_the_run_seed(ws: Workspace) -> None:
    outputs = [call("noise_image", {"image": "scene.png", "out": f"n{i}.png", "std": 10, "seed": s}, ws)
               for i, s in enumerate((1, 1, 2))]
    data = [(ws.run_dir / r.outputs[0]).read_bytes() for r in outputs]
    assert data[0] == data[1] != data[2]
    default = call("noise_image", {"image": "scene.png", "out": "d.png"}, ws)
    assert default.values["seed"] == ws.seed and default.provenance.inputs == ["scene.png"]


def test_blur_and_jpeg_tools_match_perturb(ws: Workspace, scene: np.ndarray) -> None:
    blurred, _ = run_tool(ws, "blur_image", image="scene.png", out="b.png", sigma=2.0)
    assert np.array_equal(blurred, perturb(scene, "blur", 0, sigma=2.0))
    jpeg, _ = run_tool(ws, "jpeg_image", image="scene.png", out="j.png", quality=20)
    assert np.array_equal(jpeg, perturb(scene, "jpeg", 0, quality=20))


@pytest.mark.parametrize("thickness", [1, 4])
def test_mark_region_outline_has_the_colour_and_leaves_the_box(ws: Workspace, scene: np.ndarray,
                                                               thickness: int) -> None:
    box = {"x": 100, "y": 60, "width": 80, "height": 50}
    out, values = run_tool(ws, "mark_region", image="scene.png", out="m.png", box=box, color="#00FFFF",
                           thickness=thickness)
    assert values["box"] == box
    ring = np.zeros(scene.shape[:2], bool)
    ring[60 - thickness : 110 + thickness, 100 - thickness : 180 + thickness] = True
    ring[60:110, 100:180] = False
    assert (out[ring] == bgr("#00FFFF")).all() and np.array_equal(out[~ring], scene[~ring])


def test_mark_region_mask_tints_only_outside(scene: np.ndarray) -> None:
    box = Box(x=0, y=0, width=100, height=100)
    out = mark(scene, box, style="mask", color="#000000", opacity=0.5)
    assert np.array_equal(out[:100, :100], scene[:100, :100])
    assert np.abs(out[:, 100:].astype(int) - scene[:, 100:] / 2).max() <= 0.5  # half way to black


def test_grid_cells_hold_the_right_source_pixels(ws: Workspace, tmp_path: Path, scene: np.ndarray) -> None:
    pool = ws.read_roots[0]
    parts = [scene[:120, :160], scene[120:, 160:], scene[:, :80]]  # the last is narrower: it is fitted
    for i, part in enumerate(parts):
        save_image(pool / f"p{i}.png", np.ascontiguousarray(part))
    out, values = run_tool(ws, "image_grid", images=[f"p{i}.png" for i in range(3)], out="g.png", cols=2,
                           gap=6, labels=["A", "B", "C"])
    assert (values["rows"], values["cols"]) == (2, 2) and out.shape[:2] == (values["height"], values["width"])
    cells = values["cells"]
    for part, cell in zip(parts[:2], cells[:2], strict=True):
        assert cell["box"] == cell["image_box"]
        assert np.array_equal(out[Box(**cell["box"]).slices()], part)
    fitted, inner = fit(parts[2], 160, 120)
    assert inner == Box(x=60, y=0, width=40, height=120)
    assert np.array_equal(out[Box(**cells[2]["image_box"]).slices()], fitted[inner.slices()])
    assert cells[2]["box"] == {"x": 6, "y": 6 + 120 + 28 + 6, "width": 160, "height": 120}
    label = out[6 + 120 : 6 + 120 + 28, 6:166]
    assert (label < 100).any() and cells[1]["label"] == "B"


def test_scale_to_fit_is_idempotent() -> None:
    rng = np.random.default_rng(2)
    for _ in range(200):
        h, w, ch, cw = (int(v) for v in rng.integers(1, 300, 4))
        once = scale_to_fit(np.zeros((h, w, 3), np.uint8), cw, ch)
        assert once.shape[0] <= ch and once.shape[1] <= cw and (once.shape[0] == ch or once.shape[1] == cw)
        assert scale_to_fit(once, cw, ch) is once


def test_grid_refuses_too_many_images(scene: np.ndarray) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        grid([scene] * 5, 2, 2, 32, 32)


def test_center_on_crops_and_pads_evenly(scene: np.ndarray) -> None:
    assert np.array_equal(center_on(scene, 300, 200), scene[20:220, 10:310])
    big = center_on(scene, 330, 250, "#FFFFFF")
    assert np.array_equal(big[5:245, 5:325], scene) and (big[:5] == 255).all()


def test_hostile_inputs_and_outputs_are_refused(ws: Workspace) -> None:
    pool = ws.read_roots[0]
    png_header(pool / "bomb.png", 10_000, 10_000)  # 100 MP claimed by a few bytes
    with pytest.raises(ToolError, match="100,000,000 pixels, over"):
        call("blur_image", {"image": "bomb.png", "out": "x.png"}, ws)
    with pytest.raises(ToolError, match="leaves its root"):
        call("blur_image", {"image": "../pool/../../etc/passwd", "out": "x.png"}, ws)
    with pytest.raises(ToolError, match="bad parameters for blur_image: out"):
        call("blur_image", {"image": "scene.png", "out": "../x.png"}, ws)
    with pytest.raises(ToolError, match="suffixes"):
        call("blur_image", {"image": "scene.png", "out": "x.txt"}, ws)
    assert not (ws.run_dir / "media" / "x.png").exists()


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [("resize_image", {}, "give width, height, scale or aspect"),
     ("resize_image", {"scale": 2, "width": 10}, "not both"),
     ("resize_image", {"width": 20000, "height": 20000}, "pixel cap"),
     ("crop_pad_image", {"box": {"x": 300, "y": 0, "width": 30, "height": 10}}, "leaves the 320x240 image"),
     ("crop_pad_image", {"pad_width": 100}, "crop it first"),
     ("occlude_image", {}, "boxes or a number"),
     ("rotate_image", {"degrees": 720}, "degrees"),
     ("image_grid", {"images": ["scene.png"] * 5, "rows": 2, "cols": 2}, "do not fit")],
)
def test_bad_parameters_give_clear_errors(ws: Workspace, name: str, params: dict, match: str) -> None:
    params = {"out": "x.png", **params}
    params.setdefault("images" if name == "image_grid" else "image", "scene.png")
    with pytest.raises(ToolError, match=match):
        call(name, params, ws)
