"""What-if analysis on runs: comparisons, sweeps, sensitivity, convergence, scenario discovery."""
