"""Scale, Standardizer and PCA against NumPy, inside the network, in model files, and on MNIST."""
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import preprocessing
from fastnn.preprocessing import PCA, NotFittedError, Scale, Standardizer


def correlated(n=200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.geomspace(5, 0.1, d)
    return rng.normal(size=(n, d)) @ A + rng.normal(size=d) * 10


def test_standardizer_gives_z_scores_and_survives_constant_inputs():
    X = correlated()
    X[:, 2] = 7.0
    Z = Standardizer().fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), [1, 1, 0, 1, 1, 1], atol=1e-12)
    assert np.isfinite(Z).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(8, 60), d=st.integers(1, 7))
def test_pca_matches_numpys_svd_of_the_centred_data(seed, n, d):
    X = correlated(n, d, seed)
    k = min(n, d)
    pca = PCA(k).fit(X)
    Xc = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance_, s[:k] ** 2 / (n - 1), rtol=1e-7, atol=1e-9 * s[0] ** 2)
    np.testing.assert_allclose(pca.explained_variance_ratio_.sum(), 1.0, rtol=1e-9)
    for got, want, var in zip(pca.components_, Vt[:k], s[:k]):
        if var > 1e-6 * s[0]:  # directions of (near) equal variances are not unique
            np.testing.assert_allclose(abs(got @ want), 1.0, atol=1e-6)


def test_whitened_training_data_has_identity_covariance():
    X = correlated()
    Z = PCA(6, whiten=True).fit_transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(6), atol=1e-9)
    assert np.abs(Z.mean(axis=0)).max() < 1e-9


def test_variance_fraction_picks_the_fewest_components():
    X = correlated()
    ratio = PCA(6).fit(X).explained_variance_ratio_
    for frac in (0.5, 0.9, 0.99, 1.0):
        k = PCA(frac).fit(X).components_.shape[0]
        assert ratio[:k].sum() >= frac - 1e-12 and (k == 1 or ratio[: k - 1].sum() < frac)


def test_reconstruction_error_falls_as_components_are_added():
    X = correlated()
    errors = [np.mean((PCA(k, whiten=w).fit(X).inverse_transform(PCA(k, whiten=w).fit_transform(X)) - X) ** 2)
              for k in range(1, 7) for w in (False,)]
    assert all(b < a for a, b in zip(errors, errors[1:])) and errors[-1] < 1e-18 * np.mean(X**2) + 1e-20
    pca = PCA(3, whiten=True).fit(X)
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), PCA(3).fit(X).inverse_transform(PCA(3).fit_transform(X)))


@pytest.mark.parametrize("make,match", [
    (lambda: PCA(0), "n_components"),
    (lambda: PCA(1.5), "n_components"),
    (lambda: PCA(0.0), "n_components"),
    (lambda: PCA("all"), "n_components"),
    (lambda: PCA(7).fit(correlated()), "more than the 6 inputs"),
    (lambda: PCA(2).fit(correlated()).transform(correlated()[:, :5]), "5 features"),
    (lambda: PCA(2).transform(correlated()), "not fitted"),
    (lambda: Standardizer().transform(correlated()), "not fitted"),
    (lambda: fastnn.Network([fastnn.Dense(2, activation="softmax")], preprocess=[PCA(2)], input_dim=6), "not fitted"),
    (lambda: fastnn.Network([fastnn.Dense(2, activation="softmax")], preprocess=["pca"]), "preprocess"),
])
def test_bad_preprocessing_raises(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
    assert issubclass(NotFittedError, ValueError)


def small_net(**kw):
    return fastnn.Network([fastnn.Dense(5, activation="tanh"), fastnn.Dense(3, activation="softmax")], seed=0,
                          dtype="float64", **kw)


def test_network_fits_applies_and_saves_its_preprocessing(tmp_path):
    X = correlated(90)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int) + (X[:, 1] > 0)
    steps = [Standardizer(), PCA(0.95, whiten=True)]
    net = small_net(preprocess=steps).fit(X, y, epochs=3, batch_size=10, lr=0.1)
    assert not steps[0].fitted  # the network fitted copies: the user's steps are untouched
    k = net.preprocess[1].output_dim()
    assert net.input_dim == 6 and net.get_weights()[0]["W"].shape[0] == k
    by_hand = net.preprocess[1].transform(net.preprocess[0].transform(X))
    plain = small_net(input_dim=k)
    plain.set_weights(net.get_weights())
    plain.fit(by_hand, y, epochs=1, lr=1e-300)  # learns the targets; too small a rate to move a weight
    np.testing.assert_allclose(net.forward(X), plain.forward(by_hand), rtol=1e-12)
    net.save(tmp_path / "p.npz")
    back = fastnn.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    with pytest.raises(ValueError, match="features"):
        net.predict(X[:, :4])
    # A second fit keeps the fitted preprocessing (it is part of the model).
    mean = net.preprocess[0].mean_.copy()
    net.fit(X + 100, y, epochs=1, lr=0.1)
    np.testing.assert_array_equal(net.preprocess[0].mean_, mean)


