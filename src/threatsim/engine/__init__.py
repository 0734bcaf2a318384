"""Running a scenario: streams, sampling, chunk plans, executors, checkpoints, progress,
the streamed summary, the runner."""
