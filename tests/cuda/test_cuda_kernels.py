"""Each CUDA kernel against its CPU twin (fastnn.kernels) and, for the products, NumPy."""
import numpy as np
import pytest

from tests.cuda.conftest import require_cuda

require_cuda()

from numba import cuda  # noqa: E402

from fastnn.cuda import launch  # noqa: E402
from fastnn.cuda.activations import activate_kernel, activation_backward_kernel  # noqa: E402
from fastnn.cuda.batchnorm import (batch_norm_backward_kernel, batch_norm_forward_kernel,  # noqa: E402
                                   update_moving_averages_kernel)
from fastnn.cuda.dense import (add_bias_grad_kernel, add_weight_grad_kernel, affine_forward_kernel,  # noqa: E402
                               backprop_input_kernel, gather_kernel)
from fastnn.cuda.losses import output_delta_kernel  # noqa: E402
from fastnn.cuda.updates import apply_update_kernel  # noqa: E402
from fastnn.kernels import activations as act  # noqa: E402
from fastnn.kernels import batchnorm as bn_cpu  # noqa: E402
from fastnn.kernels.losses import CROSS_ENTROPY, MSE, output_delta  # noqa: E402
from fastnn.kernels.updates import ADAM, DELTA_BAR_DELTA, RMSPROP, RPROP, SGD, Rule, apply_update  # noqa: E402

RNG = np.random.default_rng(7)


def run(kernel, grid, block, *args):
    """Launch with host arrays copied in; returns the host arrays with the kernel's writes."""
    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel[grid, block](*dev)
    return [d.copy_to_host() if isinstance(a, np.ndarray) else a for a, d in zip(args, dev)]


def elementwise(n):
    return launch.blocks(n), launch.THREADS


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("rows,fan_in,fan_out", [(5, 7, 13), (1, 3, 2), (21, 16, 5)])
def test_dense_products_against_numpy(dtype, tol, rows, fan_in, fan_out):
    A, W = RNG.normal(size=(rows, fan_in)).astype(dtype), RNG.normal(size=(fan_in, fan_out)).astype(dtype)
    b, dZ = RNG.normal(size=fan_out).astype(dtype), RNG.normal(size=(rows, fan_out)).astype(dtype)
    Z = run(affine_forward_kernel, *launch.tiles(rows, fan_out), A, W, b, np.empty((rows, fan_out), dtype))[3]
    np.testing.assert_allclose(Z, A @ W + b, rtol=tol, atol=tol)
    dA = run(backprop_input_kernel, *launch.tiles(rows, fan_in), dZ, W, np.empty((rows, fan_in), dtype))[2]
    np.testing.assert_allclose(dA, dZ @ W.T, rtol=tol, atol=tol)
    dW0 = RNG.normal(size=(fan_in, fan_out)).astype(dtype)
    dW = run(add_weight_grad_kernel, *launch.tiles(fan_in, fan_out, rows), A, dZ, dW0.copy(), -0.3)[2]
    np.testing.assert_allclose(dW, dW0 - 0.3 * A.T @ dZ, rtol=tol, atol=tol)
    db = run(add_bias_grad_kernel, *launch.column_slabs(rows, fan_out), dZ, b.copy(), 0.5)[1]
    np.testing.assert_allclose(db, b + 0.5 * dZ.sum(axis=0), rtol=tol, atol=tol)


def test_gather_picks_rows():
    X, rows = RNG.normal(size=(9, 6)), np.array([4, 0, 8, 4, 2])
    A_in = run(gather_kernel, *elementwise(30), X, rows, np.empty((5, 6)))[2]
    np.testing.assert_array_equal(A_in, X[rows])


CODES = [act.LINEAR, act.LOGISTIC, act.TANH, act.LECUN_TANH, act.TANH_LINEAR, act.RELU, act.LEAKY_RELU, act.RRELU,
         act.PRELU, act.ELU, act.SELU, act.SOFTMAX]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("train", [True, False])
