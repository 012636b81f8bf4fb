"""Small 3-vector / 3x3 helpers, written out so that edge/calibration/linalg.ts can
repeat them operation for operation (docs/calibration.md: both sides are held to the
same golden vectors to ~1e-9, which a library eigen-solver on one side would break)."""

from __future__ import annotations

import math

import numpy as np

Vec = np.ndarray  # (3,)
Mat = np.ndarray  # (3,3)


def normalize(v: Vec) -> Vec:
    n = math.sqrt(float(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]))
    return np.array([v[0] / n, v[1] / n, v[2] / n])


def cross(a: Vec, b: Vec) -> Vec:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def dot(a: Vec, b: Vec) -> float:
    return float(a[0] * b[0] + a[1] * b[1] + a[2] * b[2])


def jacobi_eigen_sym3(S: Mat, sweeps: int = 50) -> tuple[Vec, Mat]:
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric 3x3 matrix.

    Cyclic Jacobi: each rotation zeroes one off-diagonal element (p, q) in the
    order (0,1), (0,2), (1,2); stops when the off-diagonal sum of squares is
    below 1e-30 of the squared trace norm, or after `sweeps` sweeps. The
    rotation is the classic stable form (t = sgn(theta) / (|theta| + sqrt(theta^2 + 1))).
    """
    a = [[float(S[i][j]) for j in range(3)] for i in range(3)]
    v = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    scale = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2] + 2.0 * (a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2])
    for _ in range(sweeps):
        off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2]
        if off <= 1e-30 * scale:
            break
        for p, q in ((0, 1), (0, 2), (1, 2)):
            if a[p][q] == 0.0:
                continue
            theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q])
            t = (1.0 if theta >= 0.0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
            c = 1.0 / math.sqrt(t * t + 1.0)
            s = t * c
            for k in range(3):  # A <- A J (columns p, q)
                akp, akq = a[k][p], a[k][q]
                a[k][p] = c * akp - s * akq
                a[k][q] = s * akp + c * akq
            for k in range(3):  # A <- J^T A (rows p, q)
                apk, aqk = a[p][k], a[q][k]
                a[p][k] = c * apk - s * aqk
                a[q][k] = s * apk + c * aqk
            for k in range(3):  # V <- V J
                vkp, vkq = v[k][p], v[k][q]
                v[k][p] = c * vkp - s * vkq
                v[k][q] = s * vkp + c * vkq
    order = sorted(range(3), key=lambda i: -a[i][i])
    values = np.array([a[i][i] for i in order])
    vectors = np.array([[v[k][i] for i in order] for k in range(3)])
    return values, vectors


def rotation_angle_deg(A: Mat, B: Mat) -> float:
    """Angle (deg) of the rotation R = A B^T: how far apart two rotations are.

    atan2(|vee(R - R^T)| / 2, (trace R - 1) / 2), not acos of the trace alone,
    which loses half the digits near 0 deg (where re-strap checks live)."""
    R = [[sum(float(A[i][k] * B[j][k]) for k in range(3)) for j in range(3)] for i in range(3)]
    sx, sy, sz = R[2][1] - R[1][2], R[0][2] - R[2][0], R[1][0] - R[0][1]
    s = 0.5 * math.sqrt(sx * sx + sy * sy + sz * sz)
    c = 0.5 * (R[0][0] + R[1][1] + R[2][2] - 1.0)
    return math.degrees(math.atan2(s, c))


def axis_angle_deg(a: Vec, b: Vec) -> float:
    """Angle (deg) between two unit vectors."""
    return math.degrees(math.acos(max(-1.0, min(1.0, dot(a, b)))))


def quat_from_matrix(C: Mat) -> tuple[float, float, float, float]:
    """(w, x, y, z), w >= 0, of a proper rotation matrix (Shepperd's branch on the largest term)."""
    m00, m11, m22 = float(C[0][0]), float(C[1][1]), float(C[2][2])
    tr = m00 + m11 + m22
    if tr >= m00 and tr >= m11 and tr >= m22:
        r = math.sqrt(1.0 + tr)
        w, x, y, z = 0.5 * r, (C[2][1] - C[1][2]) / (2 * r), (C[0][2] - C[2][0]) / (2 * r), (C[1][0] - C[0][1]) / (2 * r)
    elif m00 >= m11 and m00 >= m22:
        r = math.sqrt(1.0 + m00 - m11 - m22)
        w, x, y, z = (C[2][1] - C[1][2]) / (2 * r), 0.5 * r, (C[0][1] + C[1][0]) / (2 * r), (C[0][2] + C[2][0]) / (2 * r)
    elif m11 >= m22:
        r = math.sqrt(1.0 + m11 - m00 - m22)
        w, x, y, z = (C[0][2] - C[2][0]) / (2 * r), (C[0][1] + C[1][0]) / (2 * r), 0.5 * r, (C[1][2] + C[2][1]) / (2 * r)
    else:
        r = math.sqrt(1.0 + m22 - m00 - m11)
        w, x, y, z = (C[1][0] - C[0][1]) / (2 * r), (C[0][2] + C[2][0]) / (2 * r), (C[1][2] + C[2][1]) / (2 * r), 0.5 * r
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    return float(w), float(x), float(y), float(z)


def rodrigues(w: Vec, dt: float) -> Mat:
    """exp([w dt]x): the rotation a gyro reading w (rad/s) makes in dt seconds."""
    kx, ky, kz = w[0] * dt, w[1] * dt, w[2] * dt
    th2 = kx * kx + ky * ky + kz * kz
    if th2 < 1e-24:
        s, c = 1.0, 0.5
    else:
        th = math.sqrt(th2)
        s, c = math.sin(th) / th, (1.0 - math.cos(th)) / th2
    K = [[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]]
    K2 = [[sum(K[i][m] * K[m][j] for m in range(3)) for j in range(3)] for i in range(3)]
    return np.array([[(1.0 if i == j else 0.0) + s * K[i][j] + c * K2[i][j] for j in range(3)] for i in range(3)])
