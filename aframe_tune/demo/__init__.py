"""The built-in model: an Aframe-like binary-inspiral detector trained on simulated strain."""