def test_activations_match_cpu(code, train):
    B, m = 5, 7
    Z = RNG.normal(scale=2.0, size=(B, m))
    alpha, rows, key = RNG.uniform(0.05, 0.3, m), np.array([3, 1, 4, 1, 5]), np.uint64(99)
    A_cpu = np.empty_like(Z)
    act.activate(Z, A_cpu, code, 0.1, 0.3, alpha, train, key, 2, rows)
    A = run(activate_kernel, *elementwise(B * m), Z, np.empty_like(Z), code, 0.1, 0.3, alpha, train, key, 2, rows)[1]
    np.testing.assert_allclose(A, A_cpu, rtol=1e-14, atol=1e-15)
    if code == act.SOFTMAX:
        return
    dZ_cpu, dalpha_cpu = RNG.normal(size=(B, m)), np.zeros(m)
    dZ, dalpha = run(activation_backward_kernel, *elementwise(B * m), dZ_cpu.copy(), Z, A_cpu, code, 0.1, 0.3, alpha,
                     np.zeros(m), 0.5, train, key, 2, rows)[0::7]
    act.activation_backward(dZ_cpu, Z, A_cpu, code, 0.1, 0.3, alpha, dalpha_cpu, 0.5, train, key, 2, rows)
    np.testing.assert_allclose(dZ, dZ_cpu, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dalpha, dalpha_cpu, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss,code", [(CROSS_ENTROPY, act.SOFTMAX), (CROSS_ENTROPY, act.LOGISTIC), (MSE, act.TANH)])
def test_output_delta_matches_cpu(loss, code):
    B, m, n = 6, 3, 10
    Z, T, rows = RNG.normal(size=(B, m)), RNG.uniform(size=(n, m)), RNG.permutation(n)[:B]
    A = np.empty_like(Z)
    act.activate(Z, A, code, 0.0, 0.0, Z[0, :0], False, np.uint64(0), 0, rows)
    dZ_cpu, errors_cpu = np.empty_like(Z), np.zeros(n)
    total_cpu = output_delta(Z, A, T, rows, loss, code, dZ_cpu, errors_cpu)
    dZ, errors, total = run(output_delta_kernel, *elementwise(B), Z, A, T, rows, loss, code, np.empty_like(Z),
                            np.zeros(n), np.zeros(1))[6:]
    np.testing.assert_allclose(dZ, dZ_cpu, rtol=1e-14)
    np.testing.assert_allclose(errors, errors_cpu, rtol=1e-14)
    assert total[0] == pytest.approx(total_cpu, rel=1e-13)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_batch_norm_matches_cpu(dtype, tol):
    B, m, u0 = 6, 5, 2
    Z = (RNG.normal(size=(B, m)) * 3 + 100).astype(dtype)
    gamma, beta = RNG.uniform(0.5, 2, m).astype(dtype), RNG.normal(size=m).astype(dtype)
    bn, Xh = np.zeros((3, m + u0)), np.empty((B, m), dtype)
    Z_cpu = Z.copy()
    bn_cpu.batch_norm_forward(Z_cpu, Xh, gamma, beta, 1e-5, bn, u0)
    Zg, Xhg, _, _, _, bng = run(batch_norm_forward_kernel, *elementwise(m), Z.copy(), np.empty_like(Xh), gamma, beta,
                                1e-5, np.zeros_like(bn), u0)[:6]
    np.testing.assert_allclose(Zg, Z_cpu, rtol=tol, atol=tol)
    np.testing.assert_allclose(Xhg, Xh, rtol=tol, atol=tol)
    np.testing.assert_allclose(bng, bn, rtol=tol)  # the simulator sums float32 in float32 (NumPy 2 scalars)
    stats = RNG.uniform(size=2 * m + 3).astype(dtype)
    stats_cpu = stats.copy()
    bn_cpu.update_moving_averages(stats_cpu, 3, bn, u0, m, 0.9, B)
    stats_g = run(update_moving_averages_kernel, *elementwise(m), stats.copy(), 3, bn, u0, m, 0.9, B)[0]
    np.testing.assert_allclose(stats_g, stats_cpu, rtol=tol)
    dY = RNG.normal(size=(B, m)).astype(dtype)
    dgamma, dbeta = np.zeros(m, dtype), np.zeros(m, dtype)
    dY_g, _, _, _, _, dgamma_g, dbeta_g = run(batch_norm_backward_kernel, *elementwise(m), dY.copy(), Xh, gamma,
                                              bn.copy(), u0, dgamma.copy(), dbeta.copy(), 0.5)[:7]
    bn_cpu.batch_norm_backward(dY, Xh, gamma, bn.copy(), u0, dgamma, dbeta, 0.5)
    for got, want in ((dY_g, dY), (dgamma_g, dgamma), (dbeta_g, dbeta)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


RULE_HP = {SGD: [0.0], DELTA_BAR_DELTA: [0.1, 0.8, 0.5, 0.2, 3.0], RMSPROP: [0.8, 1e-6], ADAM: [0.8, 0.9, 1e-7],
           RPROP: [1.3, 0.4, 1e-4, 0.5]}


@pytest.mark.parametrize("rule", sorted(RULE_HP))
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_update_rules_match_cpu(rule, weight_decay):
    """Three updates of a two-layer theta (W, b of each layer) with per-layer rates."""
    layout = np.zeros((2, 9), np.int64)
    layout[:, 0:4] = [[3, 4, 0, 12], [4, 2, 16, 24]]  # fan_in, fan_out, W_OFF, B_OFF
    P, n_state = 26, 1 if rule in (SGD, RMSPROP) else 2
    hp, scale = np.array(RULE_HP[rule], float), np.array([0.5, 2.0])
    theta, state = RNG.normal(size=P), RNG.uniform(0.1, 1.0, size=(n_state, P))
    theta_g, state_g = theta.copy(), state.copy()
    for t in (1, 2, 3):
        grad = RNG.normal(size=P) * (RNG.uniform(size=P) > 0.2)
        if rule == SGD:
            hp = np.array([float(t == 2)])  # Nesterov's flag, on for the second update only
        theta_g, _, state_g = run(apply_update_kernel, *elementwise(P), rule, hp, theta_g, grad.copy(), state_g,
                                  layout, scale, weight_decay, 0.1, 0.7, t)[2:5]
        apply_update(Rule(rule, hp, weight_decay, scale), theta, grad, state, layout, 0.1, 0.7, t)
    np.testing.assert_allclose(theta_g, theta, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state_g, state, rtol=1e-13, atol=1e-15)


def test_compressed_rows_match_scipy():
    """The online kernel's inputs: each row's non-zeros, columns ascending (SciPy's CSR as the oracle)."""
    from scipy.sparse import csr_matrix

    from fastnn.cuda.train import compressed_rows

    X = RNG.normal(size=(9, 7)) * (RNG.uniform(size=(9, 7)) < 0.3)
    X[4] = 0.0  # a row without non-zeros
    indptr, indices, values = compressed_rows(X)
    want = csr_matrix(X)
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_array_equal(values, want.data)
    assert indptr.dtype == indices.dtype == np.int64 and values.dtype == X.dtype
