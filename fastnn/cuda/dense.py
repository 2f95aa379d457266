"""The affine part of a Dense layer on the GPU (twins of :mod:`fastnn.kernels.dense`).

Every product is one tiled kernel pattern: a block computes a TILE x TILE tile of the result,
staging TILE x TILE tiles of both operands through shared memory, so each operand element is
read from global memory once per tile instead of once per product term.
"""
from numba import cuda

from .launch import TILE, TILE_STRIDE


@cuda.jit(device=True)
def _stage(S, X, x_t, r0, c0, n_r, n_c):
    """S[r, c] = op(X)[r0 + r, c0 + c] (zero outside n_r x n_c) for this thread's (r, c) of the
    tile, op(X) = X.T when x_t. Threads run along X's contiguous axis (coalesced reads); a
    transposed operand is stored transposed (TILE_STRIDE keeps those stores off one bank)."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    if x_t:  # op(X)[r, c] = X[c, r]: thread (tx, ty) reads X[c0 + ty, r0 + tx]
        r, c, sr, sc = r0 + tx, c0 + ty, tx, ty
    else:
        r, c, sr, sc = r0 + ty, c0 + tx, ty, tx
    if r < n_r and c < n_c:
        S[sr, sc] = X[c, r] if x_t else X[r, c]
    else:
        S[sr, sc] = 0


@cuda.jit(device=True)
def _tiled_product(A, a_t, B, b_t, k_begin, n_k):
    """This thread's entry (i, j) of op(A) @ op(B), op(X) = X.T when x_t, summed over
    k_begin <= k < n_k, or zero outside the result. Every thread of the block calls it (the
    tiles are shared)."""
    # The tiles are TILE x TILE_STRIDE (compile-time shapes); blocks are T x T threads, T <= TILE
    # (the simulator tests launch smaller blocks).
    sA = cuda.shared.array((TILE, TILE_STRIDE), dtype=A.dtype)
    sB = cuda.shared.array((TILE, TILE_STRIDE), dtype=B.dtype)
    T = cuda.blockDim.x
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    i0, j0 = cuda.blockIdx.y * T, cuda.blockIdx.x * T
    n_i = A.shape[1] if a_t else A.shape[0]
    n_j = B.shape[0] if b_t else B.shape[1]
    acc = A.dtype.type(0)
    for k0 in range(k_begin, n_k, T):
        _stage(sA, A, a_t, i0, k0, n_i, n_k)
        _stage(sB, B, b_t, k0, j0, n_k, n_j)
        cuda.syncthreads()
        for kk in range(T):
            acc += sA[ty, kk] * sB[kk, tx]
        cuda.syncthreads()
    return acc


@cuda.jit(cache=True)
def gather_kernel(X, rows, A_in):
    """A_in[r] = X[rows[r]]: the chunk's inputs (the data itself is never permuted)."""
    n_in = X.shape[1]
    for e in range(cuda.grid(1), rows.size * n_in, cuda.gridsize(1)):
        r, k = e // n_in, e % n_in
        A_in[r, k] = X[rows[r], k]


@cuda.jit(cache=True)
def affine_forward_kernel(A, W, b, Z):
    """Z = A @ W + b (overwrites Z)."""
    acc = _tiled_product(A, False, W, False, 0, A.shape[1])
    j, i = cuda.grid(2)
    if i < Z.shape[0] and j < Z.shape[1]:
        Z[i, j] = acc + b[j]


@cuda.jit(cache=True)
def backprop_input_kernel(dZ, W, dA):
    """dA = dZ @ W.T (overwrites dA): the error sent back to the layer below."""
    acc = _tiled_product(dZ, False, W, True, 0, dZ.shape[1])
    j, i = cuda.grid(2)
    if i < dA.shape[0] and j < dA.shape[1]:
        dA[i, j] = acc


@cuda.jit(cache=True)
def add_weight_grad_kernel(A, dZ, dW, scale):
    """dW += scale * A.T @ dZ; with dW a view into theta and scale = -lr / batch, the SGD step.
    The chunk's rows are split into gridDim.z slabs (whole tiles), whose sums are added atomically."""
    n, T, slabs = A.shape[0], cuda.blockDim.x, cuda.gridDim.z
    per = (n + slabs - 1) // slabs
    per = (per + T - 1) // T * T
    k0 = cuda.blockIdx.z * per
    acc = _tiled_product(A, True, dZ, False, k0, min(n, k0 + per))
    j, i, _ = cuda.grid(3)
    if i < dW.shape[0] and j < dW.shape[1]:
        if slabs == 1:
            dW[i, j] += dW.dtype.type(scale) * acc
        else:
            cuda.atomic.add(dW, (i, j), dW.dtype.type(scale) * acc)


@cuda.jit(cache=True)
def add_bias_grad_kernel(dZ, db, scale):
    """db += scale * column sums of dZ: a thread per column (coalesced across the row) and slab
    of rows (blockIdx.y of gridDim.y), the slabs' sums added atomically."""
    n, slabs = dZ.shape[0], cuda.gridDim.y
    per = (n + slabs - 1) // slabs
    r0 = cuda.blockIdx.y * per
    for j in range(cuda.grid(1), dZ.shape[1], cuda.blockDim.x * cuda.gridDim.x):
        s = dZ.dtype.type(0)
        for r in range(r0, min(n, r0 + per)):
            s += dZ[r, j]
        cuda.atomic.add(db, j, db.dtype.type(scale) * s)
