"""Text specifications for the command line: layers, learning rates, preprocessing.

    layers      "128:lecun_tanh,10:softmax"; per layer units:activation[:init][:bn]
    lr          "0.01", or name:arguments, e.g. "search_then_converge:0.1,2000",
                "one_cycle:0.01,0.1,5000", "performance:0.1,0.5,3", "adaptive:0.05"
    preprocess  "standardize", "pca:0.9", "pca:50:whiten", comma-separated in order

Each parser raises ValueError with the part it could not read.
"""
from . import initializers, preprocessing, schedules
from .layers import Dense

LR_SCHEDULES = {
    "constant": schedules.Constant,
    "stochastic_approximation": schedules.StochasticApproximation,
    "search_then_converge": schedules.SearchThenConverge,
    "power": schedules.Power,
    "exponential": schedules.Exponential,
    "one_cycle": schedules.OneCycle,
    "performance": schedules.Performance,
    "adaptive": schedules.Adaptive,
}


def _number(text, what):
    """A float, or an int when the text is a whole number written without a point (2000, 1e3)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    return int(value) if value.is_integer() and "." not in text else value


def layers(spec):
    """Dense layers from "units:activation[:init][:bn],..."."""
    out = []
    for i, part in enumerate(p.strip() for p in spec.split(",")):
        fields = part.split(":")
        if not fields[0].isdigit() or len(fields) > 4:
            raise ValueError(f"layer {i + 1} {part!r}: expected units:activation[:init][:bn], e.g. 128:relu:he_normal:bn")
        batch_norm = fields[-1] == "bn"
        if batch_norm:
            fields = fields[:-1]
        if len(fields) < 2:
            raise ValueError(f"layer {i + 1} {part!r}: name its activation, e.g. {fields[0]}:tanh or {fields[0]}:softmax")
        activation = fields[1]
        init = fields[2] if len(fields) > 2 else None
        if init is not None and init not in initializers.INITIALIZERS:
            raise ValueError(f"layer {i + 1} {part!r}: unknown initialiser {init!r}; one of {sorted(initializers.INITIALIZERS)}")
        out.append(Dense(int(fields[0]), activation=activation, init=init, batch_norm=batch_norm))
    return out


def learning_rate(spec):
    """A number, or a schedule / rule "name:arg,arg" (positional arguments of its class)."""
    name, _, args = spec.partition(":")
    if not args:
        return _number(spec, "lr")
    if name not in LR_SCHEDULES:
        raise ValueError(f"lr {spec!r}: unknown schedule {name!r}; one of {sorted(LR_SCHEDULES)}")
    values = [_number(a, f"lr {spec!r}") for a in args.split(",")]
    if name == "one_cycle" and len(values) == 2:  # eta0, total_steps
        return schedules.OneCycle(values[0], total_steps=values[1])
    try:
        return LR_SCHEDULES[name](*values)
    except TypeError as e:
        raise ValueError(f"lr {spec!r}: {e}") from None


def preprocess(spec):
    """Preprocessing steps from "standardize,pca:0.9:whiten"; "none": no step."""
    if spec.strip() == "none":
        return []
    steps = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        fields = part.split(":")
        if fields[0] in ("standardize", "zscore") and len(fields) == 1:
            steps.append(preprocessing.Standardizer())
        elif fields[0] == "pca" and len(fields) in (2, 3) and fields[2:] in ([], ["whiten"]):
            steps.append(preprocessing.PCA(_number(fields[1], f"preprocess {part!r}"), whiten=len(fields) == 3))
        else:
            raise ValueError(f"preprocess {part!r}: expected standardize, pca:N or pca:FRACTION, with :whiten, "
                             f"or none")
    return steps
