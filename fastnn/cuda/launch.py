"""Launch geometry of the CUDA kernels.

The host reads these when it launches a kernel, so the simulator tests can patch them small
(several blocks and the grid-stride tails then run on tiny inputs). The shared-memory tiles are
sized by TILE at compile time; a patched, smaller TILE uses a corner of them.
"""
THREADS = 256  # threads per block of the element-wise kernels
TILE = 16  # side of the dense products' blocks (TILE x TILE threads) and shared-memory tiles
TILE_STRIDE = TILE + 1  # row stride of a tile in shared memory: transposed stores then hit distinct banks
ONLINE_THREADS = 256  # the one block of the persistent online kernel
MAX_BLOCKS = 1024  # element-wise grids stride over larger inputs


def blocks(n):
    """Blocks of THREADS threads for n items (grid-stride loops cover the rest)."""
    return max(1, min(MAX_BLOCKS, (n + THREADS - 1) // THREADS))


def tiles(rows, cols):
    """(grid, block) of a dense product with a (rows, cols) result: a block per TILE x TILE tile."""
    return ((cols + TILE - 1) // TILE, (rows + TILE - 1) // TILE), (TILE, TILE)
