"""RENDERER (pending): the nodes that need ``voxportrait.Renderer``.

Nothing here is registered yet. The renderer API is being written; these
nodes land with it and must not guess at it. What they must do, so that the
examples in ``examples/comfyui/`` and the rest of the pack fit:

``VoxPortraitAnimate`` (title "Animate (VoxPortrait)") - all in one.
    inputs: ``image`` IMAGE, ``audio`` AUDIO, ``fps`` FLOAT, ``framing``
    ("resize", "crop", "full"), ``size`` INT, ``expression_scale`` FLOAT,
    ``pose_preset`` (calm, lively, newsreader, singing), ``pose_scale``
    FLOAT, ``blink_rate`` FLOAT, ``still`` BOOLEAN, ``seed`` INT (in this
    order: the UI workflows' ``widgets_values`` follow it).
    outputs: IMAGE ``frames``, AUDIO ``audio`` (the input trimmed/padded to
    the video: ``mp4.fit_audio``), FLOAT ``fps``, MASK ``mask``.
    Chains into core CreateVideo -> SaveVideo, VHS_VideoCombine, or
    VoxPortraitSaveTalkingVideo.

``VoxPortraitRenderMotion`` (title "Render Motion (VoxPortrait)").
    inputs: ``image`` IMAGE, ``face`` FACE (``sockets.VoxFace``: the
    ``voxportrait.Face`` with the image size it was found in), ``motion``
    MOTION (``voxportrait.Motion``). outputs: IMAGE frames, MASK.

Streaming save: a ``stream_to_file`` option of Animate (or a render input on
Save Talking Video) renders straight into ``nodes_video.write_talking_video``
with a generator of uint8 frames, so long clips never hold every frame.

Host manners they must keep, with the helpers already in ``_host``:
``Progress(frames)`` (ProgressBar + interruption check once per frame),
``image_item`` / ``float_to_uint8_rgb`` / ``mask_item`` for the portrait
(a batch uses image 0 with a warning), ``audio_mono`` for AUDIO,
``fps_fraction`` for the rate, ``require_multiple_of(w, h, 8)`` where
refinement (a VAE/latent stage) needs it, ``uint8_to_image`` for IMAGE
outputs; import ``voxportrait`` and numpy inside the node function only.
Memory: an IMAGE output holds frames x height x width x 3 float32 (a
60 s clip at 25 fps and 512x512 is about 4.7 GB), which is why the
streaming path exists.
"""

#: Filled when the renderer lands: type name -> class, and titles.
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