def test_a_failing_fit_leaves_the_preprocessing_unfitted():
    X = correlated(20)
    net = small_net(preprocess=[Standardizer(), PCA(7)])
    with pytest.raises(ValueError, match="more than the 6 inputs"):
        net.fit(X, np.arange(20) % 3)
    assert not any(step.fitted for step in net.preprocess) and net._theta is None


def test_z_scores_and_whitening_learn_raw_pixels_faster(mnist):
    """Raw pixel values (0-255) saturate tanh units: the lecture's case for normalising the
    inputs. 784-32-10 tanh on 5,000 digits, batches of 32, the better of lr 0.01 and 0.05:
    epochs until the test accuracy first reaches 85% (measured with seed 0: raw pixels never
    within 6 epochs (at best 63%), z-scores 1, z-scores + PCA(0.95) whitened 3)."""
    x, y, xt, yt = mnist
    raw, raw_t = x[:5000] * 255, xt * 255

    def epochs_to(preprocess, lr, target=0.85, max_epochs=6):
        net = fastnn.Network([fastnn.Dense(32, activation="tanh"), fastnn.Dense(10, activation="softmax")], seed=0,
                             preprocess=preprocess)
        for epoch in range(1, max_epochs + 1):
            net.fit(raw, y[:5000], batch_size=32, epochs=1, lr=lr)
            if net.evaluate(raw_t, yt)["accuracy"] >= target:
                return epoch
        return np.inf

    def best(make):
        return min(epochs_to(make(), lr) for lr in (0.01, 0.05))

    plain = best(lambda: None)
    zscores = best(lambda: [Standardizer()])
    whitened = best(lambda: [Standardizer(), PCA(0.95, whiten=True)])
    assert zscores < plain and whitened < plain, (plain, zscores, whitened)


def test_constant_inputs_stay_zero_and_whitening_ignores_rounding_level_variance():
    """float64 constants whose mean is not exact, and a component with no variance at fit:
    neither may turn a new value into a huge number."""
    X = correlated(500)
    X[:, 3] = 0.1
    Z = Standardizer().fit(X).transform(np.vstack([X[:2], X[:1] + [0, 0, 0, 0.1, 0, 0]]))
    np.testing.assert_allclose(Z[:, 3], [0, 0, 0.1])  # 0.1 above the constant: divided by 1, not by ~1e-17
    pca = PCA(6, whiten=True).fit(X)
    assert pca.explained_variance_[-1] == 0.0
    shifted = X[:1].copy()
    shifted[0, 3] += 1.0
    assert np.abs(pca.transform(shifted)).max() < 100


def test_batch_norm_statistics_from_fit_see_the_preprocessed_data():
    X = correlated(120)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    net = fastnn.Network([fastnn.Dense(4, activation="tanh", batch_norm=True), fastnn.Dense(2, activation="softmax")],
                         seed=0, dtype="float64", preprocess=[Standardizer(), PCA(3)])
    net.fit(X, y, epochs=2, batch_size=20, lr=0.1, bn_statistics="training_set")
    Xp = net.preprocess[1].transform(net.preprocess[0].transform(X))
    Z = Xp @ net.get_weights()[0]["W"]
    np.testing.assert_allclose(net._bn_stats[:4], Z.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(net._bn_stats[4:], Z.var(axis=0), rtol=1e-10)


def test_the_network_owns_its_steps():
    X = correlated(60)
    y = np.arange(60) % 3
    pca = PCA(4).fit(X)
    net = small_net(preprocess=[pca]).fit(X, y, epochs=1, lr=0.1)
    pca.fit(X[:, ::-1])  # refitting the user's object leaves the network alone
    np.testing.assert_array_equal(net.preprocess[0].components_, PCA(4).fit(X).components_)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), d=st.integers(1, 7), rows=st.integers(1, 9),
       dtype=st.sampled_from([np.float32, np.float64]), offset=st.sampled_from([0.0, 1e4]))
