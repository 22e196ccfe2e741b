"""StyleGAN2 with adaptive discriminator augmentation (Karras et al. 2020), registered as "stylegan2-ada"."""
