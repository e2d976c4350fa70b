"""Refinement with a host's SD1.5 UNet and VAE (issue 7), on tiny randomly
initialised SD1.5-shaped models built in-process (tests/sd_tiny.py) and on
real rendered frames and masks: shapes, that every attn1 layer is extended,
that nothing outside the mask changes, identity at strength 0, that no hook
outlives a job (after success, an error or an interrupt, next to other
extensions' hooks), determinism, and the ComfyUI, A1111 and Forge adapters
against objects shaped like the hosts' own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sd_tiny  # noqa: E402
from voxportrait.refine import RefineError, RefineInterrupted, RefineOptions  # noqa: E402
from voxportrait.refine.attention import FrameAttention, biased_attention  # noqa: E402
from voxportrait.refine.core import Refiner, feather_inward, refine_frames  # noqa: E402
from voxportrait.refine.patcher import attn1_keys  # noqa: E402
from voxportrait.refine.webui import A1111Host, ForgeHost, host_for_webui  # noqa: E402

FAST = dict(steps=8, strength=0.5, frames_per_batch=2, feather=2, crop_to_mask=False, work_size=64)


@pytest.fixture
def comfy_mm(monkeypatch):
    """Loads tests/comfy_fakes' comfy.model_management under its real name for one test."""
    from pathlib import Path

    root = Path(__file__).parent / "comfy_fakes" / "comfy"
    mods = {}
    for name in ("comfy", "comfy.model_management"):
        path = root / ("__init__.py" if name == "comfy" else "model_management.py")
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, mod)
        spec.loader.exec_module(mod)
        mods[name] = mod
    mods["comfy"].model_management = mods["comfy.model_management"]
    return mods["comfy.model_management"]


def frames_and_mask(n=3, h=64, w=64, seed=0):
    g = np.random.default_rng(seed)
    base = g.uniform(0.2, 0.8, (1, h, w, 3)).astype(np.float32)
    frames = np.repeat(base, n, axis=0) + g.normal(0, 0.02, (n, h, w, 3)).astype(np.float32)
    mask = np.zeros((n, h, w), np.float32)
    mask[:, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1.0
    return torch.from_numpy(np.clip(frames, 0, 1)), torch.from_numpy(mask)


def comfy_host(comfy_mm, seed=0):
    from voxportrait.refine.comfy import ComfyHost

    model, vae, clip = sd_tiny.comfy_objects(seed)
    return ComfyHost(model, vae, clip)


# --- the method ----------------------------------------------------------------------------


def test_output_has_the_input_shape_and_type(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(5)
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert isinstance(out, torch.Tensor) and out.shape == frames.shape and out.dtype == torch.float32
    u8 = (frames.numpy() * 255).astype(np.uint8)
    out8 = refine_frames(host, u8, u8[0], mask.numpy(), RefineOptions(**FAST))
    assert isinstance(out8, np.ndarray) and out8.dtype == np.uint8 and out8.shape == u8.shape


def test_every_attn1_layer_attends_to_the_bank(comfy_mm):
    host = comfy_host(comfy_mm)
    keys = attn1_keys(host.patcher.model.diffusion_model)
    assert len(keys) == 16  # SD1.5: 6 down, 1 middle, 9 up
    frames, mask = frames_and_mask(2)
    r = Refiner(host, frames[0], RefineOptions(**FAST))
    r.refine(frames, mask)
    assert set(r.bank.calls) == set(keys)
    assert len(set(r.bank.calls.values())) == 1  # each layer once per UNet call
    assert set(r.bank.reference) == set(keys)


def test_pixels_outside_the_mask_are_unchanged_and_inside_they_change(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(3)
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST, region="mouth"))
    outside = mask == 0
    assert torch.equal(out[outside], frames[outside])
    assert (out[mask > 0] - frames[mask > 0]).abs().mean() > 1e-3


def test_strength_zero_is_the_identity(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(3)
    for region in ("mouth", "full"):
        out = refine_frames(host, frames, frames[0], mask, RefineOptions(**{**FAST, "strength": 0.0}, region=region))
        assert torch.equal(out, frames)
    assert host.patcher.model.calls == 0


def test_same_seed_same_result_other_seed_differs(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(3)
    a = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST, seed=5, sampler="euler_ancestral"))
    b = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST, seed=5, sampler="euler_ancestral"))
    c = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST, seed=6, sampler="euler_ancestral"))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "heun", "dpmpp_2m"])
@pytest.mark.parametrize("scheduler", ["karras", "normal"])
def test_every_sampler_and_scheduler_runs_with_cfg(comfy_mm, sampler, scheduler):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(2)
    out = refine_frames(host, frames, frames[0], mask,
                        RefineOptions(**{**FAST, "steps": 4}, sampler=sampler, scheduler=scheduler, cfg=3.0))
    assert torch.isfinite(out).all() and out.shape == frames.shape


