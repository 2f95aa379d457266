"""Column indices of the int64 ``layout`` table (one row per Dense layer).

The table is built by :func:`fastnn.layers.build_layout` and read by every kernel.
"""

FAN_IN = 0  # inputs of the layer
FAN_OUT = 1  # units of the layer
W_OFF = 2  # offset of W (fan_in x fan_out, row-major) in theta
B_OFF = 3  # offset of b (fan_out,) in theta
ALPHA_OFF = 4  # offset of the PReLU slopes (fan_out,) in theta, -1 for other activations
ACT = 5  # activation code (fastnn.activations)
UNIT_OFF = 6  # offset of this layer's units in the per-example activation buffer
GAMMA_OFF = 7  # offset of the batch-norm scale gamma (fan_out,) in theta, -1 without batch norm
STAT_OFF = 8  # offset of the moving mean, then variance (2 x fan_out), in the statistics array, -1 without
N_COLS = 9

# Columns of the float64 per-layer parameter table (``act_params``).
P1, P2 = 0, 1  # the activation's parameters
BN_MOMENTUM, BN_EPS = 2, 3  # batch norm: weight of the old moving averages, variance floor
N_PARAMS = 4
