"""Model objectives: linear, logistic and softmax regression and an MLP, trained on a dataset.

A trial's parameters θ (one row of the (K, D) batch) hold the network's layers in order, each
as W_ℓ (n_in × n_out, row-major) then b_ℓ (n_out); a layer computes ``h W_ℓ + b_ℓ``, hidden
layers then apply tanh or relu. The output and the loss over rows i = 1 … n:

===================  ==========  =====================================================
objective            n_out       loss
===================  ==========  =====================================================
linear_regression    1           mean (ŷᵢ − yᵢ)²
logistic_regression  1 (logit)   mean [max(zᵢ, 0) − yᵢ·zᵢ + log(1 + e^(−|zᵢ|))]  (binary
                                 cross-entropy of the logit)
softmax_regression   C           mean [log Σ_c e^(z_ic) − z_(i,yᵢ)]  (cross-entropy)
mlp                  C or 1      as softmax_regression for classes, linear_regression for a
                                 real target
===================  ==========  =====================================================

plus ½·l2·Σ_ℓ ‖W_ℓ‖² (weights only, not biases). Gradients are exact, by back-propagation:
∂loss/∂z is (softmax(z) − onehot(y))/n, (σ(z) − y)/n or 2(ŷ − y)/n; a layer passes back
``δ W_ℓᵀ`` times the activation's derivative (1 − h² for tanh, [z > 0] for relu) and takes
``hᵀ δ`` and ``Σᵢ δᵢ`` as its gradients.

**Batched over trials.** The K trials' weights are views of the (K, D) batch, so a layer is one
batched matrix product for the whole chunk. Trials that see the same rows (the same seed) share
X, so the first layer is a single GEMM of X against all K weight matrices side by side, and so
is its weight gradient.

**Mini-batches** (:class:`ModelBinding`): ``batch_size`` B takes the training rows B at a time;
each epoch is a permutation of them drawn from ``numpy.random.default_rng([seed, 1])`` (epoch
after epoch from the one generator), update t uses the next B rows and a short last batch is
dropped. Trials with the same seed see the same batches whatever their hyperparameters. Without
``batch_size`` every update takes the whole training set, in order (full-batch gradient
descent). The curve's loss is the full training-set loss at the recorded steps (so are
``min_loss`` and ``mean_loss``: over the recorded steps); divergence is checked on each step's
batch loss too. With ``validation``, the curve also records ``val_loss`` and, for classes,
``val_accuracy``.

Without ``init`` a trial's weights start Glorot-uniform, U(±√(6/(n_in + n_out))), drawn layer
by layer from ``numpy.random.default_rng([seed, 0])``, and its biases at 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal, Protocol, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .datasets import (
    BUILTIN_NAMES,
    BUILTIN_SHAPES,
    Dataset,
    DatasetError,
    DatasetInfo,
    Task,
    builtin,
    held_out,
    split,
)
from .objective_base import Binding, Evaluate, FloatArray, Objective

Output = Literal["mse", "binary", "softmax"]
#: Elements of the largest intermediate (trials × rows × width) a forward pass makes at once:
#: a full-set evaluation is cut into blocks of ``ROW_BLOCK`` rows and as many trials as keep
#: it under this (32 MiB per array).
BLOCK_ELEMENTS = 1 << 22
ROW_BLOCK = 512
#: What a multiply-add of a matrix product counts for in ``work``, against an element-wise
#: operation of the analytic objectives. Measured on the 2-core VM for a digits MLP 64-32-10
#: at batch 64: a trial costs about 0.04 s of a K = 100 chunk, about what its rule's update
#: alone (trials × dim × steps, 1.2·10⁶ element operations) costs at the analytic rate; its
#: 2.3·10⁸ multiply-adds run in BLAS about 256 times faster per operation. (At 1/8 a chunk of
#: this sweep held one trial and ran 9 times slower than batched.)
GEMM_WEIGHT = 1 / 256


class DatasetSource(Protocol):
    """Where uploaded (``{"id"}``) and local (``{"path"}``) datasets come from: the service's
    store or the CLI's files. Passed as the spec's validation context ``"datasets"``."""

    def info(self, ref: UploadedDataset | LocalDataset) -> DatasetInfo:
        """The dataset's shape and task; raises ``DatasetError`` naming what is wrong."""

    def load(self, ref: UploadedDataset | LocalDataset) -> Dataset:
        """The dataset itself."""


