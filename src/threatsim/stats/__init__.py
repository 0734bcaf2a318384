"""Statistics on plain arrays: exact quantiles, binning, Monte Carlo standard errors."""
