"""Launch: the recipe, the `ramen` CLI, the stage runner, and the local and SLURM launchers."""
