"""Training epochs on the GPU: the device copies of one fit and the loops that launch the kernels.

Data, parameters, optimizer state and batch-norm statistics go to the device once per fit
(Trainer); an epoch then launches kernels back to back and brings back only its loss, the
number of updates and (emphasis orders) each example's loss. Mini-batch and full-batch epochs
launch a handful of kernels per layer and batch from this loop; online epochs run as one
persistent kernel (fastnn.cuda.online). The host mirrors the parameters after every epoch,
so validation, early stopping and callbacks see the weights of the epoch as on the CPU.
"""
import numpy as np
from numba import cuda

from ..kernels.layout import ACT, ALPHA_OFF, B_OFF, BN_EPS, BN_MOMENTUM, FAN_IN, FAN_OUT, GAMMA_OFF, P1, P2, STAT_OFF, \
    UNIT_OFF, W_OFF
from ..kernels.losses import MSE
from ..kernels.train import batch_end
from ..kernels.lazy import has_lazy_rows, idle_factors
from . import launch
from .activations import activate_kernel, activation_backward_kernel
from .batchnorm import batch_norm_backward_kernel, batch_norm_forward_kernel, update_moving_averages_kernel
from .dense import add_bias_grad_kernel, add_weight_grad_kernel, affine_forward_kernel, backprop_input_kernel, \
    gather_kernel
from .losses import output_delta_kernel
from .online import train_online_kernel
from .updates import apply_update_kernel


def compressed_rows(X):
    """(indptr, indices, values): the non-zeros of row i of X are values[indptr[i]:indptr[i + 1]]
    in the columns indices[...], ascending (CSR). What the online kernel reads."""
    nonzero = X != 0
    indptr = np.zeros(len(X) + 1, np.int64)
    np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
    rows, cols = np.nonzero(nonzero)
    return indptr, cols.astype(np.int64), np.ascontiguousarray(X[rows, cols])


def _layer_views(flat, layout):
    """Per layer (W, b, PReLU slopes, gamma) views of a flat device array, made once per fit."""
    views = []
    for row in layout:
        fan_in, fan_out = int(row[FAN_IN]), int(row[FAN_OUT])
        w0, b0, a0, g0 = int(row[W_OFF]), int(row[B_OFF]), int(row[ALPHA_OFF]), int(row[GAMMA_OFF])
        W = flat[w0 : w0 + fan_in * fan_out].reshape(fan_in, fan_out)
        views.append((W, flat[b0 : b0 + fan_out], flat[a0 : a0 + fan_out] if a0 >= 0 else flat[0:0],
                      flat[g0 : g0 + fan_out] if g0 >= 0 else flat[0:0]))
    return views


