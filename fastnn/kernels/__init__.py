"""Numba-compiled kernels. Private: the public API lives in fastnn.Network.

Every kernel takes the flat parameter vector ``theta`` and the int64 ``layout`` table
(one row per layer, columns named in :mod:`fastnn.kernels.layout`), so one compiled
signature per dtype serves every network shape.
"""
