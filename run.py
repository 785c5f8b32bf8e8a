#!/usr/bin/env python
"""Train and evaluate one cell of the paper: `python run.py task=mnli method=adalora budget=0.3%`.

`python run.py --help` lists the config groups; `-m` sweeps (`method=lora,adalora seed=1,2,3`).
"""
from runners.cli import main

if __name__ == "__main__":
    main()
