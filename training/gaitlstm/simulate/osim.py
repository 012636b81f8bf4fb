"""An OpenSim 4 model (`.osim`) read as a kinematic tree, without OpenSim.

Only what forward kinematics needs: bodies, the offset frames hung on them
and on joints, joints (CustomJoint and the fixed-axis joints, each turned
into an equivalent spatial transform) and the coordinate functions that
drive them. Masses, muscles, markers, geometry and constraints are ignored.

Conventions (OpenSim 4 / Simbody, checked against OpenSim 4.6 itself, see
docs/simulator.md):

- PhysicalOffsetFrame `orientation` is a body-fixed X-Y-Z Euler sequence
  (radians), `translation` is in the parent frame.
- A joint moves its child offset frame M relative to its parent offset frame
  F: X_G_child = X_G_parent * X_parent_F * X_FM(q) * inv(X_child_M).
- CustomJoint SpatialTransform: rotation1..3 are applied in order about
  axes that travel with the rotated frame (body-fixed), translations
  1..3 are along axes fixed in F.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from ..io.errors import DataError

GROUND = "ground"

ScalarFunction = Callable[[np.ndarray], np.ndarray]


@dataclass
class TransformAxis:
    """One of a joint's six spatial-transform slots: amount = function(coordinate)."""

    kind: str  # "rotation" | "translation"
    axis: np.ndarray  # (3,) unit vector
    coordinate: str | None  # None: the function is a constant of nothing
    function: ScalarFunction


@dataclass
class Coordinate:
    name: str
    default: float  # radians or metres
    locked: bool
    translational: bool  # metres (else radians)


@dataclass
class Joint:
    name: str
    kind: str  # XML tag, e.g. "CustomJoint"
    parent_body: str
    child_body: str
    X_parent_F: np.ndarray  # (4,4) the parent offset frame in the parent body
    X_child_M: np.ndarray  # (4,4) the child offset frame in the child body
    axes: list[TransformAxis]  # rotations first, in order, then translations
    coordinates: list[str]


@dataclass
class OsimModel:
    source: str
    bodies: list[str]  # without ground
    joints: dict[str, Joint]  # by child body
    coordinates: dict[str, Coordinate]
    frames: dict[str, tuple[str, np.ndarray]]  # offset frame name on a body -> (body, X_body_frame)
    gravity: np.ndarray = field(default_factory=lambda: np.array([0.0, -9.80665, 0.0]))

    def chain(self, body: str) -> list[Joint]:
        """Joints from ground down to `body`, ground side first."""
        if body != GROUND and body not in self.joints:
            raise KeyError(f"{self.source}: no body {body!r} (bodies: {', '.join(self.bodies)})")
        out: list[Joint] = []
        while body != GROUND:
            joint = self.joints[body]
            out.append(joint)
            body = joint.parent_body
            if len(out) > len(self.joints):
                raise DataError(self.source, f"joint loop through body {body!r}")
        return out[::-1]


def transform(R: np.ndarray, p: np.ndarray) -> np.ndarray:
    X = np.eye(4)
    X[:3, :3] = R
    X[:3, 3] = p
    return X


def euler_xyz_body_fixed(angles: np.ndarray) -> np.ndarray:
    return Rotation.from_euler("XYZ", angles).as_matrix()


# --------------------------------------------------------------------------- XML helpers


def _floats(el: ET.Element | None, source: str, what: str, n: int | None = None) -> np.ndarray:
    if el is None or el.text is None:
        raise DataError(source, f"missing <{what}>")
    try:
        values = np.array([float(v) for v in el.text.split()], dtype=float)
    except ValueError:
        raise DataError(source, f"<{what}> is not a list of numbers: {el.text.strip()!r}") from None
    if n is not None and values.size != n:
        raise DataError(source, f"<{what}> must hold {n} numbers, found {values.size}")
    return values


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text is not None else default


def _offset(el: ET.Element, source: str) -> np.ndarray:
    where = f"PhysicalOffsetFrame {el.get('name')!r}"
    t = _floats(el.find("translation"), source, f"{where} translation", 3)
    o = _floats(el.find("orientation"), source, f"{where} orientation", 3)
    return transform(euler_xyz_body_fixed(o), t)


# --------------------------------------------------------------------------- functions


