"""BEGAN (Berthelot et al. 2017): an autoencoder discriminator and an equilibrium-controlled loss."""
