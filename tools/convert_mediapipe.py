#!/usr/bin/env python3
"""Convert MediaPipe's face networks from TFLite to safetensors for VoxPortrait.

What
    Reads four TFLite flatbuffers shipped by Google's MediaPipe and writes them
    as fp32 safetensors files whose tensor names are the ones the candle
    modules in ``rust/voxportrait-core/src/face/`` load:

    ========================================  ===============================
    output (``models/``)                      network
    ========================================  ===============================
    face_detection_short_range.safetensors    BlazeFace short range, 128x128
    face_detection_full_range.safetensors     BlazeFace full range, 192x192
    face_landmark.safetensors                 FaceMesh, 468 landmarks, 192x192
    iris_landmark.safetensors                 iris + eye contour, 64x64
    ========================================  ===============================

From where
    * ``face_detection_short_range.tflite``, ``face_landmark.tflite`` and
      ``iris_landmark.tflite``: the PyPI wheel ``mediapipe==0.10.21``
      (``mediapipe/modules/...``).  Pass either the wheel file or the
      installed ``mediapipe`` package directory.
    * ``face_detection_full_range.tflite`` (the dense model, *not*
      ``face_detection_full_range_sparse.tflite``, which is a different,
      pruned graph needing DENSIFY): the 0.10.21 wheel carries only the sparse
      one, so the dense file is taken from the npm package
      ``@mediapipe/face_detection@0.4.1657300184`` (``npm pack`` gives the
      tarball; pass the ``.tgz`` or its extracted ``package`` directory).

    Every source file is checked against its pinned sha256 (``SOURCES``), so a
    different MediaPipe release is refused instead of silently converted.

Licence
    The MediaPipe models are Copyright Google LLC, released under the Apache
    License 2.0 (the licence of the wheel and of the npm package); the
    converted files keep that licence (see ``models/NOTICE`` and
    ``models/face_networks.md``).  This script is part of VoxPortrait
    (Apache-2.0).

How
    The flatbuffer is parsed with the PyPI ``tflite`` package.  fp16 weights
    (``DEQUANTIZE`` of a constant) are folded to fp32.  Layouts become candle's
    NCHW: conv OHWI -> OIHW, depthwise [1,H,W,C] -> [C,1,H,W], PReLU alpha
    [1,1,C] -> [C].  Tensor names are derived by walking the graph, not from a
    table of TFLite tensor indices:

    * a *residual block* is an ``ADD`` whose one input is a chain of
      convolutions containing a depthwise conv and whose other input reaches
      the same source tensor directly or through ``MAX_POOL_2D`` / channel
      ``PAD`` (the skip path); the chain's pattern names its layers
      (``dw``/``pw``; ``dw1``/``pw1``/``dw2``/``pw2``; ``reduce``/``dw``/``pw``)
      and a ``PRELU`` after the add becomes ``<block>.prelu``;
    * the conv reading the graph input is ``stem``;
    * convs feeding a graph output (through ``RESHAPE``/``CONCATENATION``) are
      heads, named after the output they feed;
    * an ``ADD`` fed by ``RESIZE_BILINEAR`` is a feature-pyramid merge
      ``fpn.<j>`` with its ``top`` and ``lateral`` 1x1 convs;
    * layers that reach only one of the graph outputs form that output's
      branch (``landmarks.``, ``face_flag.``, ``contours.``, ``iris.``).

    The full naming scheme is in ``models/face_networks.md``.  The layer list
    found (with strides and skip kinds) is stored in each file's
    ``__metadata__["architecture"]`` for reference.

    The safetensors files are written by a small deterministic writer (sorted
    names, sorted JSON, 8-byte aligned data), so two runs give identical bytes.

Usage
    python3 -m venv /work/devenv
    /work/devenv/bin/pip install mediapipe==0.10.21 tflite flatbuffers numpy
    npm pack @mediapipe/face_detection@0.4.1657300184
    /work/devenv/bin/python tools/convert_mediapipe.py \\
        /work/devenv/lib/python3.11/site-packages/mediapipe \\
        --npm-face-detection mediapipe-face_detection-0.4.1657300184.tgz \\
        --out models
    # verify the committed files instead of writing them:
    /work/devenv/bin/python tools/convert_mediapipe.py <mediapipe> \\
        --npm-face-detection <tgz> --out models --check
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import sys
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

try:
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.Padding import Padding
    from tflite.ActivationFunctionType import ActivationFunctionType
    from tflite.TensorType import TensorType
except ImportError:  # pragma: no cover - explained to the user
    sys.exit("convert_mediapipe.py needs the PyPI packages 'tflite' and 'flatbuffers'")

CONVERTER_VERSION = "1"

# name -> origin, path inside the origin, sha256 of the tflite file,
#         input size, input range, graph output width -> role.  A role with
#         "{grid}" names a detection head (one per feature-map size, e.g.
#         heads.classifier_16); any other role names the branch that feeds that
#         output (its head is "<role>.head").
SOURCES = OrderedDict(
    [
        (
            "face_detection_short_range",
            dict(
                origin="wheel",
                path="mediapipe/modules/face_detection/face_detection_short_range.tflite",
                sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
                input_size=128,
                input_range="[-1, 1]",
                roles={16: "heads.regressor_{grid}", 1: "heads.classifier_{grid}"},
            ),
        ),
        (
            "face_detection_full_range",
            dict(
                origin="npm",
                path="package/face_detection_full_range.tflite",
                sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
                input_size=192,
                input_range="[-1, 1]",
                roles={16: "heads.regressor_{grid}", 1: "heads.classifier_{grid}"},
            ),
        ),
        (
            "face_landmark",
            dict(
                origin="wheel",
                path="mediapipe/modules/face_landmark/face_landmark.tflite",
                sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
                input_size=192,
                input_range="[0, 1]",
                roles={1404: "landmarks", 1: "face_flag"},
            ),
        ),
        (
            "iris_landmark",
            dict(
                origin="wheel",
                path="mediapipe/modules/iris_landmark/iris_landmark.tflite",
                sha256="d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
                input_size=64,
                input_range="[0, 1]",
                roles={213: "contours", 15: "iris"},
            ),
        ),
    ]
)

OPNAMES = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
ACTIVATIONS = ("RELU", "PRELU")


# --------------------------------------------------------------------------
# Reading the sources


def read_source(spec: dict, wheel_or_dir: Path, npm: Path | None) -> bytes:
    """Returns the bytes of one tflite file from the wheel/dir or the npm package."""
    if spec["origin"] == "wheel":
        rel = spec["path"]
        if wheel_or_dir.is_dir():
            # Accept the mediapipe package dir itself or its parent.
            base = wheel_or_dir
            if (base / "modules").is_dir():
                data = (base / rel[len("mediapipe/"):]).read_bytes()
            else:
                data = (base / rel).read_bytes()
        else:
            with zipfile.ZipFile(wheel_or_dir) as zf:
                data = zf.read(rel)
    else:
        if npm is None:
            raise FileNotFoundError("needs --npm-face-detection")
        name = spec["path"].split("/", 1)[1]
        if npm.is_dir():
            cand = npm / name if (npm / name).exists() else npm / "package" / name
            data = cand.read_bytes()
        else:
            with tarfile.open(npm, "r:gz") as tf:
                data = tf.extractfile(spec["path"]).read()
    return data


# --------------------------------------------------------------------------
# The TFLite graph, with fp16 constants folded


class Op:
    """One TFLite operator (DEQUANTIZE of constants already folded away)."""

    def __init__(self, index, kind, inputs, outputs, options):
        self.index = index
        self.kind = kind
        self.inputs = inputs
        self.outputs = outputs
        self.options = options

    @property
    def out(self):
        return self.outputs[0]

    def __repr__(self):
        return f"Op#{self.index}:{self.kind}"


class Graph:
    """A parsed single-subgraph TFLite model."""

    def __init__(self, data: bytes):
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() != 1:
            raise ValueError("expected one subgraph")
        sg = model.Subgraphs(0)
        self.shapes = {}
        self.names = {}
        self.consts = {}
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            self.names[i] = t.Name().decode()
            self.shapes[i] = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            buf = model.Buffers(t.Buffer())
            if buf is not None and buf.DataLength() > 0:
                raw = buf.DataAsNumpy().tobytes()
                dtype = {
                    TensorType.FLOAT32: "<f4",
                    TensorType.FLOAT16: "<f2",
                    TensorType.INT32: "<i4",
                }.get(t.Type())
                if dtype is None:
                    raise ValueError(f"unsupported constant type {t.Type()} for {self.names[i]}")
                if t.Sparsity() is not None:
                    raise ValueError("sparse constants (DENSIFY) are not supported")
                self.consts[i] = np.frombuffer(raw, dtype=dtype).reshape(self.shapes[i])
        self.inputs = [int(i) for i in sg.InputsAsNumpy()]
        self.outputs = [int(i) for i in sg.OutputsAsNumpy()]
        self.ops = []
        for k in range(sg.OperatorsLength()):
            op = sg.Operators(k)
            code = model.OperatorCodes(op.OpcodeIndex())
            kind = OPNAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins = [int(i) for i in op.InputsAsNumpy()]
            outs = [int(i) for i in op.OutputsAsNumpy()]
            if kind == "DEQUANTIZE" and ins[0] in self.consts:
                # fp16 weight -> fp32 constant, exactly as the runtime does.
                self.consts[outs[0]] = self.consts[ins[0]].astype(np.float32)
                continue
            self.ops.append(Op(len(self.ops), kind, ins, outs, self._options(op, kind)))
        self.producer = {}
        self.consumers = {}
        for op in self.ops:
            for t in op.outputs:
                self.producer[t] = op
            for t in op.inputs:
                if t >= 0:
                    self.consumers.setdefault(t, []).append(op)

    @staticmethod
    def _options(op, kind):
        o = op.BuiltinOptions()
        if o is None:
            return {}

        def load(cls):
            x = cls()
            x.Init(o.Bytes, o.Pos)
            return x

        if kind == "CONV_2D":
            x = load(tflite.Conv2DOptions)
            d = dict(stride=(x.StrideH(), x.StrideW()), padding=x.Padding(),
                     act=x.FusedActivationFunction(),
                     dilation=(x.DilationHFactor(), x.DilationWFactor()))
        elif kind == "DEPTHWISE_CONV_2D":
            x = load(tflite.DepthwiseConv2DOptions)
            d = dict(stride=(x.StrideH(), x.StrideW()), padding=x.Padding(),
                     act=x.FusedActivationFunction(), multiplier=x.DepthMultiplier(),
                     dilation=(x.DilationHFactor(), x.DilationWFactor()))
        elif kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            x = load(tflite.Pool2DOptions)
            d = dict(stride=(x.StrideH(), x.StrideW()), filter=(x.FilterHeight(), x.FilterWidth()),
                     padding=x.Padding(), act=x.FusedActivationFunction())
        elif kind == "ADD":
            d = dict(act=load(tflite.AddOptions).FusedActivationFunction())
        elif kind == "RESIZE_BILINEAR":
            x = load(tflite.ResizeBilinearOptions)
            d = dict(align_corners=bool(x.AlignCorners()), half_pixel_centers=bool(x.HalfPixelCenters()))
        elif kind == "CONCATENATION":
            x = load(tflite.ConcatenationOptions)
            d = dict(axis=x.Axis(), act=x.FusedActivationFunction())
        else:
            d = {}
        if d.get("act", ActivationFunctionType.NONE) != ActivationFunctionType.NONE:
            raise ValueError(f"{kind}: fused activations are not expected in these graphs")
        if d.get("dilation", (1, 1)) != (1, 1):
            raise ValueError(f"{kind}: dilation is not supported")
        if d.get("multiplier", 1) != 1:
            raise ValueError("depthwise multiplier != 1 is not supported")
        return d

    def single_consumer(self, t):
        c = self.consumers.get(t, [])
        return c[0] if len(c) == 1 else None


# --------------------------------------------------------------------------
# Structure: layers found by walking the graph


class Conv:
    """A CONV_2D or DEPTHWISE_CONV_2D, with the activation that follows it alone."""

    def __init__(self, g: Graph, op: Op):
        self.op = op
        self.depthwise = op.kind == "DEPTHWISE_CONV_2D"
        self.weight = g.consts[op.inputs[1]]
        self.bias = g.consts[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        self.input = op.inputs[0]
        self.stride = op.options["stride"]
        self.padding = "same" if op.options["padding"] == Padding.SAME else "valid"
        self.act = None  # "relu" | "prelu"
        self.alpha = None
        self.output = op.out
        nxt = g.single_consumer(op.out)
        if nxt is not None and nxt.kind in ACTIVATIONS:
            self.act = nxt.kind.lower()
            if nxt.kind == "PRELU":
                self.alpha = g.consts[nxt.inputs[1]]
            self.output = nxt.out
        self.ops = [op] + ([nxt] if self.act else [])

    @property
    def kernel(self):
        return self.weight.shape[1:3]

    def tensors(self, prefix):
        """Candle layout: OIHW conv, [C,1,H,W] depthwise, [C] PReLU alpha."""
        w = self.weight.astype(np.float32)
        if self.depthwise:
            w = w.transpose(3, 0, 1, 2)  # [1,H,W,C] -> [C,1,H,W]
        else:
            w = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        out = {f"{prefix}.weight": w}
        if self.bias is not None:
            out[f"{prefix}.bias"] = self.bias.astype(np.float32)
        if self.alpha is not None:
            out[f"{prefix}.prelu"] = prelu_vector(self.alpha)
        return out

    def describe(self):
        k = "x".join(str(v) for v in self.kernel)
        return dict(kind="dw" if self.depthwise else "conv", kernel=k,
                    stride=self.stride[0], padding=self.padding, act=self.act or "none",
                    out_channels=int(self.weight.shape[3] if self.depthwise else self.weight.shape[0]))


def prelu_vector(alpha):
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim != 3 or a.shape[0] != 1 or a.shape[1] != 1:
        raise ValueError(f"PReLU alpha of shape {a.shape} is not per-channel")
    return a.reshape(-1)


class Block:
    """A residual block: conv chain + skip (identity / max-pool / channel pad) + add (+ act)."""

    PATTERNS = {
        ("dw", "pw"): ["dw", "pw"],
        ("dw", "pw", "dw", "pw"): ["dw1", "pw1", "dw2", "pw2"],
        ("conv", "dw", "pw"): ["reduce", "dw", "pw"],
    }

    def __init__(self, g: Graph, add: Op, convs, skip_ops, source):
        self.add = add
        self.convs = convs
        self.skip_ops = skip_ops
        self.input = source
        self.output = add.out
        self.act = None
        self.alpha = None
        nxt = g.single_consumer(add.out)
        if nxt is not None and nxt.kind in ACTIVATIONS:
            self.act = nxt.kind.lower()
            if nxt.kind == "PRELU":
                self.alpha = g.consts[nxt.inputs[1]]
            self.output = nxt.out
        kinds = []
        for c in convs:
            if c.depthwise:
                kinds.append("dw")
            elif tuple(c.kernel) == (1, 1) and c.stride == (1, 1):
                kinds.append("pw")
            else:
                kinds.append("conv")
        # The iris network's reduce conv is 1x1 in plain blocks, 2x2/2 in strided ones.
        if len(kinds) == 3 and kinds[0] == "pw":
            kinds[0] = "conv"
        key = tuple(kinds)
        if key not in self.PATTERNS:
            raise ValueError(f"unknown block pattern {key} at {add}")
        self.names = self.PATTERNS[key]
        # Only the last conv may end without an activation, and only inner convs may have one.
        if convs[-1].act is not None:
            raise ValueError(f"block {add}: activation before the add")
        skip = [op.kind for op in skip_ops]
        self.skip_pool = "MAX_POOL_2D" in skip
        self.skip_pad = 0
        for op in skip_ops:
            if op.kind == "MAX_POOL_2D":
                if op.options["filter"] != (2, 2) or op.options["stride"] != (2, 2):
                    raise ValueError("only 2x2/2 max-pool skips are supported")
            if op.kind == "PAD":
                p = g.consts[op.inputs[1]]
                if p.shape != (4, 2) or np.any(p[:3] != 0) or p[3, 0] != 0:
                    raise ValueError("only channel padding at the end is supported in skips")
                self.skip_pad = int(p[3, 1])
        self.stride = max(c.stride[0] for c in convs)
        if self.stride != (2 if self.skip_pool else 1):
            raise ValueError(f"block {add}: stride {self.stride} but pool={self.skip_pool}")

    def tensors(self, prefix):
        out = {}
        for name, conv in zip(self.names, self.convs):
            out.update(conv.tensors(f"{prefix}.{name}"))
        if self.alpha is not None:
            out[f"{prefix}.prelu"] = prelu_vector(self.alpha)
        return out

    def describe(self):
        skip = "maxpool" if self.skip_pool else "identity"
        if self.skip_pad:
            skip += f"+pad{self.skip_pad}"
        return dict(kind="block", layers=self.names, stride=self.stride, skip=skip,
                    act=self.act or "none",
                    convs=[c.describe() for c in self.convs])


class FpnMerge:
    """ADD(act(lateral conv(x)), RESIZE_BILINEAR(act(top conv(y))))."""

    def __init__(self, g: Graph, add: Op, resize: Op, top: Conv, lateral: Conv):
        self.add = add
        self.resize = resize
        self.top = top
        self.lateral = lateral
        self.output = add.out
        o = resize.options
        if o["align_corners"] or not o["half_pixel_centers"]:
            raise ValueError("the candle module implements align_corners=False, half_pixel_centers=True")
        if g.single_consumer(add.out) is not None and g.single_consumer(add.out).kind in ACTIVATIONS:
            raise ValueError("an activation after an FPN merge is not expected")
        self.size = g.shapes[resize.out][1:3]

    def tensors(self, prefix):
        out = {}
        out.update(self.top.tensors(f"{prefix}.top"))
        out.update(self.lateral.tensors(f"{prefix}.lateral"))
        return out

    def describe(self):
        return dict(kind="fpn_merge", resize="bilinear(align_corners=False, half_pixel_centers=True)",
                    size=list(self.size), top=self.top.describe(), lateral=self.lateral.describe())


def trace_branch(g: Graph, t: int):
    """Walks back from an ADD input through single-use conv/activation ops.

    Returns (convs in forward order, source tensor)."""
    convs = []
    while True:
        op = g.producer.get(t)
        if op is None:
            return convs, t
        if op.kind in ACTIVATIONS:
            prev = op.inputs[0]
            pop = g.producer.get(prev)
            if pop is None or pop.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D") or g.single_consumer(prev) is None:
                return convs, t
            t = prev
            continue
        if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            return convs, t
        convs.insert(0, Conv(g, op))
        src = op.inputs[0]
        if len(g.consumers.get(src, [])) > 1 or src in g.inputs:
            return convs, src
        t = src


def trace_skip(g: Graph, t: int):
    ops = []
    while True:
        op = g.producer.get(t)
        if op is None or op.kind not in ("MAX_POOL_2D", "PAD"):
            return ops, t
        ops.insert(0, op)
        t = op.inputs[0]


def find_layers(g: Graph):
    """Returns the layers (Conv / Block / FpnMerge) in execution order."""
    claimed = set()
    layers = []
    for op in g.ops:
        if op.kind != "ADD":
            continue
        a, b = op.inputs
        pa, pb = g.producer.get(a), g.producer.get(b)
        if pa is not None and pa.kind == "RESIZE_BILINEAR" or pb is not None and pb.kind == "RESIZE_BILINEAR":
            resize, other = (pa, b) if pa is not None and pa.kind == "RESIZE_BILINEAR" else (pb, a)
            top_convs, _ = trace_branch(g, resize.inputs[0])
            lat_convs, _ = trace_branch(g, other)
            if len(top_convs) != 1 or len(lat_convs) != 1:
                raise ValueError(f"unexpected FPN merge at {op}")
            m = FpnMerge(g, op, resize, top_convs[0], lat_convs[0])
            claimed.update([op.index, resize.index])
            for c in (m.top, m.lateral):
                claimed.update(x.index for x in c.ops)
            layers.append((op.index, m))
            continue
        found = None
        for main, other in ((a, b), (b, a)):
            convs, src = trace_branch(g, main)
            if not convs or not any(c.depthwise for c in convs):
                continue
            skip_ops, skip_src = trace_skip(g, other)
            if skip_src == src:
                found = Block(g, op, convs, skip_ops, src)
                break
        if found is None:
            raise ValueError(f"ADD {op} is neither a residual block nor an FPN merge")
        claimed.add(op.index)
        claimed.update(x.index for x in found.skip_ops)
        for c in found.convs:
            claimed.update(x.index for x in c.ops)
        nxt = g.single_consumer(op.out)
        if found.act is not None:
            claimed.add(nxt.index)
        layers.append((op.index, found))
    for op in g.ops:
        if op.index in claimed or op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        c = Conv(g, op)
        claimed.update(x.index for x in c.ops)
        layers.append((op.index, c))
    leftovers = [op for op in g.ops if op.index not in claimed and op.kind not in ("RESHAPE", "CONCATENATION")]
    if leftovers:
        raise ValueError(f"ops not covered by any layer: {leftovers}")
    layers.sort(key=lambda x: x[0])
    return [l for _, l in layers]


# --------------------------------------------------------------------------
# Naming


def reachable_outputs(g: Graph):
    """tensor -> frozenset of graph output positions reachable from it."""
    memo = {}
    outputs = {t: k for k, t in enumerate(g.outputs)}

    def go(t):
        if t in memo:
            return memo[t]
        r = set()
        if t in outputs:
            r.add(outputs[t])
        for op in g.consumers.get(t, []):
            for o in op.outputs:
                r |= go(o)
        memo[t] = frozenset(r)
        return memo[t]

    for t in list(g.shapes):
        go(t)
    return memo


def head_output(g: Graph, t: int):
    """If tensor t reaches a graph output through RESHAPE/CONCATENATION only, that output."""
    while t not in g.outputs:
        c = g.consumers.get(t, [])
        if len(c) != 1 or c[0].kind not in ("RESHAPE", "CONCATENATION"):
            return None
        t = c[0].out
    return t


def name_layers(g: Graph, layers, roles: dict):
    """Assigns a semantic prefix to every layer.  Returns [(prefix, layer)]."""
    reach = reachable_outputs(g)
    all_outputs = frozenset(range(len(g.outputs)))

    def role_of_output(t):
        return roles[g.shapes[t][-1]]

    segment = {g.inputs[0]: ""}
    counters = {}
    named = []
    fpn_count = 0
    for layer in layers:
        if isinstance(layer, FpnMerge):
            prefix = f"fpn.{fpn_count}"
            fpn_count += 1
            segment[layer.output] = prefix + "."
            named.append((prefix, layer))
            continue
        src_seg = segment.get(layer.input)
        if src_seg is None:
            raise ValueError(f"layer {layer} reads a tensor produced outside the walked layers")
        if isinstance(layer, Conv):
            out_t = head_output(g, layer.output)
            if layer.input in g.inputs:
                prefix = "stem"
            elif out_t is not None:
                role = role_of_output(out_t)
                if "{grid}" in role:
                    prefix = role.format(grid=g.shapes[layer.op.out][1])
                else:
                    prefix = f"{role}.head"
            else:
                seg = src_seg
                r = reach[layer.output]
                if r != all_outputs and len(r) == 1:
                    seg = role_of_output(g.outputs[next(iter(r))]) + "."
                prefix = f"{seg}proj"
                if any(p == prefix for p, _ in named):
                    raise ValueError(f"two projection convs in segment {seg!r}")
            segment[layer.output] = src_seg
            named.append((prefix, layer))
            continue
        # Block.
        seg = src_seg
        r = reach[layer.output]
        if r != all_outputs and len(r) == 1:
            seg = role_of_output(g.outputs[next(iter(r))]) + "."
        k = counters.get(seg, 0)
        counters[seg] = k + 1
        segment[layer.output] = seg
        named.append((f"{seg}blocks.{k}", layer))
    # Heads and FPN top/lateral convs are named by role; check nothing was named twice.
    prefixes = [p for p, _ in named]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"duplicate layer names: {prefixes}")
    return named


# --------------------------------------------------------------------------
# Writing


SAFETENSORS_DTYPES = {np.dtype("<f4"): "F32", np.dtype("u1"): "U8", np.dtype("<u4"): "U32"}


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """Deterministic safetensors writer (sorted names, sorted JSON keys, 8-byte alignment).

    float arrays are written as F32; uint8 / uint32 arrays keep their type."""
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype.kind == "f":
            arr = arr.astype("<f4")
        arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<")))
        if arr.dtype not in SAFETENSORS_DTYPES:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.tobytes()
        header[name] = dict(dtype=SAFETENSORS_DTYPES[arr.dtype], shape=list(arr.shape),
                            data_offsets=[offset, offset + len(data)])
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def convert(name: str, spec: dict, data: bytes):
    g = Graph(data)
    layers = find_layers(g)
    named = name_layers(g, layers, spec["roles"])
    tensors = {}
    arch = []
    for prefix, layer in named:
        t = layer.tensors(prefix)
        clash = set(t) & set(tensors)
        if clash:
            raise ValueError(f"tensor names used twice: {sorted(clash)}")
        tensors.update(t)
        d = layer.describe()
        d["name"] = prefix
        arch.append(d)
    in_shape = g.shapes[g.inputs[0]]
    outputs = [dict(name=g.names[t], shape=list(g.shapes[t])) for t in g.outputs]
    meta = OrderedDict(
        format="voxportrait-face-safetensors",
        converter=f"tools/convert_mediapipe.py v{CONVERTER_VERSION}",
        network=name,
        source=f"{'mediapipe==0.10.21 wheel' if spec['origin'] == 'wheel' else '@mediapipe/face_detection@0.4.1657300184 npm'}:{spec['path']}",
        source_sha256=spec["sha256"],
        license="Apache-2.0",
        input="NCHW f32 [N,3,%d,%d], RGB in %s" % (in_shape[1], in_shape[2], spec["input_range"]),
        tflite_outputs=json.dumps(outputs, separators=(",", ":")),
        architecture=json.dumps(arch, separators=(",", ":")),
    )
    return tensors, meta, named


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mediapipe", type=Path, help="mediapipe-0.10.21 wheel or the installed mediapipe package dir")
    ap.add_argument("--npm-face-detection", type=Path, default=None,
                    help="@mediapipe/face_detection@0.4.1657300184 .tgz or extracted dir (for the full-range model)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    ap.add_argument("--only", nargs="*", choices=list(SOURCES), help="convert only these networks")
    ap.add_argument("--print-architecture", action="store_true", help="print the layer list found")
    ap.add_argument("--check", action="store_true",
                    help="convert into a temporary directory and verify the files in --out are identical")
    args = ap.parse_args(argv)

    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            forwarded = [str(args.mediapipe), "--out", tmp]
            if args.npm_face_detection:
                forwarded += ["--npm-face-detection", str(args.npm_face_detection)]
            if args.only:
                forwarded += ["--only", *args.only]
            rc = main(forwarded)
            bad = [p.name for p in sorted(Path(tmp).glob("*.safetensors"))
                   if not (args.out / p.name).is_file() or (args.out / p.name).read_bytes() != p.read_bytes()]
        if bad:
            print(f"differ from a fresh conversion: {', '.join(bad)}", file=sys.stderr)
            return 1
        print("check: the files in", args.out, "are byte-identical to a fresh conversion")
        return rc

    args.out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for name, spec in SOURCES.items():
        if args.only and name not in args.only:
            continue
        try:
            data = read_source(spec, args.mediapipe, args.npm_face_detection)
        except FileNotFoundError as e:
            print(f"skipped {name}: {e}", file=sys.stderr)
            skipped.append(name)
            continue
        digest = hashlib.sha256(data).hexdigest()
        want = spec["sha256"]
        if digest != want:
            raise SystemExit(f"{name}: source sha256 {digest} != pinned {want}; not the expected MediaPipe release")
        tensors, meta, named = convert(name, spec, data)
        path = args.out / f"{name}.safetensors"
        write_safetensors(path, tensors, meta)
        out_digest = hashlib.sha256(path.read_bytes()).hexdigest()
        n_params = sum(int(np.prod(v.shape)) for v in tensors.values())
        print(f"{path}: {len(tensors)} tensors, {n_params} parameters, sha256 {out_digest}")
        if args.print_architecture:
            for prefix, layer in named:
                print("   ", prefix, json.dumps(layer.describe()))
    if skipped:
        print(f"warning: not converted: {', '.join(skipped)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
