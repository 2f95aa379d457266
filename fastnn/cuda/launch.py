"""Launch geometry of the CUDA kernels.

The host reads these when it launches a kernel, so the simulator tests can patch them small
(several blocks and the grid-stride tails then run on tiny inputs). The shared-memory tiles are
sized by TILE at compile time; a patched, smaller TILE uses a corner of them.
"""
THREADS = 256  # threads per block of the element-wise kernels
TILE = 16  # side of the dense products' blocks (TILE x TILE threads) and shared-memory tiles
TILE_STRIDE = TILE + 1  # row stride of a tile in shared memory: transposed stores then hit distinct banks
ONLINE_THREADS = 256  # the one block of the persistent online kernel (at most online.MAX_THREADS, CUDA's 1024)
MAX_BLOCKS = 1024  # element-wise grids stride over larger inputs
K_SLAB = 512  # a weight gradient sums the chunk's rows in slabs of this many, a block each (added atomically)
ROW_SLAB = 64  # likewise for a bias gradient's column sums


def blocks(n):
    """Blocks of THREADS threads for n items (grid-stride loops cover the rest)."""
    return max(1, min(MAX_BLOCKS, (n + THREADS - 1) // THREADS))


def tiles(rows, cols, k=0):
    """(grid, block) of a dense product with a (rows, cols) result: a block per TILE x TILE tile,
    and per slab of K_SLAB of the k summed terms when k is given (a large chunk's weight gradient
    would otherwise leave most of the GPU idle)."""
    return ((cols + TILE - 1) // TILE, (rows + TILE - 1) // TILE, max(1, -(-k // K_SLAB))), (TILE, TILE)


def column_slabs(rows, cols):
    """(grid, block) of a column sum: threads over the columns, a block row per slab of ROW_SLAB rows."""
    return (blocks(cols), max(1, -(-rows // ROW_SLAB))), THREADS
