"""Readers: files on disk -> contract units (docs/contract.md).

Camargo CSV trials, Xsens MT Manager exports and OpenSim .mot/.sto tables.
Every reader raises DataError (file, line, column) for a bad input file and
lists what it repaired in `notes`.
"""

from .camargo import CAMARGO_PLACEMENTS, read_camargo_trial
from .discover import find_camargo_trials
from .errors import DataError
from .opensim import OpenSimTable, knee_flexion_sign, opensim_angles_to_project, read_opensim_table
from .types import G, JOINTS_R, PLACEMENTS, ImuStream, Trial
from .xsens import XsensRecording, read_xsens_trial, read_xsens_txt, xsens_mapping

__all__ = [
    "CAMARGO_PLACEMENTS",
    "G",
    "JOINTS_R",
    "PLACEMENTS",
    "DataError",
    "ImuStream",
    "OpenSimTable",
    "Trial",
    "XsensRecording",
    "find_camargo_trials",
    "knee_flexion_sign",
    "opensim_angles_to_project",
    "read_camargo_trial",
    "read_opensim_table",
    "read_xsens_trial",
    "read_xsens_txt",
    "xsens_mapping",
]
