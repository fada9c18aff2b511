"""The one parser of wrist-IMU text lines, shared by the UDP, serial and CSV-file sources.

Accepted per line (full description with examples in docs/foundation.md):

- JSON objects (or a JSON array of them): flat keys (`t`, `ax`..`gz`, `mx`..`mz`, `acc_x`, `accelX`...),
  3-vectors (`"accel": [x, y, z]`, `"gyro": {"x":..,"y":..,"z":..}`), HyperIMU's JSON
  (`"Timestamp": ms, "<chip> Accelerometer": [...]`), optional `"units": {"accel": "g", ...}` or
  `accel_unit` / `gyro_unit` / `time_unit` keys.
- CSV (comma, semicolon, tab or space separated):
  * with a header line naming the columns (`t,ax,ay,az,gx,gy,gz`, `timestamp,accX(g),...`,
    `ax_mg`, `gx_dps`...), which may be sent at any time and replaces the previous one;
  * "Sensor Stream IMU+GPS" style tagged groups `t, 3, ax, ay, az, 4, gx, gy, gz[, 5, mx, my, mz]`
    (ids 3 accelerometer m/s^2, 4 gyroscope rad/s, 5 magnetometer uT; other ids skipped; t in s);
  * bare numbers by count: 3 a | 4 t,a | 6 a,g | 7 t,a,g | 9 a,g,m | >=10 t,a,g,m,... (HyperIMU CSV);
  * tagged single-sensor lines `t ACC x y z` / `GYR` / `MAG` (Sensor Fusion app), gyro and mag held
    and attached to the following accelerometer samples.
- Arduino Serial-Plotter pairs: `ax:0.01 ay:-0.02 az:0.99 gx:1.5 ...` (`:` or `=`).

Units: declared in the options win, then units named by the line (header suffixes, JSON unit keys,
the app format's fixed units), then detection over the first `detect_samples` samples: accelerometer by
median magnitude at the start (g ~1, m/s^2 ~9.8, milli-g ~1000); gyroscope deg/s if any value exceeds
35 (beyond a 2000 deg/s sensor's range in rad/s) or the accelerometer came in g/milli-g (the Arduino IMU
libraries' convention), else rad/s; device time by the median step between samples (closest to 10 ms).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import numpy as np

log = logging.getLogger("cuekit.sources.imu")

G = 9.80665
ACCEL_UNITS = {"g": G, "mg": G / 1000.0, "m/s^2": 1.0}
GYRO_UNITS = {"deg/s": math.pi / 180.0, "rad/s": 1.0, "mdeg/s": math.pi / 180e3}
TIME_UNITS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
_UNIT_ALIASES = {
    "g": "g",
    "gs": "g",
    "mg": "mg",
    "millig": "mg",
    "m/s^2": "m/s^2",
    "m/s2": "m/s^2",
    "ms2": "m/s^2",
    "ms^2": "m/s^2",
    "mps2": "m/s^2",
    "m/s/s": "m/s^2",
    "msec2": "m/s^2",
    "deg/s": "deg/s",
    "dps": "deg/s",
    "degs": "deg/s",
    "deg": "deg/s",
    "°/s": "deg/s",
    "mdps": "mdeg/s",
    "rad/s": "rad/s",
    "rads": "rad/s",
    "rps": "rad/s",
    "rad": "rad/s",
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "ms": "ms",
    "msec": "ms",
    "millis": "ms",
    "us": "us",
    "micros": "us",
    "µs": "us",
    "ns": "ns",
    "nanos": "ns",
}


class MalformedImuLine(ValueError):
    """A line that is not a readable IMU sample; sources count it and skip it."""


@dataclass(slots=True)
class ImuFormatOptions:
    accel_unit: str = "auto"  # "g" | "mg" | "m/s^2" | "auto"
    gyro_unit: str = "auto"  # "deg/s" | "rad/s" | "auto"
    time_unit: str = "auto"  # "s" | "ms" | "us" | "ns" | "auto" (of the device's timestamp column)
    columns: tuple[str, ...] | None = None  # declare the CSV columns instead of a header line
    detect_samples: int = 8  # samples looked at before auto-detected units are decided


@dataclass(slots=True)
class ImuSample:
    """One normalised sample: device time in ns (None if the line had none), SI units."""

    t_dev_ns: int | None
    accel: np.ndarray  # (3,) m/s^2
    gyro: np.ndarray | None  # (3,) rad/s
    mag: np.ndarray | None  # (3,) uT


@dataclass(slots=True)
class _Raw:
    t: int | float | Decimal | None = None  # device time exactly as written (epoch ns needs > float64)
    accel: tuple[float, float, float] | None = None
    gyro: tuple[float, float, float] | None = None
    mag: tuple[float, float, float] | None = None
    units: dict[str, str] = field(default_factory=dict)  # what the line itself says


def normalise_unit(text: str, kind: str) -> str:
    """'m/s2' -> 'm/s^2', 'dps' -> 'deg/s'...; raises ValueError naming the unknown unit."""
    key = text.strip().lower().replace(" ", "").replace("**", "^")
    unit = _UNIT_ALIASES.get(key)
    table = {"accel": ACCEL_UNITS, "gyro": GYRO_UNITS, "time": TIME_UNITS}[kind]
    if unit is None or unit not in table:
        raise ValueError(f"unknown {kind} unit {text!r}; use one of {', '.join(table)}")
    return unit


# column / key names ---------------------------------------------------------------------------------
_TIME_NAMES = {
    "t",
    "ts",
    "time",
    "timestamp",
    "stamp",
    "millis",
    "micros",
    "tms",
    "tns",
    "tus",
    "timems",
    "timens",
    "timeus",
    "times",
    "loggingtime",
    "seconds",
    "elapsed",
    "timesec",
}
_PREFIX = {
    "accel": (
        "a",
        "acc",
        "accel",
        "accelerometer",
        "acceleration",
        "accelerometeracceleration",
        "xl",
        "imuacc",
    ),
    "gyro": ("g", "gyr", "gyro", "gyroscope", "w", "omega", "rot", "rotationrate", "gyrorotation", "imugyro"),
    "mag": ("m", "mag", "magn", "magnetometer", "magneticfield", "magnetometermagneticfield"),
}
_UNIT_IN_NAME = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]")
_SENSOR_STREAM_IDS = {3: "accel", 4: "gyro", 5: "mag"}
_TAGS = {"acc": "accel", "accel": "accel", "gyr": "gyro", "gyro": "gyro", "mag": "mag"}


def _alnum(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def classify_name(name: str) -> tuple[str, int, str | None] | None:
    """Column/key name -> (field, axis, unit-or-None); field is time/accel/gyro/mag, axis 0..2 (-1 time).

    'accX(g)' -> ('accel', 0, 'g'); 'gx_dps' -> ('gyro', 0, 'deg/s'); 't_ms' -> ('time', -1, 'ms')."""
    unit = None
    m = _UNIT_IN_NAME.search(name)
    if m:
        unit = m.group(1)
        name = _UNIT_IN_NAME.sub("", name)
    base = name.strip()
    # a trailing _unit suffix (ax_g, gx_dps, t_ms)
    if "_" in base:
        head, tail = base.rsplit("_", 1)
        if tail.lower() in _UNIT_ALIASES and _alnum(head):
            unit, base = unit or tail, head
    key = _alnum(base)
    if key in _TIME_NAMES:
        if unit is None and key in ("millis", "tms", "timems"):
            unit = "ms"
        elif unit is None and key in ("micros", "tus", "timeus"):
            unit = "us"
        elif unit is None and key in ("tns", "timens"):
            unit = "ns"
        return ("time", -1, _maybe_unit(unit, "time"))
    if key and key[-1] in "xyz":
        stem = key[:-1]
        for fld, prefixes in _PREFIX.items():
            if stem in prefixes:
                return (fld, "xyz".index(key[-1]), _maybe_unit(unit, fld))
    return None


def _maybe_unit(unit: str | None, kind: str) -> str | None:
    if unit is None or kind == "mag":  # magnetometer values pass unconverted, whatever unit a name gives
        return None
    try:
        return normalise_unit(unit, kind)
    except ValueError:
        return None


def _vector_field(key: str) -> str | None:
    """JSON key holding a whole 3-vector -> field ('accel', 'gyro', 'mag') or None."""
    k = _alnum(key)
    if any(w in k for w in ("linear", "uncalib", "gravity", "user", "orientation", "rotationvector")):
        return None
    if k in ("a", "acc", "accel", "accelerometer", "acceleration") or "accelerometer" in k:
        return "accel"
    if k in ("g", "gyr", "gyro", "gyroscope", "w", "omega", "rotationrate") or "gyro" in k:
        return "gyro"
    if k in ("m", "mag", "magnetometer", "magneticfield") or "magnet" in k:
        return "mag"
    return None


def _num(tok: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise MalformedImuLine(f"not a number: {tok!r}") from None
    if not math.isfinite(v):
        raise MalformedImuLine(f"not a finite number: {tok!r}")
    return v


def _is_num(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


_MAX_SENSOR_VALUE = 1e7  # beyond any accelerometer/gyro/magnetometer reading in any unit we accept

_SPLIT = re.compile(r"[,;\t ]+")


class ImuLineParser:
    """Stateful parser of one stream: remembers its header, tagged-sensor values and decided units.

    `feed(line)` -> normalised samples ready now (none while auto-detected units are still being
    decided); raises `MalformedImuLine` for a line that cannot be read. `flush()` at end of stream."""

    def __init__(self, options: ImuFormatOptions | None = None) -> None:
        self.options = options or ImuFormatOptions()
        o = self.options
        self._declared = {
            "accel": None if o.accel_unit == "auto" else normalise_unit(o.accel_unit, "accel"),
            "gyro": None if o.gyro_unit == "auto" else normalise_unit(o.gyro_unit, "gyro"),
            "time": None if o.time_unit == "auto" else normalise_unit(o.time_unit, "time"),
        }
        self._columns: list[tuple[str, int, str | None] | None] | None = None
        if o.columns:
            self._columns = self._header_columns(list(o.columns))
        self._decided: dict[str, str] = {}
        self._pending: list[_Raw] = []
        self._held: dict[str, tuple[float, float, float]] = {}
        self.format: str | None = None  # the last format recognised, for the stats and logs

    # public ---------------------------------------------------------------------------------------
    def feed(self, line: str | bytes) -> list[ImuSample]:
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedImuLine(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        line = line.strip().strip("\x00")
        if not line:
            return []
        raws = self._parse(line)
        out: list[ImuSample] = []
        for raw in raws:
            out.extend(self._accept(raw))
        return out

    def flush(self) -> list[ImuSample]:
        """Decide units on what was seen and return the samples held back for detection."""
        if not self._pending:
            return []
        self._decide()
        pending, self._pending = self._pending, []
        return [self._normalise(r) for r in pending]

    @property
    def units(self) -> dict[str, str]:
        """Units in use (declared, named by the input or detected) once decided."""
        return dict(self._decided)

    # parsing --------------------------------------------------------------------------------------
    def _parse(self, line: str) -> list[_Raw]:
        if line[0] in "{[":
            return self._parse_json(line)
        if ":" in line or "=" in line:
            return [self._parse_pairs(line)]
        toks = [t for t in _SPLIT.split(line) if t]
        if not toks:
            return []
        if not any(_is_num(t) for t in toks):
            self._set_header(toks)
            return []
        if self._columns is not None:
            return [self._parse_columns(toks)]
        if len(toks) >= 2 and not _is_num(toks[1]) and toks[1].lower() in _TAGS:
            return self._parse_tagged(toks)
        ss = self._parse_sensor_stream(toks)
        if ss is not None:
            return [ss]
        return [self._parse_bare(toks)]

    def _set_header(self, toks: list[str]) -> None:
        cols = self._header_columns(toks)
        if not any(c is not None and c[0] == "accel" for c in cols):
            raise MalformedImuLine(f"header names no accelerometer columns: {' '.join(toks)!r}")
        # a header must be one a device could send: each column once, all three axes of a vector. A
        # stray line like `t,ax,ax,ax,ax` would otherwise replace the real header and make every good
        # line after it malformed
        seen = [(c[0], c[1]) for c in cols if c is not None]
        dup = sorted({f"{f}[{a}]" for f, a in seen if seen.count((f, a)) > 1})
        if dup:
            raise MalformedImuLine(f"header names a column twice ({', '.join(dup)}): {' '.join(toks)!r}")
        for fld in {f for f, _ in seen if f != "time"}:
            if {a for f, a in seen if f == fld} != {0, 1, 2}:
                raise MalformedImuLine(f"header lacks {fld} axes (x, y, z each once): {' '.join(toks)!r}")
        self._columns = cols
        self.format = "csv-header"

    @staticmethod
    def _header_columns(names: list[str]) -> list[tuple[str, int, str | None] | None]:
        return [classify_name(n) for n in names]

    def _parse_columns(self, toks: list[str]) -> _Raw:
        assert self._columns is not None
        if len(toks) < len(self._columns):
            raise MalformedImuLine(f"{len(toks)} values for {len(self._columns)} header columns")
        vals: dict[str, list[float | None]] = {"accel": [None] * 3, "gyro": [None] * 3, "mag": [None] * 3}
        raw = _Raw()
        for col, tok in zip(self._columns, toks):
            if col is None:
                continue
            fld, axis, unit = col
            if fld == "time":
                raw.t = _time_tok(tok)
            else:
                vals[fld][axis] = _num(tok)
            if unit:
                raw.units[fld] = unit
        for fld, v3 in vals.items():
            if all(x is not None for x in v3):
                setattr(raw, fld, tuple(v3))
        if raw.accel is None:
            raise MalformedImuLine("line has no complete accelerometer x,y,z")
        return raw

    def _parse_sensor_stream(self, toks: list[str]) -> _Raw | None:
        # t, id, x, y, z, id, x, y, z ... with integer ids; the accelerometer (3) must be present
        if len(toks) < 5 or (len(toks) - 1) % 4 != 0:
            return None
        ids = toks[1::4]
        if not all(re.fullmatch(r"\d{1,2}", i) for i in ids) or "3" not in ids:
            return None
        raw = _Raw(t=_time_tok(toks[0]), units={"accel": "m/s^2", "gyro": "rad/s", "time": "s"})
        for k in range(1, len(toks), 4):
            fld = _SENSOR_STREAM_IDS.get(int(toks[k]))
            if fld is not None:
                setattr(raw, fld, (_num(toks[k + 1]), _num(toks[k + 2]), _num(toks[k + 3])))
        self.format = "sensorstream-csv"
        return raw

    def _parse_tagged(self, toks: list[str]) -> list[_Raw]:
        if len(toks) < 5:
            raise MalformedImuLine(f"tagged line needs 't TAG x y z', got {len(toks)} fields")
        fld = _TAGS[toks[1].lower()]
        vec = (_num(toks[2]), _num(toks[3]), _num(toks[4]))
        self.format = "tagged"
        if fld != "accel":
            self._held[fld] = vec  # attached to the following accelerometer samples
            return []
        return [_Raw(t=_time_tok(toks[0]), accel=vec, units={"time": "ms"} if "." not in toks[0] else {})]

    def _parse_bare(self, toks: list[str]) -> _Raw:
        v = [_num(t) for t in toks]
        n = len(v)
        t0 = _time_tok(toks[0]) if n in (4, 7) or n >= 10 else None
        self.format = "csv"
        if n == 3:
            return _Raw(accel=tuple(v))
        if n == 4:
            return _Raw(t=t0, accel=tuple(v[1:4]))
        if n == 6:
            return _Raw(accel=tuple(v[0:3]), gyro=tuple(v[3:6]))
        if n == 7:
            return _Raw(t=t0, accel=tuple(v[1:4]), gyro=tuple(v[4:7]))
        if n == 9:
            return _Raw(accel=tuple(v[0:3]), gyro=tuple(v[3:6]), mag=tuple(v[6:9]))
        if n >= 10:
            return _Raw(t=t0, accel=tuple(v[1:4]), gyro=tuple(v[4:7]), mag=tuple(v[7:10]))
        raise MalformedImuLine(f"{n} numbers without a header; expected 3, 4, 6, 7, 9 or >= 10")

    def _parse_pairs(self, line: str) -> _Raw:
        pairs = re.findall(r"([A-Za-z_][\w\.\(\)\[\]/^]*)\s*[:=]\s*([-+0-9.eE]+|nan|inf)", line)
        if not pairs:
            raise MalformedImuLine("no name:value pairs")
        d: dict[str, Any] = {}
        for k, v in pairs:
            cls = classify_name(k)
            d[k] = _time_tok(v) if cls is not None and cls[0] == "time" else _num(v)
        return self._from_mapping(d, "pairs")

    def _parse_json(self, line: str) -> list[_Raw]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedImuLine(f"invalid JSON at column {exc.colno}: {exc.msg}") from None
        items = obj if isinstance(obj, list) else [obj]
        out = []
        for it in items:
            if not isinstance(it, dict):
                raise MalformedImuLine(f"JSON sample must be an object, got {type(it).__name__}")
            out.append(self._from_mapping(it, "json"))
        return out

    def _from_mapping(self, d: dict[str, Any], fmt: str) -> _Raw:
        raw = _Raw()
        axes: dict[str, list[float | None]] = {"accel": [None] * 3, "gyro": [None] * 3, "mag": [None] * 3}
        units = d.get("units")
        if isinstance(units, dict):
            for k, u in units.items():
                kind = {"accel": "accel", "acc": "accel", "gyro": "gyro", "time": "time", "t": "time"}.get(k)
                if kind and isinstance(u, str):
                    raw.units[kind] = _unit_or_malformed(u, kind)
        for kind in ("accel", "gyro", "time"):
            u = d.get(f"{kind}_unit")
            if isinstance(u, str):
                raw.units[kind] = _unit_or_malformed(u, kind)
        for key, val in d.items():
            if key in ("units", "accel_unit", "gyro_unit", "time_unit"):
                continue
            if isinstance(val, (list, dict)):
                fld = _vector_field(key)
                if fld is None:
                    continue
                vec = _vec3(val, key)
                setattr(raw, fld, vec)
                continue
            if isinstance(val, bool) or not isinstance(val, (int, float, Decimal)):
                continue
            cls = classify_name(key)
            if cls is None:
                continue
            fld, axis, unit = cls
            if not math.isfinite(float(val)):
                raise MalformedImuLine(f"{key} is not finite")
            if fld == "time":
                raw.t = val  # int or Decimal stay exact
                if "hyperimu" in json.dumps(d.get("op", "")).lower() and unit is None:
                    unit = "ms"
            else:
                axes[fld][axis] = float(val)
            if unit and fld not in raw.units:
                raw.units[fld] = unit
        for fld, v3 in axes.items():
            if getattr(raw, fld) is None and all(x is not None for x in v3):
                setattr(raw, fld, tuple(v3))
        if raw.accel is None:
            raise MalformedImuLine(f"{fmt} sample has no accelerometer x,y,z")
        self.format = fmt
        return raw

    # units ----------------------------------------------------------------------------------------
    def _accept(self, raw: _Raw) -> list[ImuSample]:
        for fld in ("accel", "gyro", "mag"):
            v = getattr(raw, fld)
            if v is not None and max(abs(x) for x in v) > _MAX_SENSOR_VALUE:
                raise MalformedImuLine(f"{fld} value out of range: {v}")
        for fld in ("gyro", "mag"):
            if getattr(raw, fld) is None and fld in self._held:
                setattr(raw, fld, self._held[fld])
        for kind, unit in raw.units.items():
            if kind in ("accel", "gyro", "time") and self._declared.get(kind) is None:
                if kind not in self._decided:
                    self._decided[kind] = unit
        if self._all_decided(raw):
            return [self._normalise(raw)]
        self._pending.append(raw)
        if len(self._pending) < max(1, self.options.detect_samples):
            return []
        return self.flush()

    def _all_decided(self, raw: _Raw) -> bool:
        for kind in ("accel", "gyro", "time"):
            if self._declared[kind] is None and kind not in self._decided:
                if kind == "gyro" and raw.gyro is None and not self._pending:
                    continue
                if kind == "time" and raw.t is None and not self._pending:
                    continue
                return False
        return not self._pending

    def _decide(self) -> None:
        pend = self._pending
        if self._declared["accel"] is None and "accel" not in self._decided:
            mags = [math.sqrt(sum(x * x for x in r.accel)) for r in pend if r.accel is not None]
            m = float(np.median(mags)) if mags else G
            self._decided["accel"] = detect_accel_unit(m)
            log.info("IMU accelerometer unit detected as %s (median |a| %.3g at start)", self._decided["accel"], m)
        if self._declared["gyro"] is None and "gyro" not in self._decided:
            gmax = max((abs(x) for r in pend if r.gyro is not None for x in r.gyro), default=0.0)
            accel_unit = self._declared["accel"] or self._decided["accel"]
            unit = detect_gyro_unit(gmax, accel_unit)
            if any(r.gyro is not None for r in pend):
                self._decided["gyro"] = unit
                log.info("IMU gyroscope unit detected as %s (max |w| %.3g at start)", unit, gmax)
        if self._declared["time"] is None and "time" not in self._decided:
            ts = [r.t for r in pend if r.t is not None]
            if ts:
                self._decided["time"] = _detect_time_unit(ts)
                log.info("IMU device time unit detected as %s", self._decided["time"])

    def _unit(self, kind: str) -> str:
        u = self._declared[kind] or self._decided.get(kind)
        if u is None:
            # a field first seen after detection ended: follow the convention of the rest of the stream
            if kind == "gyro":
                u = "deg/s" if self._unit("accel") in ("g", "mg") else "rad/s"
            else:
                u = {"accel": "m/s^2", "time": "ms"}[kind]
            self._decided[kind] = u
        return u

    def _normalise(self, raw: _Raw) -> ImuSample:
        a = np.asarray(raw.accel, dtype=np.float64) * ACCEL_UNITS[self._unit("accel")]
        g = None if raw.gyro is None else np.asarray(raw.gyro, dtype=np.float64) * GYRO_UNITS[self._unit("gyro")]
        m = None if raw.mag is None else np.asarray(raw.mag, dtype=np.float64)
        t = None if raw.t is None else _to_ns(raw.t, self._unit("time"))
        return ImuSample(t_dev_ns=t, accel=a, gyro=g, mag=m)


def detect_accel_unit(median_norm: float) -> str:
    """The accelerometer unit from the median |a| of a stretch (gravity dominates it): 1 g reads ~1, 9.81
    or 1000. The project's one unit detector: the line parser and the wrist conditioner both use it."""
    return "g" if median_norm < 4.0 else ("m/s^2" if median_norm < 60.0 else "mg")


