"""The network's parameters as users see them: one dict of arrays per layer, over the flat theta."""
import numpy as np

from . import _checks
from .kernels.layout import ALPHA_OFF, B_OFF, FAN_IN, FAN_OUT, GAMMA_OFF, W_OFF


class WeightAccess:
    """Mixin of Network: get_weights / set_weights and their layout (needs layers, _layout,
    _theta, dtype and _require_built)."""

    _SLOTS = (("W", W_OFF), ("b", B_OFF), ("alpha", ALPHA_OFF), ("gamma", GAMMA_OFF))

    def _unflatten(self, flat):
        """Per layer {"W", "b", "alpha" (PReLU)}, with batch norm {"W", "gamma", "beta", ...}."""
        result = []
        for l in range(len(self.layers)):
            fan_in, fan_out = self._layout[l, FAN_IN], self._layout[l, FAN_OUT]
            norm = self._layout[l, GAMMA_OFF] >= 0
            d = {}
            for name, offset_col in self._SLOTS:
                start = self._layout[l, offset_col]
                if start >= 0:
                    size = fan_in * fan_out if name == "W" else fan_out
                    d["beta" if name == "b" and norm else name] = flat[start : start + size].copy()
            d["W"] = d["W"].reshape(fan_in, fan_out)
            result.append(d)
        return result

    def _weight_mask(self):
        """True where theta holds a weight of a matrix W (what an L2 penalty decays), False on
        biases, PReLU slopes and batch-norm parameters."""
        mask = np.zeros(self._theta.size, dtype=bool)
        for l in range(len(self.layers)):
            start = self._layout[l, W_OFF]
            mask[start : start + self._layout[l, FAN_IN] * self._layout[l, FAN_OUT]] = True
        return mask

    def get_weights(self):
        """One dict per layer: {"W": (fan_in, fan_out), "b": (fan_out,), "alpha": (fan_out,) for PReLU};
        batch-norm layers have "gamma" and "beta" (fan_out,) instead of "b". Copies."""
        self._require_built()
        return self._unflatten(self._theta)

    def set_weights(self, weights):
        """Replace all parameters; ``weights`` has the structure of get_weights(). Checked in full first."""
        self._require_built()
        expected = self._unflatten(self._theta)
        if not isinstance(weights, (list, tuple)) or len(weights) != len(expected):
            raise ValueError(f"weights must be a list of {len(expected)} dicts (one per layer), got {type(weights).__name__}"
                             + (f" of length {len(weights)}" if hasattr(weights, "__len__") else ""))
        flat = self._theta.copy()
        for l, (got, want) in enumerate(zip(weights, expected)):
            if not isinstance(got, dict) or set(got) != set(want):
                raise ValueError(f"weights[{l}] must be a dict with keys {sorted(want)}, got {got!r:.80}")
            for name, ref in want.items():
                value = np.asarray(got[name])
                if value.shape != ref.shape or value.dtype.kind not in "biuf":
                    raise ValueError(f"weights[{l}][{name!r}] must be a numeric array of shape {ref.shape}, got {value.dtype} {value.shape}")
                with np.errstate(over="ignore"):  # values beyond the dtype's range become inf: reported below
                    _checks.finite(value.astype(self.dtype), f"weights[{l}][{name!r}]")
        for l, got in enumerate(weights):
            for name, offset_col in self._SLOTS + (("beta", B_OFF),):
                if name in got:
                    value = np.asarray(got[name]).ravel()
                    start = self._layout[l, offset_col]
                    flat[start : start + value.size] = value
        self._theta[:] = flat