class UploadedDataset(BaseModel):
    """A dataset uploaded with ``POST /v1/datasets``, by its id."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    id: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$",
                    description="the id POST /v1/datasets answered (a sha256)")


class LocalDataset(BaseModel):
    """A CSV or NPZ file on this machine: ``gradsweep run`` only (the service refuses paths)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    path: str = Field(min_length=1, max_length=4096, description="a .csv or .npz file")
    target: str | None = Field(None, max_length=200, description="the CSV's target column")
    task: Task | None = Field(None, description="classification or regression (default: "
                              "classification when the target holds integers only)")


def _dataset_kind(value: Any) -> str:
    """The branch of ``DatasetRef`` for input data or a model instance (when serialising)."""
    if isinstance(value, str):
        return "builtin"
    if isinstance(value, LocalDataset) or (isinstance(value, dict) and "path" in value):
        return "path"
    return "id"


DatasetRef = Annotated[
    Annotated[Literal[BUILTIN_NAMES], Tag("builtin")]  # type: ignore[valid-type]
    | Annotated[UploadedDataset, Tag("id")] | Annotated[LocalDataset, Tag("path")],
    Discriminator(_dataset_kind),
]


class Model(Objective):
    """Base of the model objectives: a network over a dataset (the module docstring has the
    math). ``dim`` is derived from the dataset and the layers; it need not be given."""

    dataset: DatasetRef = Field(description=f"a built-in dataset ({', '.join(BUILTIN_NAMES)}), "
                                "{\"id\": …} of an upload, or {\"path\", \"target\"} for "
                                "gradsweep run")
    batch_size: int | None = Field(None, ge=1, le=2**31 - 1, description="rows per update; "
                                   "absent, the whole training set (full-batch descent)")
    validation: float = Field(0.0, ge=0.0, lt=1.0, description="the share of rows held out "
                              "for val_loss / val_accuracy (0: none)")
    l2: float = Field(0.0, ge=0.0, description="adds ½·l2·‖W‖² over the weight matrices")

    formula: ClassVar[str] = ""
    work_text: ClassVar[str] = ("the model's work (trials × steps × its multiply-adds / 256, "
                                "plus trials × dim × steps)")
    start_pattern: ClassVar[tuple[float, ...]] = (0.0,)
    tasks: ClassVar[tuple[Task, ...]] = ("classification", "regression")
    _info: DatasetInfo = PrivateAttr()
    _source: DatasetSource | None = PrivateAttr(None)
    _parts: tuple[Dataset, Dataset | None] | None = PrivateAttr(None)
    _network: Network | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _derive_dim(cls, value: Any, info: Any) -> Any:
        """``dim`` follows from the dataset and the layers: filled in, or refused if it
        differs. The dataset must suit the model and the split must leave rows to train on."""
        if not isinstance(value, dict) or "dataset" not in value:
            return value
        shape = _dataset_info(value["dataset"], (info.context or {}).get("datasets"))
        if shape is None:
            return value  # the field's own validation names what is wrong with it
        if shape.task not in cls.tasks:
            raise _error(f"{cls.model_fields['name'].default} needs a "
                         f"{' or '.join(cls.tasks)} dataset; this one is {shape.task}")
        if cls.model_fields["name"].default == "logistic_regression" and shape.classes != 2:
            raise _error(f"logistic_regression is binary: the dataset has {shape.classes} "
                         "classes (use softmax_regression or mlp)")
        layers = cls._widths(value, shape)
        dim = sum(a * b + b for a, b in itertools.pairwise(layers))
        given = value.get("dim")
        if given is not None and given != dim:
            raise _error(f"dim is derived from the dataset and the layers: {dim}, not "
                         f"{given}; leave it out")
        validation = value.get("validation", 0.0)
        if isinstance(validation, (int, float)) and 0 <= validation < 1:
            train = shape.rows - held_out(shape.rows, validation)
            if train < 1:
                raise _error(f"validation = {validation} leaves no training rows")
            batch = value.get("batch_size")
            if isinstance(batch, int) and batch > train:
                raise _error(f"batch_size = {batch} is over the {train} training rows")
        return {**value, "dim": dim}

    def model_post_init(self, context: Any, /) -> None:
        """The dataset's shape, and where it comes from when it is not built in."""
        source = (context or {}).get("datasets") if isinstance(context, dict) else None
        self._source = source
        shape = _dataset_info(self.dataset, source)
        if shape is None:
            raise ValueError("the dataset needs a source")  # unreachable after validation
        self._info = shape

    @classmethod
    def _widths(cls, value: dict[str, Any], shape: DatasetInfo) -> list[int]:
        """Layer widths from input to output."""
        return [shape.features, cls._outputs(shape)]

    @staticmethod
    def _outputs(shape: DatasetInfo) -> int:
        return shape.classes if shape.task == "classification" else 1

    # -- the network ------------------------------------------------------------------------

    @property
    def widths(self) -> list[int]:
        """Layer widths from input to output."""
        return self._widths(self.model_dump(), self._info)

    @property
    def output(self) -> Output:
        """The loss of the output layer."""
        return "softmax" if self._info.task == "classification" else "mse"

    @property
    def activation_name(self) -> str:
        """The hidden layers' activation."""
        return "tanh"

    @property
    def network(self) -> Network:
        """The layers, activation and loss, laid out over θ (made once)."""
        if self._network is None:
            self._network = Network(self.widths, self.activation_name, self.output, self.l2)
        return self._network

    @property
    def data(self) -> tuple[Dataset, Dataset | None]:
        """``(train, validation)``, loaded and split once."""
        if self._parts is None:
            ref = self.dataset
            whole = builtin(ref) if isinstance(ref, str) else self.source.load(ref)
            self._parts = split(whole, self.validation)
        return self._parts

    @property
    def source(self) -> DatasetSource:
        """Where this objective's uploaded or local dataset comes from."""
        if self._source is None:
            raise DatasetError("this spec names an uploaded or local dataset but was parsed "
                               "without a dataset source")
        return self._source

    @property
    def train_rows(self) -> int:
        """Rows the model trains on."""
        return self._info.rows - held_out(self._info.rows, self.validation)

    @property
    def batch(self) -> int:
        """Rows per update."""
        return self.batch_size or self.train_rows

    def metrics(self) -> tuple[str, ...]:
        """The metrics a sweep of this objective can rank by."""
        names = ["final_loss", "min_loss", "mean_loss"]
        if self.validation:
            names += ["final_val_loss", "min_val_loss"]
            if self._info.task == "classification":
                names += ["final_val_accuracy", "max_val_accuracy"]
        return tuple(names)

    def curves(self) -> tuple[str, ...]:
        """The values a curve records beside ``loss``."""
        if not self.validation:
            return ()
        return ("val_loss", "val_accuracy") if self._info.task == "classification" else (
            "val_loss",)

    def work(self, trials: int, steps: int, recorded: int) -> float:
        """Element-operation equivalents: trials × (steps × a step's multiply-adds (forward and
        back, about 3·B·D) + recorded × a full-set forward pass) × ``GEMM_WEIGHT``."""
        rows = self._info.rows
        per_trial = steps * 3 * self.batch * self.dim + recorded * rows * self.dim
        return trials * per_trial * GEMM_WEIGHT + trials * steps * self.dim

    def start(self, seed: int = 0) -> FloatArray:
        """Glorot-uniform weights from ``default_rng([seed, 0])``, zero biases."""
        return self.network.glorot(seed)

    def minimum(self) -> float | None:
        return None

    def _value(self, x: FloatArray) -> FloatArray:
        train, _ = self.data
        return self.network.loss(x, train.X, train.y)

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        train, _ = self.data
        return self.network.loss_and_grad(x, train.X, train.y)

    def bind(self, seeds: Sequence[int], recorded: Sequence[int]) -> Binding:
        return ModelBinding(self, seeds, recorded)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({"dataset": "iris" if "classification" in cls.tasks and
                                   cls.model_fields["name"].default != "logistic_regression"
                                   else "breast_cancer" if cls.tasks == ("classification",)
                                   else "diabetes"})


