"""Base modules: errors, months, compiled kernels, wire formats, atomic files, interrupts,
formatting, the C heap, version. They import nothing of threatsim above them."""
