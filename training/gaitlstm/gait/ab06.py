"""AB06 sensor-to-segment rotations: a FIXTURE for tests and evaluation only.

The detector consumes segment-frame rates; turning a strapped-on sensor into
the segment frame is the sensor-to-segment calibration's job (being built
separately). Until it lands, AB06's rotations come from the data, by
`python -m gaitlstm.gait calibrate-ab06`:

- segment z (sagittal axis, OpenSim: z to the right): the unit vector u with
  gyro @ u closest (least squares) to the IK sagittal rate of the foot,
  d/dt(pelvis_tilt + hip_flexion_r + knee_angle_r + ankle_angle_r) (Camargo's
  signs; the planar sum ignores out-of-plane motion, so u varies by about
  0.1 between trials), averaged over the 24 trials. Fitting against the IK
  rate fixes the sign: positive = toes rising. The dominant axis is the
  sensor's -y (|u_y| = 0.93).
- segment y (up): the mean accelerometer direction while the foot is still
  (|gyro| < 0.3 rad/s: foot flat in stance), made orthogonal to z (it is
  within 2 deg of orthogonal already).
- x = y cross z (anterior).

Rows are the segment axes in sensor coordinates: v_segment = R @ v_sensor.
"""

from __future__ import annotations

import numpy as np

# Written by `python -m gaitlstm.gait calibrate-ab06 --data ../../shared/data/camargo_ab06`.
AB06_FOOT_TO_SEGMENT = np.array(
    [
        [0.903930664450864, 0.283172004265256, 0.32050424313231407],
        [-0.39129312978769043, 0.24510361789766405, 0.8870253114057285],
        [0.17262398572149024, -0.9272204875291927, 0.3323599360027514],
    ]
)
