"""Curation: sources, cleaning, dedup, decontamination, balancing, difficulty filter, sampling,
selection, DPO pairs and SFT sets. Reuses evaluation's engine and grader."""
