"""Budget labels: what parses, what is refused with one clear message."""
import pytest

from adalora import AdaLoRAError, parse_budget


@pytest.mark.parametrize("label,share,count,slug", [
    ("0.3%", 0.003, None, "0.3pct"), ("0.08%", 0.0008, None, "0.08pct"), ("100%", 1.0, None, "100pct"),
    ("0.32M", None, 320_000, "0.32M"), ("300k", None, 300_000, "300k"), ("1.2m", None, 1_200_000, "1.2M"),
    (331776, None, 331_776, "331776"),
])
def test_labels_parse(label, share, count, slug):
    b = parse_budget(label)
    assert (b.share, b.count, b.slug) == (pytest.approx(share) if share else None, count, slug)


@pytest.mark.parametrize("label", ["abc", "-1%", "0%", "150%", "0.3", 0.3, "", None, "1e3", "0k"])
def test_bad_labels_are_refused(label):
    with pytest.raises(AdaLoRAError) as err:
        parse_budget(label)
    assert "\n" not in str(err.value)
