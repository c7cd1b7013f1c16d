"""Real system daemons for tests (munge, Slurm), each started privately in a temp dir."""