def test_standardizer_moments_in_blocks_match_numpys(seed, n, d, rows, dtype, offset):
    """Blocks of a few rows (so the merging runs on tiny X) give NumPy's float64 mean and std;
    constant columns keep their value as the mean and 1 as the scale."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0.01, 100, size=d) + offset).astype(dtype)
    X[:, rng.random(d) < 0.3] = dtype(0.1)
    with mock.patch.object(preprocessing, "BLOCK_BYTES", 8 * d * rows):
        z = Standardizer().fit(X)
    X64 = X.astype(np.float64)
    constant = (X == X[0]).all(axis=0)
    np.testing.assert_array_equal(z.mean_[constant], X64[0, constant])
    np.testing.assert_array_equal(z.scale_[constant], 1.0)
    np.testing.assert_allclose(z.mean_[~constant], X64.mean(axis=0)[~constant], rtol=1e-13)
    np.testing.assert_allclose(z.scale_[~constant], X64.std(axis=0)[~constant], rtol=1e-10)
    assert z.mean_.dtype == z.scale_.dtype == np.float64


def test_standardizer_temporaries_stay_below_the_size_of_X():
    """NumPy's X.std(dtype=float64) makes a float64 copy of X (2x a float32 X): the moments go
    a block of rows at a time instead."""
    X = np.random.default_rng(0).normal(size=(20000, 50)).astype(np.float32)
    tracemalloc.start()
    try:
        Standardizer().fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= X.nbytes, (peak, X.nbytes)


def pixels(n=13, d=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, d)).astype(np.uint8)


def test_scale_multiplies_every_input_in_the_dtype_of_X():
    X = pixels()
    for raw, dtype in ((X, np.float32), (X.astype(np.float64), np.float64)):
        Z = Scale(1 / 255).transform(raw)
        assert Z.dtype == dtype and Z.shape == X.shape
        np.testing.assert_array_max_ulp(Z, (X.astype(dtype) / 255).astype(dtype), maxulp=1)
    scale = Scale(2).fit(X)
    assert scale.n_features_in_ == 7 and scale.output_dim() == 7
    with pytest.raises(ValueError, match="5 features"):
        scale.transform(X[:, :5])
    assert Scale(0.5).transform(X[:, :5]).shape == (13, 5)  # unfitted: any number of inputs


@pytest.mark.parametrize("factor,error", [(0, ValueError), (-1, ValueError), (np.inf, ValueError), (np.nan, ValueError),
                                          ("1/255", TypeError), (None, TypeError)])
def test_scale_needs_a_positive_finite_factor(factor, error):
    with pytest.raises(error, match="factor"):
        Scale(factor)


def test_a_scale_that_overflows_names_the_factor():
    with pytest.raises(ValueError, match=r"X \* 1e\+38 contains"):
        Scale(1e38).transform(pixels())


def test_network_scales_raw_pixels_itself_and_saves_the_scale(tmp_path):
    """A network trained on uint8 images with Scale(1/255) predicts the same from the raw
    array before and after a save, and as a network without the step given the scaled pixels."""
    X, y = pixels(), np.arange(13) % 3
    net = small_net(preprocess=[Scale(1 / 255)]).fit(X, y, epochs=1, batch_size=4, lr=0.1)
    net.save(tmp_path / "s.npz")
    back = fastnn.load(tmp_path / "s.npz")
    assert back.preprocess[0].factor == 1 / 255 and back.input_dim == 7
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    plain = small_net(input_dim=7)
    plain.set_weights(net.get_weights())
    np.testing.assert_allclose(plain.forward(X / 255), net.forward(X), rtol=1e-12)
    both = small_net(preprocess=[Scale(1 / 255), Standardizer()]).fit(X, y, epochs=1, batch_size=4, lr=0.1)
    both.save(tmp_path / "b.npz")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "b.npz").forward(X), both.forward(X))


def test_a_network_with_only_a_scale_takes_input_dim():
    net = small_net(input_dim=7, preprocess=[Scale(1 / 255)])
    assert net.input_dim == 7 and net.get_weights()[0]["W"].shape == (7, 5)


def test_output_dim_follows_fitted_steps_and_refuses_a_mismatch():
    X = correlated(30)
    steps = [Scale(2.0), Standardizer().fit(X), PCA(4).fit(X)]
    assert preprocessing.output_dim(steps, 6) == 4 and preprocessing.output_dim(steps[:1], 11) == 11
    with pytest.raises(ValueError, match=r"preprocess\[1\] \(Standardizer\(\)\) was fitted on 6 inputs but gets 5"):
        preprocessing.output_dim(steps, 5)


@pytest.mark.parametrize("make", [Standardizer, lambda: PCA(3, whiten=True)])
def test_weighted_fit_counts_a_row_k_times(make):
    """fit(X, sample_weight) with integer weights (zeros too) transforms as fit on the rows repeated."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)) * [1.0, 10.0, 0.1, 3.0] + 5.0
    X[np.arange(20) % 3 == 0, 2] = 7.0  # a column constant on the rows weighted 0 below
    w = np.where(np.arange(20) % 3 == 0, 0, rng.integers(1, 4, size=20))
    weighted, repeated = make().fit(X, w), make().fit(X.repeat(w, axis=0))
    np.testing.assert_allclose(weighted.transform(X), repeated.transform(X), rtol=1e-12, atol=1e-12)
    assert not np.allclose(weighted.transform(X), make().fit(X).transform(X))