def _dataset_info(ref: Any, source: DatasetSource | None) -> DatasetInfo | None:
    """The shape of a dataset reference (a built-in name, or what ``source`` says); None when
    the reference is malformed (its field's validation then reports it)."""
    if isinstance(ref, str):
        if ref not in BUILTIN_SHAPES:
            return None
        rows, features, classes, task = BUILTIN_SHAPES[ref]
        return DatasetInfo(rows, features, classes, task)
    if isinstance(ref, BaseModel):
        parsed: UploadedDataset | LocalDataset = ref  # type: ignore[assignment]
    elif isinstance(ref, dict):
        try:
            parsed = (LocalDataset if "path" in ref else UploadedDataset).model_validate(ref)
        except ValueError:
            return None
    else:
        return None
    if source is None:
        kind = "a local file" if isinstance(parsed, LocalDataset) else "an uploaded dataset"
        raise _error(f"dataset: {kind} is not available here")
    try:
        return source.info(parsed)
    except DatasetError as exc:
        raise _error(f"dataset: {exc}") from None


def _error(message: str) -> PydanticCustomError:
    """A validation error with ``message`` as it is (no "Value error, " before it)."""
    return PydanticCustomError("objective", "{message}", {"message": message})


class LinearRegression(Model):
    """Linear regression: ŷ = x·w + b, loss mean (ŷ − y)², on a real target.

    Args:
      dataset: a built-in name, ``{"id": …}`` of an upload, or ``{"path", "target"}``.
      batch_size: rows per update (absent: the whole training set).
      validation: the share of rows held out for the validation curves.
      l2: the weight penalty ½·l2·‖W‖².
      dim: derived from the dataset and the layers.

    Start: Glorot-uniform weights drawn from the trial's seed, zero biases.

    Reference: Hastie, Tibshirani & Friedman, *The Elements of Statistical
    Learning*, 2nd ed., 2009, §3.2.
    """

    name: Literal["linear_regression"] = Field(default="linear_regression",
                                               description="objective identifier")
    formula: ClassVar[str] = "f(θ) = mean (x·w + b − y)² + ½·l2·‖w‖²"
    tasks: ClassVar[tuple[Task, ...]] = ("regression",)


