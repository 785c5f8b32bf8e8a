"""Training and evaluation on the HF Trainer, result records, sweeps and tables. Imports `adalora` and `tasks`;
neither imports this package."""