def detect_gyro_unit(max_abs: float, accel_unit: str | None = None) -> str:
    """deg/s once any |w| exceeds 35 (a wrist rarely turns faster than ~20 rad/s, and deg/s readings pass
    35 whenever it moves at all), or when the accelerometer came in g or milli-g (the Arduino IMU
    libraries' convention); rad/s otherwise (a resting gyro is ~0 either way)."""
    return "deg/s" if max_abs > 35.0 or accel_unit in ("g", "mg") else "rad/s"


def _unit_or_malformed(u: str, kind: str) -> str:
    try:
        return normalise_unit(u, kind)
    except ValueError as exc:
        raise MalformedImuLine(str(exc)) from None


def _vec3(val: Any, key: str) -> tuple[float, float, float]:
    if isinstance(val, dict):
        try:
            v = [val[a] if a in val else val[a.upper()] for a in "xyz"]
        except KeyError:
            raise MalformedImuLine(f"{key} needs x, y, z") from None
    else:
        v = list(val)
    if len(v) < 3:
        raise MalformedImuLine(f"{key} has {len(v)} values, needs 3")
    out = []
    for x in v[:3]:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise MalformedImuLine(f"{key} holds a non-number {x!r}")
        out.append(float(x))
    return (out[0], out[1], out[2])