class LogisticRegression(Model):
    """Logistic regression: a binary classifier, mean cross-entropy of the logit z = x·w + b.

    Args:
      dataset: a built-in name, ``{"id": …}`` of an upload, or ``{"path", "target"}``.
      batch_size: rows per update (absent: the whole training set).
      validation: the share of rows held out for the validation curves.
      l2: the weight penalty ½·l2·‖W‖².
      dim: derived from the dataset and the layers.

    Start: Glorot-uniform weights drawn from the trial's seed, zero biases.

    Reference: Hastie, Tibshirani & Friedman, *The Elements of Statistical
    Learning*, 2nd ed., 2009, §4.4.
    """

    name: Literal["logistic_regression"] = Field(default="logistic_regression",
                                                 description="objective identifier")
    formula: ClassVar[str] = ("f(θ) = mean [max(z, 0) − y·z + log(1 + e^(−|z|))], z = x·w + b; "
                              "+ ½·l2·‖w‖²")
    tasks: ClassVar[tuple[Task, ...]] = ("classification",)

    @staticmethod
    def _outputs(shape: DatasetInfo) -> int:
        return 1

    @property
    def output(self) -> Output:
        return "binary"


class SoftmaxRegression(Model):
    """Softmax (multinomial logistic) regression: mean cross-entropy of z = x W + b.

    Args:
      dataset: a built-in name, ``{"id": …}`` of an upload, or ``{"path", "target"}``.
      batch_size: rows per update (absent: the whole training set).
      validation: the share of rows held out for the validation curves.
      l2: the weight penalty ½·l2·‖W‖².
      dim: derived from the dataset and the layers.

    Start: Glorot-uniform weights drawn from the trial's seed, zero biases.

    Reference: Bishop, *Pattern Recognition and Machine Learning*, 2006,
    §4.3.4.
    """

    name: Literal["softmax_regression"] = Field(default="softmax_regression",
                                                description="objective identifier")
    formula: ClassVar[str] = "f(θ) = mean [log Σ_c e^(z_c) − z_y], z = x W + b; + ½·l2·‖W‖²"
    tasks: ClassVar[tuple[Task, ...]] = ("classification",)