def test_reference_and_cross_frame_attention_each_change_the_result(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(3)
    ref = torch.flip(frames[:1], dims=[2])
    runs = {(rf, cf): refine_frames(host, frames, ref, mask, RefineOptions(**FAST, reference_fidelity=rf,
                                                                           cross_frame_weight=cf))
            for rf, cf in [(0, 0), (1, 0), (0, 1), (2, 2)]}
    assert not torch.equal(runs[(0, 0)], runs[(1, 0)])
    assert not torch.equal(runs[(0, 0)], runs[(0, 1)])
    assert not torch.equal(runs[(1, 0)], runs[(2, 2)])


def test_patched_model_with_an_idle_bank_computes_what_the_host_model_does(comfy_mm):
    """Our attn1 replace (biased attention) is exact attention when the bank is idle."""
    host = comfy_host(comfy_mm)
    x = torch.randn(2, 4, 8, 8)
    sigma = torch.tensor([3.0, 3.0])
    cond = host.empty_cond().expand(2, -1, -1)
    plain = host.denoise(x, sigma, cond)
    bank = FrameAttention()
    with host.patched(bank):
        hooked = host.denoise(x, sigma, cond)
    assert torch.allclose(plain, hooked, atol=1e-5)


def test_bank_appends_reference_first_and_previous_frames_with_log_weight_bias():
    bank = FrameAttention(reference_weight=2.0, cross_frame_weight=0.5)
    key = ("input", 1, 0)
    bank.mode = "write"
    bank.extra_tokens(key, torch.ones(1, 6, 4) * 7)
    bank.mode, bank.groups, bank.step = "read", 2, 0
    n = torch.arange(4 * 6 * 4, dtype=torch.float32).reshape(4, 6, 4)  # 2 CFG groups x 2 frames
    ctx = bank.context(key, n)
    assert ctx.shape == (4, 24, 4)
    assert torch.equal(ctx[:, 6:12], torch.full((4, 6, 4), 7.0))  # reference
    assert torch.equal(ctx[1, 12:18], n[0]) and torch.equal(ctx[3, 12:18], n[2])  # first frame per group
    assert torch.equal(ctx[1, 18:24], n[0]) and torch.equal(ctx[0, 18:24], n[0])  # previous frame
    bias = bank.bias(key, "cpu", torch.float32)
    assert torch.allclose(bias, torch.tensor([0.0] * 6 + [np.log(2.0)] * 6 + [np.log(0.5)] * 12, dtype=torch.float32))
    bank.end_batch()
    n2 = n + 1000
    ctx2 = bank.context(key, n2)
    assert torch.equal(ctx2[0, 18:24], n[1])  # across batches: last frame of the previous batch
    assert torch.equal(ctx2[0, 12:18], n[0])  # and still the job's first frame


def test_biased_attention_with_zero_bias_is_plain_attention():
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    a = biased_attention(q, k, v, 2, torch.zeros(7))
    b = biased_attention(q, k, v, 2, None)
    assert torch.allclose(a, b, atol=1e-6)


def test_feathered_mask_stays_inside_the_mask():
    m = torch.zeros(1, 40, 40)
    m[:, 10:30, 10:30] = 1
    f = feather_inward(m, 4)
    assert torch.equal(f[m == 0], torch.zeros_like(f[m == 0]))
    assert f[0, 20, 20] == 1.0 and 0 < f[0, 10, 20] < 0.5


def test_crop_to_mask_refines_a_box_at_work_size_and_leaves_the_rest(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, _ = frames_and_mask(2, 256, 320)
    mask = torch.zeros(2, 256, 320)
    mask[:, 150:190, 120:200] = 1
    r = Refiner(host, frames[0], RefineOptions(**{**FAST, "crop_to_mask": True, "work_size": 128}))
    out = r.refine(frames, mask)
    assert torch.equal(out[mask == 0], frames[mask == 0])
    y0, y1, x0, x1 = r._box
    assert y0 <= 150 and y1 >= 190 and x0 <= 120 and x1 >= 200 and (y1 - y0) < 256


# --- hooks are scoped to the job -----------------------------------------------------------


def test_comfy_hooks_go_on_a_clone_and_foreign_patches_keep_working(comfy_mm):
    host = comfy_host(comfy_mm)
    seen = []

    def foreign_patch(n, c, v, extra):
        seen.append("patch")
        return n, c, v

    def foreign_replace(q, k, v, extra):
        seen.append(k.shape[1])
        return biased_attention(q, k, v, extra["n_heads"], None)

    host.patcher.set_model_attn1_patch(foreign_patch)
    host.patcher.set_model_patch_replace(foreign_replace, "attn1", "input", 1, 0)
    import copy

    before = copy.copy(host.patcher.model_options["transformer_options"])
    frames, mask = frames_and_mask(2)
    refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    to = host.patcher.model_options["transformer_options"]
    assert to["patches"]["attn1_patch"] == [foreign_patch]
    assert to["patches_replace"]["attn1"] == {("input", 1, 0): foreign_replace}
    assert to.keys() == before.keys()
    assert "patch" in seen
    # The foreign replace on input 1 still ran, on our extended keys (own + reference + 2 frames).
    # 64x64 frames: input block 1 has 8x8 = 64 tokens; read passes see own + reference + 2 frames.
    assert max(k for k in seen if isinstance(k, int)) == 4 * 64
    assert comfy_mm.LOADED and all(p is not host.patcher for p in comfy_mm.LOADED)


def test_comfy_interrupt_stops_the_job_and_leaves_no_hook(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(4)
    comfy_mm.interrupt_after(3)
    with pytest.raises(comfy_mm.InterruptProcessingException):
        refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert host.patcher.model_options == {"transformer_options": {}}


def test_a1111_hooks_are_removed_after_success_error_and_interrupt():
    sd = sd_tiny.LatentDiffusion()

    class State:
        interrupted = False

    state = State()
    host = A1111Host(sd, state)
    blocks = host.blocks()
    assert len(blocks) == 16
    # Another extension (say ControlNet's reference-only) hooked one block before us.
    foreign = blocks[3][1]
    foreign_fn = foreign._forward
    foreign._forward = foreign_fn

    def hooked():
        return [b for _, b in blocks if "_forward" in b.__dict__]

    frames, mask = frames_and_mask(2)
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert out.shape == frames.shape and hooked() == [foreign] and foreign._forward is foreign_fn

    def boom(*a, **k):
        raise RuntimeError("boom")

    sd.first_stage_model.decode = boom
    with pytest.raises(RuntimeError, match="boom"):
        refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert hooked() == [foreign]

    calls = {"n": 0}

    def check():
        calls["n"] += 1
        if calls["n"] > 2:
            state.interrupted = True
        if state.interrupted:
            raise RefineInterrupted("interrupted by the user")

    host.check_interrupt = check
    with pytest.raises(RefineInterrupted):
        refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert hooked() == [foreign]


def test_a1111_adapter_refines_with_the_loaded_model_deterministically():
    sd = sd_tiny.LatentDiffusion()
    host = host_for_webui(sd)
    assert isinstance(host, A1111Host)
    frames, mask = frames_and_mask(3)
    a = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    b = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert torch.equal(a, b) and torch.equal(a[mask == 0], frames[mask == 0])
    assert sd.apply_calls > 0
    # Every block's attn1 saw the bank: run one more job and count.
    r = Refiner(host, frames[0], RefineOptions(**FAST))
    r.refine(frames[:2], mask[:2])
    assert len(r.bank.calls) == 16


def test_a1111_idle_hook_matches_the_original_block():
    sd = sd_tiny.LatentDiffusion()
    host = A1111Host(sd)
    x = torch.randn(2, 4, 8, 8)
    sigma = torch.tensor([2.0, 2.0])
    cond = host.empty_cond().expand(2, -1, -1)
    plain = host.denoise(x, sigma, cond)
    bank = FrameAttention()
    with host.patched(bank):
        bank.mode = "read"  # empty bank, no extra sources: must equal ldm's own forward
        bank.cross_frame_weight = 0
        hooked = host.denoise(x, sigma, cond)
    assert torch.allclose(plain, hooked, atol=1e-5)


def test_forge_adapter_patches_a_clone_of_the_unet_patcher():
    engine = sd_tiny.ForgeEngine()
    mm = sd_tiny.ForgeMemoryManagement()
    host = ForgeHost(engine, memory_management=mm)
    frames, mask = frames_and_mask(3)
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert out.shape == frames.shape and torch.equal(out[mask == 0], frames[mask == 0])
    unet = engine.forge_objects.unet
    assert unet.model_options == {"transformer_options": {}}
    assert mm.loaded and all(p is not unet for p in mm.loaded)
    assert len(host.discrete_sigmas()) == 1000


def test_webui_picks_forge_when_forge_objects_exist(monkeypatch):
    engine = sd_tiny.ForgeEngine()
    import types

    backend = types.ModuleType("backend")
    backend.memory_management = sd_tiny.ForgeMemoryManagement()
    monkeypatch.setitem(sys.modules, "backend", backend)
    monkeypatch.setitem(sys.modules, "backend.memory_management", backend.memory_management)
    assert isinstance(host_for_webui(engine), ForgeHost)
    with pytest.raises(RefineError, match="no Stable Diffusion checkpoint"):
        host_for_webui(None)


# --- real rendered frames ------------------------------------------------------------------


def test_refines_real_rendered_frames_inside_the_renderers_mouth_mask(comfy_mm):
    import voxportrait
    from helpers import PORTRAIT, SPEECH_1S

    motion = voxportrait.audio_to_motion(SPEECH_1S, fps=25)
    frames, face, mouth = voxportrait.Renderer(PORTRAIT, framing="resize", size=256).render(motion, 5, 9, masks=True)
    host = comfy_host(comfy_mm)
    opts = RefineOptions(steps=6, strength=0.4, frames_per_batch=2, region="mouth", work_size=128)
    out = refine_frames(host, frames, frames[0], mouth, opts)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.array_equal(out[mouth == 0], frames[mouth == 0])
    assert np.abs(out[mouth == 255].astype(int) - frames[mouth == 255]).mean() > 0.5


# --- options and manners -------------------------------------------------------------------


@pytest.mark.parametrize("bad,match", [
    (dict(strength=1.5), "strength"), (dict(steps=0), "steps"), (dict(sampler="plms"), "sampler"),
    (dict(region="hair"), "region"), (dict(cfg=-1), "cfg"), (dict(frames_per_batch=0), "frames per batch"),
])
def test_bad_options_are_refused_with_the_setting_named(bad, match):
    with pytest.raises(RefineError, match=match):
        RefineOptions(**bad).validate()
    with pytest.raises(RefineError, match="unknown refine option"):
        RefineOptions.from_dict({"strenght": 0.3})


def test_region_needs_a_mask_unless_full(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, _ = frames_and_mask(1)
    with pytest.raises(RefineError, match="needs the renderer's mouth mask"):
        refine_frames(host, frames, frames[0], None, RefineOptions(**FAST))


def test_importing_voxportrait_and_refine_options_loads_no_torch():
    code = "import sys, voxportrait, voxportrait.refine; voxportrait.refine.RefineOptions(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- review findings -----------------------------------------------------------------------


def test_nan_from_the_vae_never_reaches_pixels_outside_the_mask(comfy_mm):
    host = comfy_host(comfy_mm)
    real = host.vae.decode

    def nan_decode(z):
        out = real(z).clone()
        out[:, ::2] = float("nan")  # an fp16 VAE overflowing on every other row
        return out

    host.vae.decode = nan_decode
    frames, mask = frames_and_mask(2)
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST))
    assert torch.equal(out[mask == 0], frames[mask == 0]) and torch.isfinite(out).all()


def test_uint8_masks_are_read_as_0_to_255():
    from voxportrait.refine.core import _as_masks

    faint = np.zeros((1, 8, 8), np.uint8)
    faint[0, 2:6, 2:6] = 1  # a faint feather edge, not an opaque mask
    assert float(_as_masks(faint, 1, 8, 8).max()) == pytest.approx(1 / 255)
    assert float(_as_masks(faint * 255, 1, 8, 8).max()) == 1.0


def test_cfg_with_prompts_of_different_lengths(comfy_mm):
    host = comfy_host(comfy_mm)
    frames, mask = frames_and_mask(2)
    long_prompt = torch.randn(1, 154, 768) * 0.1  # over 75 tokens: two chunks
    out = refine_frames(host, frames, frames[0], mask, RefineOptions(**FAST, cfg=4.0), cond=long_prompt,
                        uncond=torch.zeros(1, 77, 768))
    assert torch.isfinite(out).all() and out.shape == frames.shape


def test_one_crop_box_for_the_whole_job(comfy_mm):
    """The box is the union over every frame's mask, so all batches share one crop and scale."""
    import voxportrait.refine.core as core

    host = comfy_host(comfy_mm)
    frames, _ = frames_and_mask(4, 128, 128)
    mask = torch.zeros(4, 128, 128)
    mask[:2, 40:60, 40:60] = 1
    mask[2:, 70:90, 70:90] = 1  # the mouth moved between batches
    boxes = []
    real = core.Refiner._refine

    def spy(self, f, m):
        out = real(self, f, m)
        boxes.append(self._box)
        return out

    core.Refiner._refine = spy
    try:
        refine_frames(host, frames, frames[0], mask, RefineOptions(**{**FAST, "crop_to_mask": True}))
    finally:
        core.Refiner._refine = real
    assert len(boxes) == 2 and boxes[0] == boxes[1]
    y0, y1, x0, x1 = boxes[0]
    assert y0 <= 40 and y1 >= 90 and x0 <= 40 and x1 >= 90