def _time_tok(tok: str) -> Decimal:
    """A device time token, exactly (float64 cannot hold epoch nanoseconds)."""
    try:
        d = Decimal(tok)
    except InvalidOperation:
        raise MalformedImuLine(f"not a time: {tok!r}") from None
    if not d.is_finite():
        raise MalformedImuLine(f"not a finite time: {tok!r}")
    if d and d.adjusted() > 19:  # epoch nanoseconds are ~1.7e18; 1e308799 would take seconds to scale
        raise MalformedImuLine(f"time out of range: {tok[:40]!r}")
    return d


_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _to_ns(t: int | float | Decimal, unit: str) -> int:
    scale = _NS_PER[unit]
    if isinstance(t, int):
        return t * scale
    if isinstance(t, Decimal):
        return int((t * scale).to_integral_value(rounding=ROUND_HALF_EVEN))
    return round(t * scale)


def _detect_time_unit(ts: list) -> str:
    steps = [float(b - a) for a, b in zip(ts, ts[1:]) if b > a]
    if steps:
        step = float(np.median(steps))
        # the unit that puts the sample period closest to 10 ms (IMUs stream at 10..1000 Hz)
        return min(TIME_UNITS, key=lambda u: abs(math.log10(max(step * TIME_UNITS[u], 1.0)) - 7.0))
    t = abs(ts[0])
    if t > 1e17:
        return "ns"
    if t > 1e14:
        return "us"
    if t > 1e11:
        return "ms"
    return "s" if t != int(t) else "ms"