class MLP(Model):
    """A multilayer perceptron: hidden layers of tanh or relu units, then softmax regression for
    classes or linear regression for a real target.

    Args:
      dataset: a built-in name, ``{"id": …}`` of an upload, or ``{"path", "target"}``.
      batch_size: rows per update (absent: the whole training set).
      validation: the share of rows held out for the validation curves.
      l2: the weight penalty ½·l2·‖W‖².
      hidden: the hidden layers' widths (default [32]).
      activation: tanh (default) or relu.
      dim: derived from the dataset and the layers.

    Start: Glorot-uniform weights drawn from the trial's seed, zero biases.

    Reference: Glorot & Bengio, *Understanding the difficulty of training deep
    feedforward neural networks*, AISTATS 2010 (the initialisation); Goodfellow, Bengio &
    Courville, *Deep Learning*, 2016, ch. 6.
    """

    name: Literal["mlp"] = Field(default="mlp", description="objective identifier")
    # a tuple (lists are taken too): the objective is frozen and hashable
    hidden: Annotated[tuple[Annotated[int, Field(ge=1, le=65536)], ...], BeforeValidator(
        lambda v: tuple(v) if isinstance(v, list) else v, json_schema_input_type=list[int])] = Field(
        (32,), max_length=16, description="hidden layer widths (default [32])")
    activation: Literal["tanh", "relu"] = Field("tanh", description="the hidden layers' "
                                                "activation")
    formula: ClassVar[str] = ("f(θ) = the loss of softmax or linear regression on h_L, h₀ = x, "
                              "h_ℓ = act(h_(ℓ−1) W_ℓ + b_ℓ); + ½·l2·Σ‖W_ℓ‖²")

    @classmethod
    def _widths(cls, value: dict[str, Any], shape: DatasetInfo) -> list[int]:
        hidden = value.get("hidden", (32,))
        if not isinstance(hidden, (list, tuple)) or not all(
                isinstance(h, int) and h >= 1 for h in hidden):
            hidden = (32,)  # the field's own validation reports a bad list
        return [shape.features, *hidden, cls._outputs(shape)]

    @property
    def activation_name(self) -> str:
        return self.activation


MODELS: tuple[type[Model], ...] = (LinearRegression, LogisticRegression, SoftmaxRegression, MLP)


# -- the batched network ---------------------------------------------------------------------


