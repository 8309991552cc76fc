"""What tests and the tiny recipes run on, shipped with ramen: the tiny model family
(`tiny.py` resolves and checks it, `tiny_build.py` rebuilds it into `tiny_family/`)."""
