"""Demo data for a fresh install: a believable small city, Zhaotong (昭通), Yunnan.

``flask seed`` loads it; every loader is idempotent (looks rows up by a natural key before
creating them), so running it twice changes nothing."""
