"""A reForge-shaped ``shared.sd_model`` (modules_forge/forge_loader.py,
load_model_for_a1111, 3b56b268), built of tests/sd_tiny.py's tiny networks:
an ldm LatentDiffusion shell whose ``forge_objects.unet`` is ldm_patched's
UnetPatcher (a ComfyUI-style ModelPatcher around a BaseModel with
``model_sampling``), ``first_stage_model`` the VAE module, and
``encode_first_stage``/``decode_first_stage`` patched to go through
``forge_objects.vae`` with the latent scale applied.
"""

import sd_tiny


class ReForgeModel:
    parameterization = "eps"

    def __init__(self, seed=0):
        vae = sd_tiny.TinyVAE(seed=seed + 1)
        unet = sd_tiny.ModelPatcher(sd_tiny.ComfyBaseModel(sd_tiny.TinyUNet(seed=seed)))
        self.forge_objects = sd_tiny.ForgeObjects(unet, sd_tiny.ComfyVAE(vae), sd_tiny.Clip())
        self.first_stage_model = vae
        self.model = sd_tiny.DiffusionWrapper(self.forge_objects.unet.model.diffusion_model)

    def encode_first_stage(self, x):
        sample = self.forge_objects.vae.encode(x.movedim(1, -1) * 0.5 + 0.5)
        return self.forge_objects.unet.model.process_latent_in(sample).to(x)  # latent_format.process_in

    def decode_first_stage(self, x):
        sample = self.forge_objects.unet.model.process_latent_out(x)  # latent_format.process_out
        return (self.forge_objects.vae.decode(sample).movedim(-1, 1) * 2.0 - 1.0).to(x)

    def get_learned_conditioning(self, prompts):
        return sd_tiny.Clip().encode_from_tokens([prompts[0]])