def parse_function(el: ET.Element, source: str) -> ScalarFunction:
    """An OpenSim Function element as a vectorised numpy function of one variable."""
    tag = el.tag
    if tag == "Constant":
        value = float(_text(el, "value", "0"))
        return lambda x: np.full(np.shape(x), value)
    if tag == "LinearFunction":
        a, b = _floats(el.find("coefficients"), source, "LinearFunction coefficients", 2)
        return lambda x: a * np.asarray(x, dtype=float) + b
    if tag == "MultiplierFunction":
        inner = _only_function(el.find("function"), source, "MultiplierFunction")
        scale = float(_text(el, "scale", "1"))
        return lambda x: scale * inner(x)
    if tag in ("SimmSpline", "NaturalCubicSpline", "GCVSpline", "PiecewiseLinearFunction"):
        x = _floats(el.find("x"), source, f"{tag} x")
        y = _floats(el.find("y"), source, f"{tag} y")
        if x.size != y.size or x.size < 2:
            raise DataError(source, f"{tag} {el.get('name')!r}: x and y need the same length >= 2 ({x.size} vs {y.size})")
        if tag == "PiecewiseLinearFunction" or x.size < 4:
            return lambda q: np.interp(q, x, y)
        # SimmSpline's own end conditions differ slightly from not-a-knot; on
        # the knee translation curves the two agree to well under 0.1 mm.
        spline = CubicSpline(x, y, bc_type="natural" if tag == "NaturalCubicSpline" else "not-a-knot")
        return lambda q: spline(q)
    if tag == "PolynomialFunction":
        # OpenSim/SimTK Polynomial: coefficients from the highest power down.
        c = _floats(el.find("coefficients"), source, "PolynomialFunction coefficients")
        return lambda q: np.polyval(c, q)
    raise DataError(source, f"unsupported OpenSim function <{tag}> (name {el.get('name')!r})")


def _only_function(holder: ET.Element | None, source: str, owner: str) -> ScalarFunction:
    if holder is None or len(holder) == 0:
        raise DataError(source, f"{owner} has no function inside")
    return parse_function(holder[0], source)


# --------------------------------------------------------------------------- joints

_UNIT = np.eye(3)


