"""Console entry points: ``aframe-init`` (and later ``aframe-tune``)."""
