"""GAN architectures, training loop, checkpoints and sampling (pure PyTorch)."""