def _linear(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _fixed_axes(kind: str, coords: list[str], source: str, name: str) -> list[TransformAxis]:
    """The spatial transform equivalent to one of OpenSim's fixed-axis joints."""
    # (slot kind, axis index) per coordinate, in the joint's coordinate order.
    layouts: dict[str, list[tuple[str, int]]] = {
        "WeldJoint": [],
        "PinJoint": [("rotation", 2)],
        "SliderJoint": [("translation", 0)],
        "UniversalJoint": [("rotation", 0), ("rotation", 1)],
        "BallJoint": [("rotation", 0), ("rotation", 1), ("rotation", 2)],
        "GimbalJoint": [("rotation", 0), ("rotation", 1), ("rotation", 2)],
        "FreeJoint": [("rotation", 0), ("rotation", 1), ("rotation", 2), ("translation", 0), ("translation", 1), ("translation", 2)],
        "PlanarJoint": [("rotation", 2), ("translation", 0), ("translation", 1)],
    }
    if kind not in layouts:
        raise DataError(source, f"joint {name!r}: unsupported joint type <{kind}>")
    layout = layouts[kind]
    if len(coords) != len(layout):
        raise DataError(source, f"joint {name!r} (<{kind}>) needs {len(layout)} coordinate(s), found {len(coords)}")
    return [TransformAxis(slot, _UNIT[i].copy(), c, _linear) for (slot, i), c in zip(layout, coords)]


def _custom_axes(el: ET.Element, source: str, name: str) -> list[TransformAxis]:
    st = el.find("SpatialTransform")
    if st is None:
        raise DataError(source, f"CustomJoint {name!r} has no <SpatialTransform>")
    out: list[TransformAxis] = []
    for slot in ("rotation1", "rotation2", "rotation3", "translation1", "translation2", "translation3"):
        ta = st.find(f"TransformAxis[@name='{slot}']")
        if ta is None:
            continue
        axis = _floats(ta.find("axis"), source, f"{name}/{slot} axis", 3)
        norm = np.linalg.norm(axis)
        if norm == 0:
            continue
        coords = _text(ta, "coordinates").split()
        if len(coords) > 1:
            raise DataError(source, f"CustomJoint {name!r} {slot}: functions of {len(coords)} coordinates are not supported")
        func_el = next((c for c in ta if c.tag not in ("coordinates", "axis")), None)
        if func_el is None:
            func: ScalarFunction = _linear if coords else (lambda x: np.zeros(np.shape(x)))
        else:
            func = parse_function(func_el, source)
        out.append(TransformAxis(slot[:-1], axis / norm, coords[0] if coords else None, func))
    return out


# --------------------------------------------------------------------------- frames


class _Frames:
    """Every named frame by absolute component path -> (body, X_body_frame)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.raw: dict[str, tuple[str, np.ndarray]] = {}  # path -> (parent socket path, X_parent_frame)
        self.bodies: set[str] = {f"/{GROUND}"}

    def add_offset(self, path: str, parent: str, X: np.ndarray) -> None:
        self.raw[path] = (parent, X)

    def resolve(self, path: str, owner: str) -> tuple[str, np.ndarray]:
        """`path` as written in a socket of the component at `owner` -> (body name, X_body_frame)."""
        absolute = _join(owner, path)
        X = np.eye(4)
        seen = 0
        while absolute not in self.bodies:
            if absolute not in self.raw:
                raise DataError(self.source, f"socket {path!r} of {owner} names no body or frame ({absolute})")
            parent, X_parent = self.raw[absolute]
            X = X_parent @ X
            absolute = _join(absolute, parent)
            seen += 1
            if seen > 64:
                raise DataError(self.source, f"frame loop resolving {path!r} of {owner}")
        return absolute.rsplit("/", 1)[-1], X


def _join(owner: str, path: str) -> str:
    if path.startswith("/"):
        parts: list[str] = []
        rest = path
    else:
        parts = [p for p in owner.split("/") if p]
        rest = path
    for p in rest.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
        else:
            parts.append(p)
    return "/" + "/".join(parts)


# --------------------------------------------------------------------------- the model


def load_osim(path: str | Path) -> OsimModel:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    return parse_osim(text, str(path))


def parse_osim(text: str, source: str = "<osim>") -> OsimModel:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line = e.position[0] if e.position else None
        raise DataError(source, f"not valid XML ({e})", line=line) from None
    version = int(root.get("Version", "0") or 0)
    if version and version < 40000:
        raise DataError(source, f"OpenSim {version} (3.x) model format; open and re-save it in OpenSim 4")
    model = root.find("Model")
    if model is None:
        raise DataError(source, "no <Model> element")

    frames = _Frames(source)
    bodies: list[str] = []
    body_frames: list[tuple[str, str]] = []  # (frame path, frame name) of frames owned by bodies
    for body in model.iterfind("BodySet/objects/Body"):
        name = body.get("name") or ""
        bodies.append(name)
        frames.bodies.add(f"/bodyset/{name}")
        for pof in body.iterfind("components/PhysicalOffsetFrame"):
            fpath = f"/bodyset/{name}/{pof.get('name')}"
            frames.add_offset(fpath, _text(pof, "socket_parent", ".."), _offset(pof, source))
            body_frames.append((fpath, pof.get("name") or ""))
    if not bodies:
        raise DataError(source, "no bodies in <BodySet>")

    coordinates: dict[str, Coordinate] = {}
    pending: list[tuple[ET.Element, str, str]] = []
    for joint in model.iterfind("JointSet/objects/*"):
        name = joint.get("name") or joint.tag
        jpath = f"/jointset/{name}"
        for pof in joint.iterfind("frames/PhysicalOffsetFrame"):
            frames.add_offset(f"{jpath}/{pof.get('name')}", _text(pof, "socket_parent"), _offset(pof, source))
        pending.append((joint, name, jpath))

    joints: dict[str, Joint] = {}
    for joint, name, jpath in pending:
        coord_names: list[str] = []
        for c in joint.iterfind("coordinates/Coordinate"):
            cname = c.get("name") or ""
            coord_names.append(cname)
            default = float(_text(c, "default_value", "0") or 0)
            locked = _text(c, "locked", "false").lower() == "true"
            coordinates[cname] = Coordinate(cname, default, locked, translational=False)
        if joint.tag == "CustomJoint":
            axes = _custom_axes(joint, source, name)
        else:
            axes = _fixed_axes(joint.tag, coord_names, source, name)
        rotational = {a.coordinate for a in axes if a.kind == "rotation" and a.coordinate}
        for a in axes:
            if a.coordinate is None:
                continue
            if a.coordinate not in coordinates:
                raise DataError(source, f"joint {name!r} uses coordinate {a.coordinate!r} that no joint defines")
            if a.kind == "translation" and a.coordinate not in rotational:
                coordinates[a.coordinate].translational = True
        parent_socket = _text(joint, "socket_parent_frame")
        child_socket = _text(joint, "socket_child_frame")
        if not parent_socket or not child_socket:
            raise DataError(source, f"joint {name!r}: missing socket_parent_frame/socket_child_frame (OpenSim 4 format)")
        parent_body, X_pF = frames.resolve(parent_socket, jpath)
        child_body, X_cM = frames.resolve(child_socket, jpath)
        if child_body in joints:
            raise DataError(source, f"body {child_body!r} is the child of two joints ({joints[child_body].name!r}, {name!r})")
        joints[child_body] = Joint(name, joint.tag, parent_body, child_body, X_pF, X_cM, axes, coord_names)

    missing = [b for b in bodies if b not in joints]
    if missing:
        raise DataError(source, f"bodies without a joint to their parent: {missing}")

    named: dict[str, tuple[str, np.ndarray]] = {}
    for fpath, fname in body_frames:
        named[fname] = frames.resolve(fpath, "/")

    gravity_el = model.find("gravity")
    gravity = _floats(gravity_el, source, "gravity", 3) if gravity_el is not None else np.array([0.0, -9.80665, 0.0])
    osim = OsimModel(source, bodies, joints, coordinates, named, gravity)
    for b in bodies:
        osim.chain(b)  # raises on loops
    return osim
