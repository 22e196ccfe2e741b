"""SinGAN (Shaham et al., 2019): a pyramid of small fully convolutional patch GANs per training image, trained
coarse to fine. pyramid.py: scale sizes and resizing; networks.py: one scale's G and D, and the sampling network
holding every pyramid; trainer.py: the schedule over pyramids and scales."""
