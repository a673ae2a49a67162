"""An Open Inference Protocol (KServe v2) client: numpy in, numpy out (lists without numpy)."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._http import Resource, Transport, seg
from .errors import InvalidInput

try:
    import numpy as np  # type: ignore[import-not-found]
except ImportError:  # numpy is optional: plain lists work
    np = None  # type: ignore[assignment]

#: OIP datatype -> numpy dtype name.
DATATYPE_TO_NUMPY: Dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
#: numpy dtype name -> OIP datatype.
NUMPY_TO_DATATYPE: Dict[str, str] = {v: k for k, v in DATATYPE_TO_NUMPY.items() if k != "BYTES"}

Tensor = Any  # a numpy.ndarray, or nested lists


def _shape_of(value: Any) -> List[int]:
    shape: List[int] = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value: Any) -> List[Any]:
    if not isinstance(value, (list, tuple)):
        return [value]
    out: List[Any] = []
    for v in value:
        out.extend(_flatten(v))
    return out


def _reshape(flat: Sequence[Any], shape: Sequence[int]) -> Any:
    if len(shape) <= 1:
        return list(flat)
    size = 1
    for dim in shape[1:]:
        size *= dim
    return [_reshape(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def _guess_datatype(flat: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return "FP32"
    return "BYTES"


def encode_tensor(name: str, value: Tensor, datatype: Optional[str] = None) -> Dict[str, Any]:
    """One OIP input tensor from a numpy array or nested lists. ``datatype`` (from the model's
    metadata) wins: a float64 array sent to an FP32 input is cast, as the model needs."""
    if np is not None and isinstance(value, np.ndarray):
        array = value
        if datatype is None:
            if array.dtype.kind in ("U", "S", "O"):
                datatype = "BYTES"
            elif array.dtype.name in NUMPY_TO_DATATYPE:
                datatype = NUMPY_TO_DATATYPE[array.dtype.name]
            else:
                raise InvalidInput(f"input '{name}' has dtype {array.dtype}, which the Open Inference Protocol has no datatype for; cast it, e.g. .astype('float32')")
        if datatype == "BYTES":
            data = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1).tolist()]
        else:
            data = array.astype(DATATYPE_TO_NUMPY[datatype], copy=False).reshape(-1).tolist()
        return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}
    shape = _shape_of(value)
    flat = _flatten(value)
    datatype = datatype or _guess_datatype(flat)
    if datatype == "BYTES":
        flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    elif datatype == "BOOL":
        flat = [bool(v) for v in flat]
    elif datatype.startswith(("INT", "UINT")):
        flat = [int(v) for v in flat]
    elif datatype.startswith("FP"):
        flat = [float(v) for v in flat]
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def decode_tensor(tensor: Mapping[str, Any], as_numpy: Optional[bool] = None) -> Tensor:
    """One OIP output tensor as a numpy array of its shape (nested lists without numpy)."""
    shape = [int(d) for d in tensor.get("shape", [])]
    data = tensor.get("data", [])
    if isinstance(data, list) and data and isinstance(data[0], list):
        data = _flatten(data)
    datatype = str(tensor.get("datatype", "FP32"))
    use_numpy = np is not None if as_numpy is None else as_numpy
    if use_numpy:
        if np is None:
            raise InvalidInput("as_numpy=True needs numpy; install it (`pip install numpy`, Debian: python3-numpy)")
        dtype = DATATYPE_TO_NUMPY.get(datatype, "object")
        # JSON has no NaN: the server writes null for it.
        values = [float("nan") if v is None and dtype.startswith("float") else v for v in data]
        return np.array(values, dtype=dtype).reshape(shape)
    return _reshape(data, shape) if shape else data


class Predictor:
    """Predictions from one model (a version, or the environment's routing) over OIP v2::

        predictor = paved.predictor("churn")            # production: /v2/models/churn
        out = predictor.predict(np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32))
        out["scores"]                                    # numpy.ndarray
    """

    def __init__(self, http: Transport, model: str, *, version: Optional[Union[str, int]] = None, environment: Optional[str] = None) -> None:
        self._http = http
        self.model = model
        self.version = None if version is None else str(version)
        self.environment = environment
        self._metadata: Optional[Resource] = None

    @property
    def path(self) -> str:
        """The model's OIP path: /v2/models/<m>[/versions/<v>], under /environments/<env> outside production."""
        prefix = "" if self.environment in (None, "production") else f"/environments/{seg(self.environment)}"
        version = "" if self.version is None else f"/versions/{seg(self.version)}"
        return f"{prefix}/v2/models/{seg(self.model)}{version}"

    def metadata(self) -> Resource:
        """The model's inputs and outputs (name, datatype, shape; -1 a dynamic dimension)."""
        if self._metadata is None:
            self._metadata = self._http.get(self.path)
        return self._metadata

    def ready(self) -> bool:
        try:
            return bool(self._http.get(f"{self.path}/ready").get("ready", True))
        except Exception:
            return False

    def predict(
        self,
        inputs: Union[Tensor, Mapping[str, Tensor]],
        *,
        outputs: Optional[Sequence[str]] = None,
        parameters: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
        as_numpy: Optional[bool] = None,
        raw: bool = False,
    ) -> Dict[str, Tensor]:
        """Runs the model. ``inputs``: {input name: array}, or one array for a one-input model.
        Answers {output name: array} (numpy arrays when numpy is importable, else nested lists);
        ``raw=True`` answers the whole OIP response (model_version, id, outputs)."""
        declared = {t["name"]: t for t in self.metadata().get("inputs", [])}
        if not isinstance(inputs, Mapping):
            if len(declared) != 1:
                raise InvalidInput(f"model '{self.model}' takes {len(declared)} inputs ({', '.join(declared)}); pass a dict {{input name: array}}")
            inputs = {next(iter(declared)): inputs}
        tensors = []
        for name, value in inputs.items():
            datatype = declared[name]["datatype"] if name in declared else None
            tensors.append(encode_tensor(name, value, datatype))
        body: Dict[str, Any] = {"inputs": tensors}
        if outputs:
            body["outputs"] = [{"name": n} for n in outputs]
        if parameters:
            body["parameters"] = dict(parameters)
        if request_id:
            body["id"] = request_id
        answer = self._http.post(f"{self.path}/infer", body)
        if raw:
            return answer  # type: ignore[no-any-return]
        return {t["name"]: decode_tensor(t, as_numpy) for t in answer.get("outputs", [])}

