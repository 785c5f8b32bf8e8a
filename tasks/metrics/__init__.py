"""Official metrics, computed with scikit-learn, scipy and rouge-score (never `evaluate.load`, which downloads
metric scripts at run time). Every value is in percent, as the paper reports them."""