class Trainer:
    """The device side of one fit: X (its compressed rows when ``online``), T, theta, a gradient
    buffer (kept zero between updates), the optimizer state, the batch-norm statistics and the
    scratch of one chunk of ``chunk`` examples."""

    def __init__(self, theta, state, stats, layout, act_params, X, T, chunk, online):
        self.layout, self.act_params, self.chunk = layout, act_params, chunk
        self.d_layout, self.d_act_params = cuda.to_device(layout), cuda.to_device(act_params)
        self.X = tuple(cuda.to_device(a) for a in compressed_rows(X)) if online else cuda.to_device(X)
        self.T = cuda.to_device(T)
        self.theta, self.state, self.stats = cuda.to_device(theta), cuda.to_device(state), cuda.to_device(stats)
        self.grad = cuda.to_device(np.zeros_like(theta))
        self.params, self.grads = _layer_views(self.theta, layout), _layer_views(self.grad, layout)
        dtype, units = theta.dtype, int(layout[-1, UNIT_OFF] + layout[-1, FAN_OUT])
        widths = [int(m) for m in layout[:, FAN_OUT]]
        self.A_in = cuda.device_array((chunk, X.shape[1]), dtype)
        self.Z, self.A, self.D = ([cuda.device_array((chunk, m), dtype) for m in widths] for _ in range(3))
        self.Xh = [cuda.device_array((chunk if g >= 0 else 0, m), dtype) for m, g in zip(widths, layout[:, GAMMA_OFF])]
        self.zero_b = [cuda.to_device(np.zeros(m, dtype)) for m in widths]  # a batch-norm layer's affine pass
        self.bn = cuda.device_array((3, units), np.float64)
        self.online = tuple(cuda.device_array((1, units), dtype) for _ in range(3))
        self.out = cuda.device_array(2, np.float64)
        self._views = {}  # rows -> the scratch views of a chunk of that many rows (the full chunk, the last one)

    def upload(self, theta, state, stats):
        """The host's parameters onto the device (after a callback, which may have changed them)."""
        self.theta.copy_to_device(theta)
        self.state.copy_to_device(state)
        self.stats.copy_to_device(stats)

    def download(self, theta, state, stats):
        """The device's parameters into the host's arrays (in place)."""
        self.theta.copy_to_host(theta)
        self.state.copy_to_host(state)
        self.stats.copy_to_host(stats)

    def epoch(self, order, batch_size, lr, mom, rule, t0, loss_code, fused, key, errors):
        """One epoch (arguments as fastnn.trainer.Trainer.epoch); returns (summed loss, updates).
        errors (n,) or empty: each presented example's loss, written back to the host array.

        Unlike the CPU loop, a mini-batch epoch whose loss overflows runs to its end (stopping
        would need the loss on the host after every batch); the caller restores the weights all
        the same, and ``errors`` may hold losses of examples the CPU would not have reached.
        """
        d_order, d_errors = cuda.to_device(order), cuda.to_device(errors)
        d_hp, d_scale = cuda.to_device(rule.hp), cuda.to_device(rule.layer_scale)
        code, weight_decay = int(rule.code), float(rule.weight_decay)
        if batch_size == 1:
            lazy = has_lazy_rows(rule, 1, mom)  # the CPU's choice, the CPU's factors
            factors = idle_factors(code, rule.hp, mom[0] if mom.size else 0.0, order.size if lazy else 0,
                                   self.theta.dtype)
            last = np.full(int(self.layout[0, FAN_IN]) if lazy else 0, t0, np.int64)
            train_online_kernel[1, launch.ONLINE_THREADS](
                self.theta, self.grad, self.state, self.d_layout, self.d_act_params, *self.X, self.T, d_order,
                cuda.to_device(lr), cuda.to_device(mom), code, d_hp, weight_decay, d_scale, t0, loss_code,
                fused, key, d_errors, lazy, cuda.to_device(last), cuda.to_device(factors), *self.online, self.out)
            total, steps = self.out.copy_to_host()
        else:
            total, steps = self._batches(d_order, batch_size, lr, mom, code, d_hp, weight_decay, rule.layer_scale,
                                         d_scale, t0, loss_code, fused, key, d_errors)
        if errors.size:
            d_errors.copy_to_host(errors)
        return total, int(steps)

    def _batches(self, order, batch_size, lr, mom, rule, hp, weight_decay, layer_scale, d_scale, t0, loss_code, fused,
                 key, errors):
        """Mini-batch or full-batch epoch: kernels launched back to back, the loss summed on the device.
        layer_scale on the host (the scales of fused SGD), d_scale its device copy (the update kernel)."""
        n, L = order.size, self.layout.shape[0]
        merge_single = self.stats.size > 0  # batch norm: a last single example joins the batch before
        total = cuda.to_device(np.zeros(1))
        step, start = 0, 0
        while start < n:
            end = batch_end(start, n, batch_size, merge_single)
            B = end - start
            scales = [-lr[step] / B * layer_scale[l] if fused else 1.0 / B for l in range(L)]
            for c0 in range(start, end, self.chunk):
                self._chunk(order[c0 : min(c0 + self.chunk, end)], fused, scales, loss_code, key, errors, total)
            if not fused:
                apply_update_kernel[launch.blocks(self.theta.size), launch.THREADS](
                    rule, hp, self.theta, self.grad, self.state, self.d_layout, d_scale, weight_decay, lr[step],
                    mom[step], t0 + step + 1)
            start = end
            step += 1
        return total.copy_to_host()[0], step

    def _chunk_views(self, c):
        """(inputs, Z, A, D, x_hat per layer) for a chunk of c rows; made once per size."""
        if c not in self._views:
            self._views[c] = (self.A_in[:c], *([buf[:c] for buf in bufs] for bufs in (self.Z, self.A, self.D, self.Xh)))
        return self._views[c]

    def _chunk(self, rows, fused, scales, loss_code, key, errors, total):
        """Forward and backward pass of X[rows]: the gradient buffer (theta itself when fused)
        += scales[l] * the gradient of layer l."""
        c, L = rows.size, self.layout.shape[0]
        grads = self.params if fused else self.grads
        A_in, Z, A, D, Xh = self._chunk_views(c)
        gather_kernel[launch.blocks(c * A_in.shape[1]), launch.THREADS](self.X, rows, A_in)
        for l in range(L):
            self._forward_layer(l, A_in if l == 0 else A[l - 1], Z[l], A[l], Xh[l], rows, key)
        output_delta_kernel[launch.blocks(c), launch.THREADS](Z[-1], A[-1], self.T, rows, loss_code,
                                                              int(self.layout[L - 1, ACT]), D[-1], errors, total)
        if loss_code == MSE:
            self._activation_backward(L - 1, D, Z, A, grads, scales, rows, key)
        for l in range(L - 1, -1, -1):
            W, _, _, gamma = self.params[l]
            dW, db, _, dgamma = grads[l]
            fan_in, m = int(self.layout[l, FAN_IN]), int(self.layout[l, FAN_OUT])
            if self.layout[l, GAMMA_OFF] >= 0:  # D[l] becomes dL/d(x W); dbeta (in db) and dgamma
                batch_norm_backward_kernel[launch.blocks(m), launch.THREADS](
                    D[l], Xh[l], gamma, self.bn, int(self.layout[l, UNIT_OFF]), dgamma, db, scales[l])
            else:
                add_bias_grad_kernel[launch.column_slabs(c, m)](D[l], db, scales[l])
            if l > 0:  # the error sent down, through W before it moves
                backprop_input_kernel[launch.tiles(c, fan_in)](D[l], W, D[l - 1])
                self._activation_backward(l - 1, D, Z, A, grads, scales, rows, key)
            add_weight_grad_kernel[launch.tiles(fan_in, m, c)](A_in if l == 0 else A[l - 1], D[l], dW, scales[l])

    def _forward_layer(self, l, A_prev, Z, A, Xh, rows, key):
        row, params = self.layout[l], self.act_params[l]
        W, b, alpha, gamma = self.params[l]
        c, m = Z.shape
        norm = row[GAMMA_OFF] >= 0
        affine_forward_kernel[launch.tiles(c, m)](A_prev, W, self.zero_b[l] if norm else b, Z)
        if norm:  # b holds beta, added after the normalisation
            u0 = int(row[UNIT_OFF])
            batch_norm_forward_kernel[launch.blocks(m), launch.THREADS](Z, Xh, gamma, b, params[BN_EPS], self.bn, u0)
            update_moving_averages_kernel[launch.blocks(m), launch.THREADS](
                self.stats, int(row[STAT_OFF]), self.bn, u0, m, params[BN_MOMENTUM], c)
        activate_kernel[launch.blocks(c * m), launch.THREADS](Z, A, int(row[ACT]), params[P1], params[P2], alpha, True,
                                                              key, l, rows)

    def _activation_backward(self, l, D, Z, A, grads, scales, rows, key):
        c, m = Z[l].shape
        params = self.act_params[l]
        activation_backward_kernel[launch.blocks(c * m), launch.THREADS](
            D[l], Z[l], A[l], int(self.layout[l, ACT]), params[P1], params[P2], self.params[l][2], grads[l][2], scales[l],
            True, key, l, rows)
