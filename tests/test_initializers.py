import numpy as np
import pytest

from fastnn import initializers


def expected_var(name, fan_in, fan_out):
    m = (fan_in + fan_out) / 2
    return {"normal": 1.0, "lecun_normal": 1 / fan_in, "lecun_uniform": 1 / fan_in, "glorot_normal": 1 / m,
            "glorot_uniform": 1 / m, "he_normal": 2 / fan_in, "he_uniform": 2 / fan_in}[name]


@pytest.mark.parametrize("name", initializers.INITIALIZERS)
def test_empirical_mean_and_variance(name):
    fan_in, fan_out = 300, 500
    W = initializers.initialize(name, fan_in, fan_out, np.random.default_rng(0))
    var = expected_var(name, fan_in, fan_out)
    assert W.shape == (fan_in, fan_out)
    # 150,000 draws: the sample mean has std sqrt(var / 150000), the variance about 0.4% relative error.
    assert abs(W.mean()) < 5 * np.sqrt(var / W.size)
    assert W.var() == pytest.approx(var, rel=0.02)
    if name.endswith("uniform"):
        r = np.sqrt(3 * var)
        assert np.abs(W).max() <= r and np.abs(W).max() > 0.99 * r
    else:  # a normal has excess kurtosis 0, a uniform -1.2
        assert abs(np.mean(W**4) / W.var() ** 2 - 3) < 0.1


def test_unknown_initializer_is_named():
    with pytest.raises(ValueError, match="init must be one of.*'glorot'"):
        initializers.check("glorot")