class Network:
    """Forward and backward passes over K stacked parameter rows at once.

    Args:
      widths: layer widths, input first.
      activation: ``tanh`` or ``relu`` for the hidden layers.
      output: ``softmax``, ``binary`` or ``mse``.
      l2: the weight penalty.
    """

    def __init__(self, widths: Sequence[int], activation: str, output: Output,
                 l2: float) -> None:
        self.widths = list(widths)
        self.activation = activation
        self.output = output
        self.l2 = l2
        self.layers: list[tuple[int, int, int, int]] = []  # (n_in, n_out, W offset, b offset)
        offset = 0
        for n_in, n_out in itertools.pairwise(self.widths):
            self.layers.append((n_in, n_out, offset, offset + n_in * n_out))
            offset += n_in * n_out + n_out
        self.dim = offset

    def weights(self, theta: FloatArray, layer: int) -> FloatArray:
        """W_ℓ of every trial, (K, n_in, n_out): a view of ``theta``."""
        n_in, n_out, w, _ = self.layers[layer]
        return theta[:, w:w + n_in * n_out].reshape(len(theta), n_in, n_out)

    def bias(self, theta: FloatArray, layer: int) -> FloatArray:
        """b_ℓ of every trial, (K, n_out): a view of ``theta``."""
        _, n_out, _, b = self.layers[layer]
        return theta[:, b:b + n_out]

    def glorot(self, seed: int) -> FloatArray:
        """θ₀ for ``seed``: U(±√(6/(n_in + n_out))) weights layer by layer, zero biases."""
        rng = np.random.default_rng([seed, 0])
        theta = np.zeros(self.dim)
        for n_in, n_out, w, _ in self.layers:
            bound = math.sqrt(6.0 / (n_in + n_out))
            theta[w:w + n_in * n_out] = rng.uniform(-bound, bound, n_in * n_out)
        return theta

    # The first layer's product X W_1 for every trial at once, (K, n, n_out): one batched matmul
    # of the shared X against the K weight matrices (NumPy runs a GEMM per trial on views of θ,
    # no copy). Measured on the 2-core VM for a digits MLP at batch 64 and K = 100, this beats
    # the single GEMM of X against the K matrices laid side by side (p, K·n_out), whose two
    # transposing copies cost more than its one BLAS call saves: 1.0 ms against 2.7 ms forward,
    # 0.9 against 5.1 backward.
    def _first(self, theta: FloatArray, x: FloatArray) -> FloatArray:
        z: FloatArray = np.matmul(x, self.weights(theta, 0))
        z += self.bias(theta, 0)[:, None, :]
        return z

    def forward(self, theta: FloatArray, x: FloatArray) -> list[FloatArray]:
        """Every layer's output for rows ``x``: hidden activations, then the output z,
        each (K, n, width)."""
        z = self._first(theta, x)
        outs = []
        for layer in range(1, len(self.layers)):
            h = self._act(z)
            outs.append(h)
            z = np.matmul(h, self.weights(theta, layer))
            z += self.bias(theta, layer)[:, None, :]
        outs.append(z)
        return outs

    def _act(self, z: FloatArray) -> FloatArray:
        if self.activation == "tanh":
            return np.tanh(z, out=z)
        return np.maximum(z, 0.0, out=z)

    def _penalty(self, theta: FloatArray) -> FloatArray | float:
        if not self.l2:
            return 0.0
        total = np.zeros(len(theta))
        for layer in range(len(self.layers)):
            w = self.weights(theta, layer).reshape(len(theta), -1)
            total += np.einsum("ij,ij->i", w, w)
        return 0.5 * self.l2 * total

    def _row_losses(self, z: FloatArray, y: npt.NDArray[Any]) -> FloatArray:
        """Per-row losses (K, n) of outputs z (K, n, n_out)."""
        if self.output == "softmax":  # log Σ e^(z − max) − (z_y − max): as _loss_and_delta
            k, n, c = z.shape
            e = z - z.max(axis=2, keepdims=True)
            picked = e.reshape(k, n * c)[:, np.arange(n) * c + y]
            out: FloatArray = np.log(np.exp(e).sum(axis=2)) - picked
            return out
        z1 = z[:, :, 0]
        if self.output == "binary":
            out = np.maximum(z1, 0.0) - y * z1 + np.log1p(np.exp(-np.abs(z1)))
        else:
            r = z1 - y
            out = r * r
        return out

    def _output_delta(self, z: FloatArray, y: npt.NDArray[Any]) -> FloatArray:
        """∂(mean loss)/∂z, (K, n, n_out)."""
        n = z.shape[1]
        if self.output == "softmax":
            e = np.exp(z - z.max(axis=2, keepdims=True))
            e /= e.sum(axis=2, keepdims=True)
            np.put_along_axis(e, y[None, :, None],
                              np.take_along_axis(e, y[None, :, None], axis=2) - 1.0, axis=2)
            e /= n
            delta: FloatArray = e
            return delta
        z1 = z[:, :, 0]
        if self.output == "binary":
            d = (0.5 * (1.0 + np.tanh(0.5 * z1)) - y) / n  # σ(z) − y, σ(z) = (1 + tanh(z/2))/2
        else:
            d = (2.0 / n) * (z1 - y)
        out: FloatArray = d[:, :, None]
        return out

    def loss(self, theta: FloatArray, x: FloatArray, y: npt.NDArray[Any]) -> FloatArray:
        """Mean loss over the rows (plus the penalty), (K,); in blocks of rows for a big set."""
        return self.loss_and_accuracy(theta, x, y, accuracy=False)[0]

    def loss_and_grad(self, theta: FloatArray, x: FloatArray,
                      y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Mean loss (K,) and its gradient (K, D) over rows ``x``, by back-propagation."""
        k = len(theta)
        outs = self.forward(theta, x)
        f, delta = self._loss_and_delta(outs[-1], y)
        if self.l2:
            f += self._penalty(theta)
        grad = np.empty((k, self.dim))
        for layer in range(len(self.layers) - 1, -1, -1):
            np.sum(delta, axis=1, out=self.bias(grad, layer))
            gw = self.weights(grad, layer)
            if layer == 0:  # Xᵀ δ for every trial: the shared Xᵀ against the K deltas
                np.matmul(x.T, delta, out=gw)
            else:
                h = outs[layer - 1]
                np.matmul(h.transpose(0, 2, 1), delta, out=gw)
                back = np.matmul(delta, self.weights(theta, layer).transpose(0, 2, 1))
                if self.activation == "tanh":
                    h *= h
                    np.subtract(1.0, h, out=h)  # 1 − h² (h is not needed after this)
                    back *= h
                else:
                    back *= h > 0.0
                delta = back
            if self.l2:
                gw += self.l2 * self.weights(theta, layer)
        return f, grad

    def _loss_and_delta(self, z: FloatArray,
                        y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Mean loss (K,) over the rows of outputs z (K, n, n_out) and ∂(mean loss)/∂z, from one
        pass: the softmax's exponentials serve both."""
        k, n, c = z.shape
        if self.output != "softmax":
            return self._row_losses(z, y).mean(axis=1), self._output_delta(z, y)
        at = np.arange(n) * c + y  # each row's target, in a (K, n·c) view
        e = z - z.max(axis=2, keepdims=True)
        picked = e.reshape(k, n * c)[:, at]  # z_y − max
        np.exp(e, out=e)
        total = e.sum(axis=2, keepdims=True)
        loss: FloatArray = (np.log(total[:, :, 0]) - picked).mean(axis=1)
        e /= total
        e.reshape(k, n * c)[:, at] -= 1.0
        e /= n
        return loss, e

    def loss_and_accuracy(self, theta: FloatArray, x: FloatArray, y: npt.NDArray[Any],
                          accuracy: bool = True) -> tuple[FloatArray, FloatArray]:
        """``loss`` and the share of rows classified right (argmax of z, or z > 0 for a binary
        output; zeros unless ``accuracy``), from one forward pass in blocks. The blocks are
        ``ROW_BLOCK`` rows of as many trials as ``BLOCK_ELEMENTS`` allows: a trial's products
        have the same shapes whatever the chunk's K (BLAS may round a product of another shape
        differently), and its row losses are summed as one contiguous row, so its numbers do
        not depend on the trials beside it."""
        k, n = len(theta), len(x)
        per_row = np.empty((k, n))
        right = np.zeros(k)
        trials = max(1, BLOCK_ELEMENTS // (ROW_BLOCK * max(self.widths[1:])))
        for t in range(0, k, trials):
            at = slice(t, t + trials)
            for r in range(0, n, ROW_BLOCK):
                rows = slice(r, r + ROW_BLOCK)
                z = self.forward(theta[at], x[rows])[-1]
                per_row[at, rows] = self._row_losses(z, y[rows])
                if accuracy:
                    guess = z.argmax(axis=2) if self.output == "softmax" else (z[:, :, 0] > 0.0)
                    right[at] += (guess == y[rows]).sum(axis=1)
        loss: FloatArray = per_row.sum(axis=1) / n + self._penalty(theta)
        share: FloatArray = right / n
        return loss, share


class ModelBinding(Binding):
    """A model over a chunk's trials: each trial's batches from its seed, the full-set loss
    and the validation metrics at the recorded steps."""

    curve_stats = True

    def __init__(self, model: Model, seeds: Sequence[int], recorded: Sequence[int]) -> None:
        super().__init__(model)
        self.model = model
        self.net = model.network
        self.train, self.val = model.data
        self.seeds = np.asarray(seeds)
        self.recorded = {step: i for i, step in enumerate(recorded)}
        self.extra = {name: np.full((len(recorded), len(seeds)), np.nan)
                      for name in model.curves()}
        self.batch = model.batch
        self.per_epoch = len(self.train.X) // self.batch
        self._epochs: dict[int, list[npt.NDArray[np.intp]]] = {}
        self._rngs: dict[int, np.random.Generator] = {}

    def batch_rows(self, seed: int, step: int) -> npt.NDArray[np.intp] | None:
        """The training rows update ``step + 1`` of a trial with ``seed`` uses (None: all)."""
        if self.model.batch_size is None:
            return None
        epoch, j = divmod(step, self.per_epoch)
        perms = self._epochs.setdefault(seed, [])
        rng = self._rngs.setdefault(seed, np.random.default_rng([seed, 1]))
        while len(perms) <= epoch:
            perms.append(rng.permutation(len(self.train.X)))
        return perms[epoch][j * self.batch:(j + 1) * self.batch]

    def _groups(self, rows: npt.NDArray[np.intp]) -> list[tuple[int, npt.NDArray[np.intp] | None]]:
        """The rows' seeds: (seed, positions in the batch) per distinct seed; positions None
        when every row has the one seed."""
        seeds = self.seeds[rows]
        if (seeds == seeds[0]).all():
            return [(int(seeds[0]), None)]
        return [(int(s), np.flatnonzero(seeds == s)) for s in np.unique(seeds)]

    def _batch_loss_and_grad(self, theta: FloatArray, rows: npt.NDArray[np.intp],
                             step: int) -> tuple[FloatArray, FloatArray]:
        x, y = self.train.X, self.train.y
        if self.model.batch_size is None:
            return self.net.loss_and_grad(theta, x, y)
        groups = self._groups(rows)
        if len(groups) == 1:
            picked = self.batch_rows(groups[0][0], step)
            return self.net.loss_and_grad(theta, x[picked], y[picked])
        f = np.empty(len(theta))
        g = np.empty_like(theta)
        for seed, at in groups:
            picked = self.batch_rows(seed, step)
            f[at], g[at] = self.net.loss_and_grad(theta[at], x[picked], y[picked])
        return f, g

    def _record(self, theta: FloatArray, rows: npt.NDArray[np.intp], step: int) -> None:
        """The validation values at a recorded step."""
        if self.val is None:
            return
        i = self.recorded[step]
        if "val_accuracy" in self.extra:
            loss, acc = self.net.loss_and_accuracy(theta, self.val.X, self.val.y)
            self.extra["val_accuracy"][i, rows] = acc
        else:
            loss = self.net.loss(theta, self.val.X, self.val.y)
        self.extra["val_loss"][i, rows] = loss

    def evaluator(self, x: FloatArray, rows: npt.NDArray[np.intp], s0: int,
                  at: Callable[[], FloatArray] | None = None) -> Evaluate:
        step = s0
        full = self.model.batch_size is None
        train = self.train

        def evaluate(loss: FloatArray) -> FloatArray:
            nonlocal step
            recorded = step in self.recorded
            if at is None:
                f, g = self._batch_loss_and_grad(x, rows, step)
            else:
                f = self._batch_loss_and_grad(x, rows, step)[0]
                g = self._batch_loss_and_grad(at(), rows, step)[1]
            if recorded:
                if not full:
                    f = self.net.loss(x, train.X, train.y)
                self._record(x, rows, step)
            loss[:, 0] = f
            step += 1
            return g

        return evaluate

    def final(self, x: FloatArray, rows: npt.NDArray[np.intp], step: int) -> FloatArray:
        self._record(x, rows, step)
        return self.net.loss(x, self.train.X, self.train.y)

    def extra_curves(self) -> dict[str, FloatArray]:
        return self.extra


__all__ = ["MLP", "MODELS", "DatasetRef", "DatasetSource", "LinearRegression", "LocalDataset",
           "LogisticRegression", "Model", "ModelBinding", "Network", "SoftmaxRegression",
           "UploadedDataset"]
