"""What a run is made of: distributions, the scenario schema, the source registry, scenarios."""
